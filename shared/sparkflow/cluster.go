package sparkflow

import "time"

// Cluster is SparkFlow's record of one EMR cluster of a pool.
type Cluster struct {
	ID                      string       `json:"id"`
	Pool                    string       `json:"pool"`
	State                   ClusterState `json:"state"`
	Reason                  StateReason  `json:"reason"`
	Capacity                int          `json:"capacity"`
	Reservations            []string     `json:"reservations"`
	StateTime               time.Time    `json:"stateTime"`
	CreatedAt               time.Time    `json:"createdAt"`
	ReadyAt                 *time.Time   `json:"readyAt,omitempty"`
	EndedAt                 *time.Time   `json:"endedAt,omitempty"`
	NormalizedInstanceHours int          `json:"normalizedInstanceHours"`
	// Kept: one of an elastic pool's minimum, launched without the idle timeout.
	Kept bool `json:"kept,omitempty"`
	// IdleTimeoutSeconds is the idle timeout the cluster was launched with (EMR's auto-termination
	// policy; 0: none). FreedAt is when a slot of it was last released. Together with the time it went
	// WAITING they tell how near it is to its idle end (core.Draining).
	IdleTimeoutSeconds int        `json:"idleTimeoutSeconds,omitempty"`
	FreedAt            *time.Time `json:"freedAt,omitempty"`
	// Instances are the instances EMR gave it, as EMR listed them once it was ready (AWS; priced by
	// shared/cost instead of the tier's), and InstancesListed says that was asked (they may be none:
	// the local clusters have none to list).
	Instances       []InstanceCount `json:"instances,omitempty"`
	InstancesListed bool            `json:"instancesListed,omitempty"`
	// Version increases with every write; stores use it for optimistic locking.
	Version int64 `json:"version"`
}

// InstanceCount is how many instances of one type and market a cluster runs.
type InstanceCount struct {
	Type  string `json:"type"`
	Count int    `json:"count"`
	Spot  bool   `json:"spot,omitempty"`
}

// Free is the number of slots not held by a run.
func (c Cluster) Free() int { return c.Capacity - len(c.Reservations) }

// Shown is the state to show of the cluster: a ready cluster is RUNNING while runs hold its slots and
// WAITING when none does. (EMR moves a ready cluster between the two with every step it starts or
// ends; SparkFlow does not record those moves, which would be two writes a run for runs that come
// one at a time, and knows from its slots which clusters run its steps.)
func (c Cluster) Shown() ClusterState {
	if !c.State.Ready() {
		return c.State
	}
	if len(c.Reservations) > 0 {
		return ClusterRunning
	}
	return ClusterWaiting
}

// Holds reports whether run holds a slot of the cluster.
func (c Cluster) Holds(runID string) bool {
	for _, r := range c.Reservations {
		if r == runID {
			return true
		}
	}
	return false
}
