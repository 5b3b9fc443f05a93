package core

import (
	"sort"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// SoonFreed is how many waiting runs the pool's held slots will take before a cluster launched now
// would be ready, so that an elastic pool launches only for the runs that would wait longer than a
// start-up: the slots held on ready clusters free at a rate of held / SlotSeconds (a run's slot time
// as the pool measured it, what is left of it taken as memoryless), so about held × start-up /
// SlotSeconds of them within the measured start-up (MeasuredStart). 0 while either is unknown: then
// every waiting run beyond the free slots counts.
func SoonFreed(p sparkflow.Pool, clusters []sparkflow.Cluster) int {
	start, n := MeasuredStart(clusters)
	if n == 0 || p.SlotSeconds <= 0 {
		return 0
	}
	held := 0
	for _, c := range clusters {
		if c.State.Ready() {
			held += len(c.Reservations)
		}
	}
	return int(float64(held) * start.Seconds() / p.SlotSeconds)
}

// SlotSamples is how many of a pool's newest ended runs SlotTime averages.
const SlotSamples = 50

// SlotTime is how long a run holds its slot: the mean, from the slot's reservation to the run's end,
// over the newest SlotSamples of runs that ended after holding one, and how many those were.
func SlotTime(runs []sparkflow.Run) (time.Duration, int) {
	var held []sparkflow.Run
	for _, r := range runs {
		if r.Status.Terminal() && r.ReservedAt != nil && r.EndedAt != nil && !r.EndedAt.Before(*r.ReservedAt) {
			held = append(held, r)
		}
	}
	sort.SliceStable(held, func(i, j int) bool { return held[i].EndedAt.After(*held[j].EndedAt) })
	if len(held) > SlotSamples {
		held = held[:SlotSamples]
	}
	if len(held) == 0 {
		return 0, 0
	}
	var sum time.Duration
	for _, r := range held {
		sum += r.EndedAt.Sub(*r.ReservedAt)
	}
	return sum / time.Duration(len(held)), len(held)
}

// SlotTimeChanged says whether a measured slot time differs enough from the pool's to be written
// (a tenth, or the pool has none yet): the measure is noisy, and a pool write is not free.
func SlotTimeChanged(p sparkflow.Pool, measured time.Duration) bool {
	if measured <= 0 {
		return false
	}
	if p.SlotSeconds <= 0 {
		return true
	}
	d := measured.Seconds() - p.SlotSeconds
	return d > p.SlotSeconds/10 || -d > p.SlotSeconds/10
}
