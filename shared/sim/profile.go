package sim

import (
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tasks"
)

// Profile is a kind of trouble a schedule meets, on one home's semantics.
type Profile struct {
	Name string
	// Local: the local engine's semantics (in-process tasks, events on an in-process bus, kill -9
	// and restart); otherwise AWS's (Lambda, Step Functions, SQS).
	Local bool
	// Per port call during the chaos: a throttle, a call that succeeds but reports an error, a
	// Lambda that dies at that point (AWS).
	Throttle, LostResponse, Crash float64
	// Per event: dropped (never delivered), duplicated.
	EventDrop, EventDup float64
	// Weights of the rarer actions.
	Ghost, Kill, LoseCluster, Cancel, Stop, Redeliver float64
	// ShortTimeouts gives runs waits short enough to time out.
	ShortTimeouts bool
	// SlowLambdas lets time pass an invocation's function timeout, which kills it (AWS); otherwise
	// invocations are quick, as they are.
	SlowLambdas bool
}

// Profiles are the fault profiles a batch runs, each on its home's semantics.
var Profiles = []Profile{
	{Name: "aws-calm"},
	{Name: "aws-events", EventDrop: 0.15, EventDup: 0.2, LoseCluster: 0.3},
	{Name: "aws-crashes", Crash: 0.03, Ghost: 0.5, Redeliver: 0.5, SlowLambdas: true},
	{Name: "aws-writes", Throttle: 0.05, LostResponse: 0.08},
	{Name: "aws-cancels", Cancel: 0.4, Stop: 0.15, ShortTimeouts: true},
	{Name: "aws-all", Throttle: 0.03, LostResponse: 0.03, Crash: 0.015, EventDrop: 0.08, EventDup: 0.1, Ghost: 0.3, LoseCluster: 0.2, Cancel: 0.2, Stop: 0.05, Redeliver: 0.3, ShortTimeouts: true, SlowLambdas: true},
	{Name: "local-calm", Local: true},
	{Name: "local-kill9", Local: true, Kill: 0.08, Cancel: 0.2},
	{Name: "local-all", Local: true, Throttle: 0.03, LostResponse: 0.03, EventDrop: 0.08, EventDup: 0.1, Kill: 0.04, LoseCluster: 0.2, Cancel: 0.2, ShortTimeouts: true},
}

// ProfileNamed returns a profile by name.
func ProfileNamed(name string) (Profile, bool) {
	for _, p := range Profiles {
		if p.Name == name {
			return p, true
		}
	}
	return Profile{}, false
}

// Config is one schedule.
type Config struct {
	Seed    uint64
	Profile Profile
	// Store opens the store a schedule runs on (default: SQLite in memory).
	Store func() (sparkflow.Store, func(), error)
	// Trace, when set, is told every step.
	Trace func(line string)
	// Sabotage, for the simulation's own tests, changes the service before the schedule runs (to
	// show that a check catches what it is for).
	Sabotage func(*tasks.Service)
}

// Violation is an invariant broken, at a step of the schedule.
type Violation struct {
	Invariant string
	Detail    string
	Step      int
}

// Result is how a schedule went.
type Result struct {
	Seed       uint64
	Profile    string
	Steps      int
	Runs       int
	Violations []Violation
	// Hash digests every decision: two runs of a seed give the same hash.
	Hash uint64
}
