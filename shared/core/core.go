// Package core holds SparkFlow's decisions as pure functions of what is known and, where time
// matters, of now: which cluster gets a run, what an EMR event does to a record, which EMR step a
// transform becomes, what a pool needs to keep its size, and how an attempt ends. No I/O happens here;
// package tasks does it around these decisions.
package core

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Eligible returns the clusters that can take a run now: ready, with a free slot, and not draining.
func Eligible(clusters []sparkflow.Cluster, now time.Time) []sparkflow.Cluster {
	var out []sparkflow.Cluster
	for _, c := range clusters {
		if c.State.Ready() && c.Free() > 0 && !Draining(c, now) {
			out = append(out, c)
		}
	}
	return out
}

// DrainMargin is how long before its idle end a cluster takes no new run: a minute, or a quarter of a
// shorter timeout. A run reserved on a cluster has its step added within seconds; one reserved later
// than this could meet EMR's auto-termination ending the cluster under it.
func DrainMargin(idle time.Duration) time.Duration {
	return min(time.Minute, idle/4)
}

// IdleSince is when the cluster last became idle as its record tells: it is ready and holds no slot,
// since the later of its last recorded state change (it became ready), its ready time and its last
// freed slot (a completed step's slot is freed from the step's end as EMR dates it, so EMR's idle
// clock starts no earlier than this). ok is false for a cluster that is busy or not ready.
func IdleSince(c sparkflow.Cluster) (since time.Time, ok bool) {
	if !c.State.Ready() || len(c.Reservations) > 0 {
		return time.Time{}, false
	}
	since = c.StateTime
	for _, t := range []*time.Time{c.ReadyAt, c.FreedAt} {
		if t != nil && t.After(since) {
			since = *t
		}
	}
	return since, !since.IsZero()
}

// Draining says whether a cluster launched with an idle timeout is within DrainMargin of it, idle: it
// takes no new run, so that EMR ends it with nothing reserved on it (a run that would have had it
// waits for another cluster, or for one launched for it). Kept clusters and clusters of pools without
// an idle timeout never drain.
func Draining(c sparkflow.Cluster, now time.Time) bool {
	if c.IdleTimeoutSeconds <= 0 {
		return false
	}
	since, ok := IdleSince(c)
	if !ok {
		return false
	}
	idle := time.Duration(c.IdleTimeoutSeconds) * time.Second
	return now.Sub(since) >= idle-DrainMargin(idle)
}

// FreeSlots counts the free slots of the clusters that can take a run now.
func FreeSlots(clusters []sparkflow.Cluster, now time.Time) int {
	n := 0
	for _, c := range Eligible(clusters, now) {
		n += c.Free()
	}
	return n
}

// ChooseCluster picks the cluster for run: among eligible clusters, the least loaded (fewest held
// slots per capacity); ties are spread by a hash of the run id, so simultaneous runs do not all land on
// the first cluster. ok is false when no cluster has a free slot.
func ChooseCluster(clusters []sparkflow.Cluster, runID string, now time.Time) (sparkflow.Cluster, bool) {
	el := Eligible(clusters, now)
	if len(el) == 0 {
		return sparkflow.Cluster{}, false
	}
	sort.SliceStable(el, func(i, j int) bool {
		// load_i < load_j  ⇔  used_i*cap_j < used_j*cap_i (no floating point)
		li := len(el[i].Reservations) * el[j].Capacity
		lj := len(el[j].Reservations) * el[i].Capacity
		if li != lj {
			return li < lj
		}
		return tieBreak(runID, el[i].ID) < tieBreak(runID, el[j].ID)
	})
	return el[0], true
}

func tieBreak(runID, clusterID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(runID))
	h.Write([]byte{0})
	h.Write([]byte(clusterID))
	return h.Sum64()
}

// DefaultNamePrefix starts the name of every cluster and step of a home that sets no prefix (the
// local home). The AWS home uses "sparkflow/<stack>", so that two stacks in one account tell their
// clusters and steps apart by name (their event rules match only their own prefix).
const DefaultNamePrefix = "sparkflow"

// StepName names the step of one attempt of a run: the run id and attempt make it unique, so a
// retried submit can find the step it may already have added (AddJobFlowSteps has no idempotency
// token).
func StepName(prefix, runID string, attempt int, transform string) string {
	return fmt.Sprintf("%s:%s:%d:%s", prefix, runID, attempt, transform)
}

// ParseStepName returns the run id and attempt of a step name with the given prefix; a step of
// anyone else (another prefix, or not SparkFlow's) is not ok.
func ParseStepName(prefix, name string) (runID string, attempt int, ok bool) {
	rest, found := strings.CutPrefix(name, prefix+":")
	if !found {
		return "", 0, false
	}
	parts := strings.SplitN(rest, ":", 3)
	if len(parts) != 3 || parts[0] == "" {
		return "", 0, false
	}
	a, err := strconv.Atoi(parts[1])
	if err != nil || a < 1 {
		return "", 0, false
	}
	return parts[0], a, true
}

// CommandRunner is the EMR jar that runs a command line on the primary node.
const CommandRunner = "command-runner.jar"

// Step builds the EMR step of one attempt of run: spark-submit (in cluster deploy mode) through
// command-runner.jar for spark transforms, the command line itself for command transforms, with
// ${params} expanded. ActionOnFailure is always CONTINUE: the clusters are shared, so one failed
// step must neither cancel the others nor terminate the cluster (and EMR requires CONTINUE whenever
// step concurrency is above 1).
func Step(t sparkflow.Transform, run sparkflow.Run) (sparkflow.StepSpec, error) {
	return NamedStep(DefaultNamePrefix, t, run)
}

// NamedStep is Step with the home's name prefix.
func NamedStep(prefix string, t sparkflow.Transform, run sparkflow.Run) (sparkflow.StepSpec, error) {
	params, err := t.ResolveParams(run.Params)
	if err != nil {
		return sparkflow.StepSpec{}, err
	}
	params["run_id"] = run.ID
	params["attempt"] = strconv.Itoa(max(run.Attempt, 1))
	var args []string
	switch t.Kind {
	case sparkflow.KindSpark:
		args = append(args, "spark-submit", "--deploy-mode", "cluster")
		if t.MainClass != "" {
			args = append(args, "--class", t.MainClass)
		}
		args = append(args, t.SparkOptions...)
		args = append(args, t.MainResource)
	case sparkflow.KindCommand:
		args = append(args, t.Command...)
	default:
		return sparkflow.StepSpec{}, sparkflow.FieldError("kind", "%q is not a transform kind", t.Kind)
	}
	args = append(args, t.Args...)
	total := len(CommandRunner)
	for i := range args {
		args[i] = sparkflow.Expand(args[i], params)
		total += len(args[i])
	}
	if total > sparkflow.MaxStepChars {
		return sparkflow.StepSpec{}, sparkflow.FieldError("args", "the step's jar and arguments come to %d characters; EMR allows %d in total", total, sparkflow.MaxStepChars)
	}
	return sparkflow.StepSpec{
		Name:            StepName(prefix, run.ID, max(run.Attempt, 1), t.Name),
		Jar:             CommandRunner,
		Args:            args,
		ActionOnFailure: "CONTINUE",
	}, nil
}
