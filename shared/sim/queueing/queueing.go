// Package queueing measures how well SparkFlow schedules, on a virtual clock: runs arrive at random
// (Poisson) at a pool of identical clusters, each with a number of slots, and take a random time each
// (exponential, or heavy-tailed). It compares the mean queue wait of SparkFlow's own decisions (one
// FIFO per pool; a run takes a slot as soon as any cluster of the pool has one, the least-loaded
// cluster by core.ChooseCluster, counted by core.FreeSlots) against
//
//   - the floor: Erlang C's mean wait of the M/M/c queue with the pool's slots as servers (for
//     heavy-tailed sizes, the Allen–Cunneen M/G/c approximation, Erlang C × (1 + Cs²)/2);
//   - the seed's policy: each run is sent on arrival to the cluster with the fewest steps (queued and
//     running) as counted 5 minutes earlier, and waits in that cluster's own queue.
//
// No wall clock and no goroutines: a run is an event list, so a figure is the same on every machine.
package queueing

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand"
	"sort"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Sizes is how long jobs take.
type Sizes string

const (
	// Exponential: job times are exponential (coefficient of variation 1): the M/M/c case.
	Exponential Sizes = "exponential"
	// HeavyTailed: job times are lognormal with coefficient of variation 3 (most jobs short, a few
	// very long), with the same mean.
	HeavyTailed Sizes = "heavy-tailed"
)

// Config is one experiment.
type Config struct {
	Clusters, Slots int
	// Load is the offered load ρ = λ / (c μ), between 0 and 1.
	Load float64
	// MeanJob is the mean job time (default 10 minutes); Staleness is how old the seed policy's
	// counts are (default 5 minutes).
	MeanJob, Staleness time.Duration
	Sizes              Sizes
	// Runs is how many arrivals are simulated (the first tenth warms the queue up and is not
	// counted); Seed makes it reproducible.
	Runs int
	Seed int64
}

// Result is an experiment's mean waits, in seconds.
type Result struct {
	Config
	Floor, SparkFlow, Seed float64
}

// Ratio is SparkFlow's mean wait over the floor (1 when both are 0).
func (r Result) Ratio() float64 { return ratio(r.SparkFlow, r.Floor) }

// SeedRatio is the seed policy's mean wait over the floor.
func (r Result) SeedRatio() float64 { return ratio(r.Seed, r.Floor) }

func ratio(a, b float64) float64 {
	if b == 0 {
		if a == 0 {
			return 1
		}
		return math.Inf(1)
	}
	return a / b
}

func (c *Config) defaults() {
	if c.MeanJob == 0 {
		c.MeanJob = 10 * time.Minute
	}
	if c.Staleness == 0 {
		c.Staleness = 5 * time.Minute
	}
	if c.Sizes == "" {
		c.Sizes = Exponential
	}
	if c.Runs == 0 {
		c.Runs = 200000
	}
}

// Run runs one experiment: both policies see the same arrivals and job times.
func Run(cfg Config) (Result, error) {
	cfg.defaults()
	if cfg.Clusters < 1 || cfg.Slots < 1 || cfg.Load <= 0 || cfg.Load >= 1 {
		return Result{}, fmt.Errorf("queueing: need clusters and slots ≥ 1 and a load in (0, 1), got %d×%d at %.2f", cfg.Clusters, cfg.Slots, cfg.Load)
	}
	jobs := arrivals(cfg)
	c := cfg.Clusters * cfg.Slots
	mu := 1 / cfg.MeanJob.Seconds()
	floor := ErlangCWait(c, cfg.Load*float64(c)*mu, mu)
	if cfg.Sizes == HeavyTailed {
		floor *= (1 + heavyCV*heavyCV) / 2
	}
	return Result{Config: cfg, Floor: floor, SparkFlow: sparkflowWait(cfg, jobs), Seed: seedWait(cfg, jobs)}, nil
}

// heavyCV is the coefficient of variation of heavy-tailed job times.
const heavyCV = 3.0

type job struct {
	at, size float64 // seconds
}

func arrivals(cfg Config) []job {
	rng := rand.New(rand.NewSource(cfg.Seed))
	c := float64(cfg.Clusters * cfg.Slots)
	mean := cfg.MeanJob.Seconds()
	lambda := cfg.Load * c / mean
	// Lognormal with mean m and coefficient of variation v: σ² = ln(1 + v²), μ = ln m − σ²/2.
	sigma := math.Sqrt(math.Log(1 + heavyCV*heavyCV))
	mu := math.Log(mean) - sigma*sigma/2
	jobs := make([]job, cfg.Runs)
	t := 0.0
	for i := range jobs {
		t += rng.ExpFloat64() / lambda
		size := rng.ExpFloat64() * mean
		if cfg.Sizes == HeavyTailed {
			size = math.Exp(mu + sigma*rng.NormFloat64())
		}
		jobs[i] = job{at: t, size: size}
	}
	return jobs
}

// ErlangCWait is the mean queue wait of an M/M/c queue with arrival rate lambda and service rate mu
// per server (Erlang C, computed stably).
func ErlangCWait(c int, lambda, mu float64) float64 {
	a := lambda / mu // offered load in servers
	rho := a / float64(c)
	if rho >= 1 {
		return math.Inf(1)
	}
	// Erlang B by recursion, then C from B.
	b := 1.0
	for k := 1; k <= c; k++ {
		b = a * b / (float64(k) + a*b)
	}
	pw := b / (1 - rho*(1-b))
	return pw / (float64(c)*mu - lambda)
}

// ends is a min-heap of step end times, each with its cluster.
type ends []end

type end struct {
	at      float64
	cluster int
	run     string
}

func (h ends) Len() int           { return len(h) }
func (h ends) Less(i, j int) bool { return h[i].at < h[j].at }
func (h ends) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *ends) Push(x any)        { *h = append(*h, x.(end)) }
func (h *ends) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// sparkflowWait is the mean wait under SparkFlow's decisions: the pool's clusters as records, each
// run in one FIFO, a slot granted by core.ChooseCluster whenever core.FreeSlots says there is one.
func sparkflowWait(cfg Config, jobs []job) float64 {
	clusters := make([]sparkflow.Cluster, cfg.Clusters)
	index := map[string]int{}
	for i := range clusters {
		clusters[i] = sparkflow.Cluster{ID: fmt.Sprintf("j-%02d", i), State: sparkflow.ClusterWaiting, Capacity: cfg.Slots, Reservations: []string{}}
		index[clusters[i].ID] = i
	}
	var fifo []int // job indexes, in acceptance order
	h := &ends{}
	var sum float64
	n := 0
	warm := len(jobs) / 10
	start := func(k int, now float64) {
		id := fmt.Sprint(k)
		c, _ := core.ChooseCluster(clusters, id, time.Time{})
		i := index[c.ID]
		clusters[i].Reservations = append(clusters[i].Reservations, id)
		heap.Push(h, end{at: now + jobs[k].size, cluster: i, run: id})
		if k >= warm {
			sum += now - jobs[k].at
			n++
		}
	}
	next := 0
	for next < len(jobs) || h.Len() > 0 {
		if next < len(jobs) && (h.Len() == 0 || jobs[next].at <= (*h)[0].at) {
			k := next
			next++
			if len(fifo) == 0 && core.FreeSlots(clusters, time.Time{}) > 0 {
				start(k, jobs[k].at)
			} else {
				fifo = append(fifo, k)
			}
			continue
		}
		e := heap.Pop(h).(end)
		res := clusters[e.cluster].Reservations
		for j, id := range res {
			if id == e.run {
				clusters[e.cluster].Reservations = append(res[:j:j], res[j+1:]...)
				break
			}
		}
		for len(fifo) > 0 && core.FreeSlots(clusters, time.Time{}) > 0 {
			k := fifo[0]
			fifo = fifo[1:]
			start(k, e.at)
		}
	}
	return sum / float64(n)
}

// seedWait is the mean wait under the seed's policy: on arrival, the cluster with the fewest steps
// (queued and running) as counted Staleness earlier; each cluster serves its own queue in order.
func seedWait(cfg Config, jobs []job) float64 {
	type change struct {
		at    float64
		count int
	}
	logs := make([][]change, cfg.Clusters) // each cluster's step count over time
	count := make([]int, cfg.Clusters)
	queues := make([][]int, cfg.Clusters)
	running := make([]int, cfg.Clusters)
	record := func(i int, at float64) { logs[i] = append(logs[i], change{at, count[i]}) }
	countAt := func(i int, at float64) int {
		l := logs[i]
		j := sort.Search(len(l), func(j int) bool { return l[j].at > at })
		if j == 0 {
			return 0
		}
		return l[j-1].count
	}
	stale := cfg.Staleness.Seconds()
	h := &ends{}
	var sum float64
	n := 0
	warm := len(jobs) / 10
	start := func(i, k int, now float64) {
		running[i]++
		heap.Push(h, end{at: now + jobs[k].size, cluster: i})
		if k >= warm {
			sum += now - jobs[k].at
			n++
		}
	}
	next := 0
	for next < len(jobs) || h.Len() > 0 {
		if next < len(jobs) && (h.Len() == 0 || jobs[next].at <= (*h)[0].at) {
			k := next
			next++
			now := jobs[k].at
			best := 0
			for i := 1; i < cfg.Clusters; i++ {
				if countAt(i, now-stale) < countAt(best, now-stale) {
					best = i
				}
			}
			count[best]++
			record(best, now)
			if running[best] < cfg.Slots {
				start(best, k, now)
			} else {
				queues[best] = append(queues[best], k)
			}
			continue
		}
		e := heap.Pop(h).(end)
		i := e.cluster
		running[i]--
		count[i]--
		record(i, e.at)
		if len(queues[i]) > 0 {
			k := queues[i][0]
			queues[i] = queues[i][1:]
			start(i, k, e.at)
		}
	}
	return sum / float64(n)
}
