package scaling

import (
	"math"
	"runtime"
	"sync"
)

// Schedule is a pool that knows the future of this trace's shape: Day clusters in working hours,
// Night the rest of the day, and Burst more for the nightly burst (02:00–02:40), each launched a
// start-up ahead of when it is due and ended as soon as it is idle and not due. No rule that reacts
// to the queue can do better on a trace this regular; it is the reference the elastic pool's
// cluster-hours are weighed against at a given wait.
type Schedule struct{ Day, Night, Burst int }

func (s Schedule) clusters(t float64) int {
	h := math.Mod(t, day) / 3600
	switch {
	case h >= 9 && h < 18:
		return s.Day
	case h >= 2 && h < 2+40.0/60:
		return s.Night + s.Burst
	}
	return s.Night
}

// BestSchedule is the Schedule with the fewest cluster-hours (never more than MaxClusters at once)
// whose mean wait is at most maxWait seconds, with its figures; ok is false when none is.
func BestSchedule(cfg Config, maxWait float64) (best Schedule, pol Policy, ok bool) {
	cfg.defaults()
	jobs := arrivals(cfg)
	type found struct {
		s  Schedule
		p  Policy
		ok bool
	}
	var pairs [][2]int
	for night := 0; night <= cfg.MaxClusters; night++ {
		for burst := 0; night+burst <= cfg.MaxClusters; burst++ {
			pairs = append(pairs, [2]int{night, burst})
		}
	}
	out := make([]found, len(pairs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, nb := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			// More day clusters cost more and wait less: the first that meets the wait is this
			// night's and burst's best.
			for d := 1; d <= cfg.MaxClusters; d++ {
				s := Schedule{Day: d, Night: nb[0], Burst: nb[1]}
				if p := simulate(cfg, jobs, nil, s.clusters, nil); p.MeanWait <= maxWait {
					out[i] = found{s, p, true}
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, f := range out { // in the pairs' order: the same answer on every machine
		if f.ok && (!ok || f.p.ClusterHours < pol.ClusterHours) {
			best, pol, ok = f.s, f.p, true
		}
	}
	return best, pol, ok
}
