// Package scaling measures what an elastic pool costs and how long its runs wait, on a virtual clock:
// runs arrive over days shaped like a data team's (a quiet night, a nightly batch burst at 02:00, busy
// working hours), each taking a random time, at a pool whose clusters take a start-up time to become
// ready. The pool's decisions are SparkFlow's own: core.PlanPool decides what to launch (on the same
// occasions as the real system: a run that has to wait, a cluster that changes state, the reconciler
// every 5 minutes), core.ChooseCluster and core.FreeSlots grant slots from one FIFO; a cluster beyond
// the pool's minimum ends after its idle timeout with nothing to do, as EMR's auto-termination does.
//
// It compares, on the same arrivals:
//
//   - the elastic pool (min..max clusters);
//   - a fixed pool of max clusters, always on;
//   - the clairvoyant lower bound on cluster-hours: the total work over the slots of a cluster, plus
//     one start-up (no pool can do with less, whatever it knows of the future).
//
// No wall clock and no goroutines: a figure is the same on every machine.
package scaling

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Config is one experiment.
type Config struct {
	// MinClusters..MaxClusters is the elastic pool; Slots its step concurrency.
	MinClusters, MaxClusters, Slots int
	// StartUp is how long a cluster takes from launch to ready (default 7 minutes, EMR's usual);
	// IdleTimeout ends a cluster beyond the minimum that long idle (default 10 minutes).
	StartUp, IdleTimeout time.Duration
	// MeanJob is the mean job time (default 10 minutes); HeavyTailed makes job times lognormal with a
	// coefficient of variation of 3 (default exponential).
	MeanJob     time.Duration
	HeavyTailed bool
	// AnyWait: the pool launches for every run that waits beyond the free slots (the rule before
	// pools measured their slot time). By default it measures its runs' slot time as the reconciler
	// does (core.SlotTime, every 5 minutes) and launches only for the runs that would wait longer
	// than a start-up (core.SoonFreed).
	AnyWait bool
	// PeakLoad is the offered load in working hours as a share of the fixed pool's slots (default
	// 0.7); the night runs at a tenth of it, and a nightly burst brings BurstRuns runs in 10 minutes
	// at 02:00 (default: the fixed pool's slots × 2).
	PeakLoad  float64
	BurstRuns int
	// Days simulated (default 30); Seed makes it reproducible.
	Days int
	Seed int64
}

func (c *Config) defaults() {
	if c.StartUp == 0 {
		c.StartUp = 7 * time.Minute
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.MeanJob == 0 {
		c.MeanJob = 10 * time.Minute
	}
	if c.PeakLoad == 0 {
		c.PeakLoad = 0.7
	}
	if c.BurstRuns == 0 {
		c.BurstRuns = 2 * c.MaxClusters * c.Slots
	}
	if c.Days == 0 {
		c.Days = 30
	}
}

// Policy is one pool's figures over the experiment.
type Policy struct {
	// ClusterHours per day; MeanWait and P95Wait in seconds (from acceptance to a slot).
	ClusterHours, MeanWait, P95Wait float64
	// MaxLive is the most clusters that were up at once (starting or ready); Launches counts them.
	MaxLive, Launches int
}

// Result is an experiment's figures.
type Result struct {
	Config
	Runs           int
	Elastic, Fixed Policy
	// Bound is the clairvoyant lower bound on cluster-hours per day.
	Bound float64
	// Trace is the elastic pool's cluster count over time (for the tests' guarantees).
	Trace []Point
}

// Point is how many clusters were up (starting or ready) and how many of them kept, from At on.
type Point struct {
	At         float64 // seconds
	Live, Kept int
}

// CostRatio is the elastic pool's cluster-hours over the bound.
func (r Result) CostRatio() float64 { return r.Elastic.ClusterHours / r.Bound }

// WaitRatio is the elastic pool's mean wait over the fixed pool's (∞ when the fixed pool never waits
// and the elastic one does).
func (r Result) WaitRatio() float64 {
	if r.Fixed.MeanWait == 0 {
		if r.Elastic.MeanWait == 0 {
			return 1
		}
		return math.Inf(1)
	}
	return r.Elastic.MeanWait / r.Fixed.MeanWait
}

const day = 24 * 3600.0

// rate is the arrival rate (runs a second) at time t: working hours (09:00–18:00) at the peak, the
// rest at a tenth of it.
func rate(t, peak float64) float64 {
	h := math.Mod(t, day) / 3600
	if h >= 9 && h < 18 {
		return peak
	}
	return peak / 10
}

type job struct{ at, size float64 }

func arrivals(cfg Config) []job {
	rng := rand.New(rand.NewSource(cfg.Seed))
	mean := cfg.MeanJob.Seconds()
	peak := cfg.PeakLoad * float64(cfg.MaxClusters*cfg.Slots) / mean
	sigma := math.Sqrt(math.Log(1 + 9))
	mu := math.Log(mean) - sigma*sigma/2
	size := func() float64 {
		if cfg.HeavyTailed {
			return math.Exp(mu + sigma*rng.NormFloat64())
		}
		return rng.ExpFloat64() * mean
	}
	var jobs []job
	end := float64(cfg.Days) * day
	// Poisson at the peak rate, thinned to the day's shape.
	for t := rng.ExpFloat64() / peak; t < end; t += rng.ExpFloat64() / peak {
		if rng.Float64() < rate(t, peak)/peak {
			jobs = append(jobs, job{at: t, size: size()})
		}
	}
	for d := 0; d < cfg.Days; d++ {
		at := float64(d)*day + 2*3600
		for i := 0; i < cfg.BurstRuns; i++ {
			jobs = append(jobs, job{at: at + rng.Float64()*600, size: size()})
		}
	}
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].at < jobs[j].at })
	return jobs
}

// Run runs one experiment.
func Run(cfg Config) (Result, error) {
	cfg.defaults()
	if cfg.MaxClusters < 1 || cfg.Slots < 1 || cfg.MinClusters < 0 || cfg.MinClusters > cfg.MaxClusters || cfg.PeakLoad <= 0 || cfg.PeakLoad >= 1 {
		return Result{}, fmt.Errorf("scaling: need 0 ≤ min ≤ max, max and slots ≥ 1 and a peak load in (0, 1), got %d..%d × %d at %.2f", cfg.MinClusters, cfg.MaxClusters, cfg.Slots, cfg.PeakLoad)
	}
	jobs := arrivals(cfg)
	work := 0.0
	for _, j := range jobs {
		work += j.size
	}
	days := float64(cfg.Days)
	res := Result{Config: cfg, Runs: len(jobs), Bound: (work/float64(cfg.Slots) + cfg.StartUp.Seconds()) / 3600 / days}
	min := cfg.MinClusters
	var trace []Point
	res.Elastic = simulate(cfg, jobs, &min, nil, &trace)
	res.Trace = trace
	res.Fixed = simulate(cfg, jobs, nil, nil, nil)
	return res, nil
}

// event kinds, in the order they are handled at one instant.
const (
	evReady = iota
	evStepEnd
	evIdle
	evReconcile
	evSchedule
	evArrival
)

// scheduleEvery is how often a scheduled pool looks at its schedule.
const scheduleEvery = 60.0

type event struct {
	at      float64
	kind    int
	cluster int // the cluster's index
	job     int // the arrival's or the step's job
	gen     int // evIdle: the cluster's idle generation it was armed in
}

type events []event

func (h events) Len() int { return len(h) }
func (h events) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].kind < h[j].kind
}
func (h events) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *events) Push(x any)   { *h = append(*h, x.(event)) }
func (h *events) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// reconcileEvery is how often the reconciler heals every pool (the AWS home's schedule).
const reconcileEvery = 300.0

// simulate runs the pool: elastic with min (MinClusters set), or fixed at MaxClusters (min nil,
// every cluster launched at once and never idle-ended). trace, when given, gets the cluster count
// after every change.
//
// With target set instead (min nil), the pool follows a schedule that knows the future: target(t)
// clusters at time t, each launched a start-up ahead so that it is ready when due, and ended as soon
// as it is idle and not due (no idle timeout).
func simulate(cfg Config, jobs []job, min *int, target func(float64) int, trace *[]Point) Policy {
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return epoch.Add(time.Duration(s * float64(time.Second))) }
	pool := sparkflow.Pool{Name: "p", Clusters: cfg.MaxClusters, MinClusters: min, StepConcurrency: cfg.Slots, Status: sparkflow.PoolCreating}
	if min != nil {
		pool.IdleTimeoutSeconds = int(cfg.IdleTimeout.Seconds())
	}
	var (
		clusters []sparkflow.Cluster // every cluster launched, by index
		idleGen  []int
		live     []int // indexes of the clusters not ended
		fifo     []int
		waits    []float64
		h        = &events{}
		pol      Policy
		now      float64
		upSince  []float64
		held     []sparkflow.Run // the newest ended runs' slot times, for the reconciler's measure
		granted  = map[int]float64{}
		up       float64 // cluster-seconds
	)
	end := float64(cfg.Days) * day
	record := func() {
		if trace == nil {
			return
		}
		kept := 0
		for _, i := range live {
			if clusters[i].Kept {
				kept++
			}
		}
		*trace = append(*trace, Point{At: now, Live: len(live), Kept: kept})
	}
	view := func() []sparkflow.Cluster {
		// The live clusters and the newest few ended ones are what a pool's records show.
		out := make([]sparkflow.Cluster, 0, len(live)+8)
		for _, i := range live {
			out = append(out, clusters[i])
		}
		for i, n := len(clusters)-1, 0; i >= 0 && n < 8; i-- {
			if clusters[i].State.Ended() {
				out = append(out, clusters[i])
				n++
			}
		}
		return out
	}
	armIdle := func(i int) {
		c := &clusters[i]
		if min == nil || c.Kept || c.State != sparkflow.ClusterWaiting || len(c.Reservations) > 0 {
			return
		}
		idleGen[i]++
		heap.Push(h, event{at: now + cfg.IdleTimeout.Seconds(), kind: evIdle, cluster: i, gen: idleGen[i]})
	}
	grant := func() {
		for len(fifo) > 0 && core.FreeSlots(view(), at(now)) > 0 {
			k := fifo[0]
			fifo = fifo[1:]
			id := fmt.Sprint(k)
			c, _ := core.ChooseCluster(view(), id, at(now))
			i, _ := strconv.Atoi(strings.TrimPrefix(c.ID, "j-"))
			clusters[i].Reservations = append(clusters[i].Reservations, id)
			clusters[i].State = sparkflow.ClusterRunning
			idleGen[i]++ // busy: an armed idle end does nothing
			waits = append(waits, now-jobs[k].at)
			granted[k] = now
			heap.Push(h, event{at: now + jobs[k].size, kind: evStepEnd, cluster: i, job: k})
		}
	}
	launch := func(n, keptN int) {
		for k := 0; k < n; k++ {
			i := len(clusters)
			kept := k < keptN
			idle := 0
			if !kept {
				idle = pool.IdleTimeoutSeconds
			}
			clusters = append(clusters, sparkflow.Cluster{ID: fmt.Sprintf("j-%d", i), Pool: "p", State: sparkflow.ClusterStarting, Capacity: cfg.Slots,
				Reservations: []string{}, CreatedAt: at(now), Kept: kept, IdleTimeoutSeconds: idle})
			idleGen = append(idleGen, 0)
			upSince = append(upSince, now)
			live = append(live, i)
			pol.Launches++
			heap.Push(h, event{at: now + cfg.StartUp.Seconds(), kind: evReady, cluster: i})
		}
		if n > 0 {
			pol.MaxLive = max(pol.MaxLive, len(live))
			record()
		}
	}
	endCluster := func(i int) {
		c := &clusters[i]
		ended := at(now)
		c.State, c.Reason, c.EndedAt = sparkflow.ClusterTerminated, sparkflow.StateReason{Code: "ALL_STEPS_COMPLETED"}, &ended
		up += math.Min(now, end) - math.Min(upSince[i], end)
		for j, l := range live {
			if l == i {
				live = append(live[:j:j], live[j+1:]...)
				break
			}
		}
		record()
	}
	// retire ends the scheduled pool's idle clusters beyond what is due now and a start-up on.
	retire := func() {
		if target == nil {
			return
		}
		excess := len(live) - max(target(now), target(now+cfg.StartUp.Seconds()))
		for j := len(live) - 1; j >= 0 && excess > 0; j-- {
			if c := clusters[live[j]]; c.State == sparkflow.ClusterWaiting && len(c.Reservations) == 0 {
				endCluster(live[j])
				excess--
			}
		}
	}
	heal := func() {
		if target != nil {
			launch(max(target(now+cfg.StartUp.Seconds())-len(live), 0), 0)
			retire()
			return
		}
		cs := view()
		plan := core.PlanPool(pool, cs, len(fifo), at(now))
		pool.Status = plan.Status
		launch(plan.Launch, plan.LaunchKept)
	}
	heal()
	for k := range jobs {
		heap.Push(h, event{at: jobs[k].at, kind: evArrival, job: k})
	}
	heap.Push(h, event{at: reconcileEvery, kind: evReconcile})
	if target != nil {
		heap.Push(h, event{at: 0, kind: evSchedule})
	}
	for h.Len() > 0 {
		e := heap.Pop(h).(event)
		now = e.at
		switch e.kind {
		case evArrival:
			fifo = append(fifo, e.job)
			grant()
			if len(fifo) > 0 {
				heal() // Reserve's wait path
			}
		case evReady:
			c := &clusters[e.cluster]
			ready := at(now)
			c.State, c.ReadyAt, c.StateTime = sparkflow.ClusterWaiting, &ready, ready
			grant()
			armIdle(e.cluster)
			heal() // the cluster's state-change event
		case evStepEnd:
			c := &clusters[e.cluster]
			id := fmt.Sprint(e.job)
			for j, r := range c.Reservations {
				if r == id {
					c.Reservations = append(c.Reservations[:j:j], c.Reservations[j+1:]...)
					break
				}
			}
			freed := at(now)
			c.FreedAt = &freed
			reserved := at(granted[e.job])
			delete(granted, e.job)
			held = append(held, sparkflow.Run{Status: sparkflow.RunSucceeded, ReservedAt: &reserved, EndedAt: &freed})
			if len(held) > 2*core.SlotSamples {
				held = append(held[:0:0], held[len(held)-core.SlotSamples:]...)
			}
			if len(c.Reservations) == 0 {
				c.State, c.StateTime = sparkflow.ClusterWaiting, freed
			}
			grant()
			armIdle(e.cluster)
			retire()
		case evIdle:
			c := &clusters[e.cluster]
			if e.gen != idleGen[e.cluster] || c.State != sparkflow.ClusterWaiting || len(c.Reservations) > 0 {
				continue
			}
			endCluster(e.cluster)
			heal() // the cluster's end event
		case evSchedule:
			heal()
			if now+scheduleEvery < end || len(fifo) > 0 {
				heap.Push(h, event{at: now + scheduleEvery, kind: evSchedule})
			}
		case evReconcile:
			if min != nil && !cfg.AnyWait {
				if took, n := core.SlotTime(held); n > 0 && core.SlotTimeChanged(pool, took) {
					pool.SlotSeconds = took.Seconds()
				}
			}
			heal()
			if now+reconcileEvery < end || len(fifo) > 0 {
				heap.Push(h, event{at: now + reconcileEvery, kind: evReconcile})
			}
		}
	}
	for _, i := range live { // counted to the end of the last day, as the ended ones
		up += end - math.Min(upSince[i], end)
	}
	pol.ClusterHours = up / 3600 / float64(cfg.Days)
	sort.Float64s(waits)
	sum := 0.0
	for _, w := range waits {
		sum += w
	}
	if len(waits) > 0 {
		pol.MeanWait = sum / float64(len(waits))
		pol.P95Wait = waits[int(0.95*float64(len(waits)-1))]
	}
	return pol
}
