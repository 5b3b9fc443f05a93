package tasks

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/logs"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

// HandleEvent applies one EMR state-change event (the EventBridge JSON). Events can come late, twice,
// out of order or never: handling is idempotent and monotonic, and what never comes is repaired by
// Reconcile. Events about clusters and steps SparkFlow does not manage are ignored.
func (s *Service) HandleEvent(ctx context.Context, raw []byte) error {
	var head struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return sparkflow.Wrap(sparkflow.Invalid, err, "not an EventBridge event")
	}
	if head.Source == workflow.ExecutionSource && head.DetailType == workflow.ExecutionDetailType {
		return s.handleExecutionEvent(ctx, raw)
	}
	if head.Source != emrevent.Source {
		s.Log.DebugContext(ctx, "event of another source ignored", "source", head.Source, "detail_type", head.DetailType)
		return nil
	}
	ev, err := parsedEvent(ctx, raw)
	if err != nil {
		return err
	}
	switch ev.DetailType {
	case emrevent.ClusterDetailType:
		ch, err := ev.Cluster(false)
		if err != nil {
			return err
		}
		c, err := s.handleClusterChange(ctx, ch)
		if err != nil {
			return err
		}
		return s.noteInstances(ctx, c)
	case emrevent.StepDetailType:
		ch, err := ev.Step(false)
		if err != nil {
			return err
		}
		return s.HandleStepChange(ctx, ch)
	}
	s.Log.DebugContext(ctx, "event ignored", "detail_type", ev.DetailType)
	return nil
}

// HandleStepChange applies a step's state change to its run and, when the step has ended, resumes the
// run's workflow with the outcome. A step that completed ends its run in the same write (a completed
// step is a succeeded run whatever else happened: core.Conclude), and its slot is freed at once: the
// workflow's Finish then finds the run ended and writes nothing (one run write fewer per run).
func (s *Service) HandleStepChange(ctx context.Context, ch emrevent.StepChange) error {
	return s.HandleStepChanges(ctx, []emrevent.StepChange{ch})
}

// HandleStepChanges is HandleStepChange of several changes of one step, in the order they were sent,
// applied in one write (the local engine's bus hands over a step's events that queued up together: a
// short step's RUNNING and COMPLETED, under load).
func (s *Service) HandleStepChanges(ctx context.Context, chs []emrevent.StepChange) error {
	if len(chs) == 0 {
		return nil
	}
	first := chs[0]
	runID, attempt, ok := core.ParseStepName(s.NamePrefix, first.Name)
	if !ok {
		return nil // not a SparkFlow step
	}
	for _, ch := range chs[1:] {
		if ch.Name != first.Name || ch.StepID != first.StepID {
			return sparkflow.Errorf(sparkflow.Internal, "changes of steps %s and %s handled as one step's", first.StepID, ch.StepID)
		}
	}
	ctx = logs.With(ctx, "run_id", runID, "attempt", attempt, "step_id", first.StepID, "cluster_id", first.ClusterID)
	var eff core.StepEffect
	ch := chs[len(chs)-1] // the change whose effect stands: the step's end, if one of them is
	concluded := false
	r, err := s.mutateRunSlot(ctx, runID, func(r *sparkflow.Run) (bool, sparkflow.SlotChange, error) {
		eff, ch = core.StepEffect{}, chs[len(chs)-1]
		for _, c := range chs {
			next, e := core.ApplyStep(*r, c, attempt, s.now())
			*r = next
			eff.Changed = eff.Changed || e.Changed
			if e.Ended {
				eff.Ended, ch = true, c
			}
		}
		concluded = false
		var slot sparkflow.SlotChange
		if eff.Ended && ch.State == sparkflow.StepCompleted {
			var verdict core.Verdict
			token := r.Token
			concluded = s.conclude(r, core.Outcome{StepState: ch.State}, false, &verdict)
			// The token stays on the ended run: the workflow still waits on it (its Finish is to
			// come), and a redelivery of this event resumes it again should this resume be lost.
			r.Token = token
			if concluded && r.ClusterID != "" {
				// The run's slot is freed in the same write, from when the step ended (EMR's time,
				// whole seconds: never later than the truth, which the drain needs).
				at := s.now()
				if !ch.Time.IsZero() && ch.Time.Before(at) {
					at = ch.Time
				}
				slot = sparkflow.SlotChange{Free: r.ClusterID, At: at}
			}
		}
		return eff.Changed, slot, nil
	})
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		s.Log.WarnContext(ctx, "step event for an unknown run", "run_id", runID, "step_id", first.StepID)
		return nil
	}
	if err != nil {
		return err
	}
	ctx = scope(ctx, r)
	if eff.Changed {
		for _, c := range chs {
			s.Log.InfoContext(ctx, "step state", "step_id", c.StepID, "state", c.State, "step_attempt", attempt)
		}
	}
	outcome := core.Outcome{StepState: ch.State, Reason: reasonOf(ch)}
	if eff.Ended {
		if err := s.resume(ctx, r.Token, outcome); err != nil || !concluded {
			return err
		}
		s.Log.InfoContext(ctx, "attempt finished", "status", r.Status, "retry", false)
		// Its slot was freed with the run's end: the pool's next waiter is served.
		return s.released(ctx, r)
	}
	if !eff.Changed && ch.State.Terminal() && attempt == r.Attempt && r.StepID == ch.StepID && r.StepState.Terminal() &&
		(!r.Status.Terminal() || (r.Status == sparkflow.RunSucceeded && ch.State == sparkflow.StepCompleted)) {
		// A redelivered end event: its first handling recorded the end (and, for a completed step,
		// the run's) but its resume may have been lost. Resuming again is safe (a token used already
		// is not an error), and so is releasing again.
		if err := s.resume(ctx, r.Token, core.Outcome{StepState: r.StepState, Reason: reasonOf(ch)}); err != nil || !r.Status.Terminal() {
			return err
		}
		return s.release(ctx, r)
	}
	return nil
}

// HandleEvents handles events in the order given (HandleEvent), and a step's changes among them
// together, in one write (HandleStepChanges): the local engine's bus hands a step's queued events
// over at once.
func (s *Service) HandleEvents(ctx context.Context, raws [][]byte) error {
	var group []emrevent.StepChange
	flush := func() error {
		err := s.HandleStepChanges(ctx, group)
		group = nil
		return err
	}
	for _, raw := range raws {
		ev, err := parsedEvent(ctx, raw)
		var ch emrevent.StepChange
		if err == nil && ev.DetailType == emrevent.StepDetailType {
			ch, err = ev.Step(false)
		}
		if err != nil || ev.DetailType != emrevent.StepDetailType {
			if err := flush(); err != nil {
				return err
			}
			if err := s.HandleEvent(ctx, raw); err != nil {
				return err
			}
			continue
		}
		if len(group) > 0 && (group[0].StepID != ch.StepID || group[0].Name != ch.Name) {
			if err := flush(); err != nil {
				return err
			}
		}
		group = append(group, ch)
	}
	return flush()
}

// parsedKey carries, in the context EventScope returns, the event it parsed: HandleEvent, given the
// same bytes, does not parse them again.
type parsedKey struct{}

type parsed struct {
	raw []byte
	ev  emrevent.Event
}

// parsedEvent is emrevent.Parse(raw), or what EventScope parsed of these very bytes.
func parsedEvent(ctx context.Context, raw []byte) (emrevent.Event, error) {
	if p, ok := ctx.Value(parsedKey{}).(parsed); ok && len(p.raw) == len(raw) && len(raw) > 0 && &p.raw[0] == &raw[0] {
		return p.ev, nil
	}
	return emrevent.Parse(raw, false)
}

func reasonOf(ch emrevent.StepChange) string {
	if ch.State == sparkflow.StepCompleted {
		return ""
	}
	return ch.Message
}

// HandleClusterChange applies a cluster's state change: a cluster that becomes ready takes waiting
// runs; a cluster that is lost ends the attempts of the runs on it (they retry elsewhere or fail, per
// their policy) and is replaced; a pool being deleted goes when its last cluster is gone.
func (s *Service) HandleClusterChange(ctx context.Context, ch emrevent.ClusterChange) error {
	_, err := s.handleClusterChange(ctx, ch)
	return err
}

// handleClusterChange is HandleClusterChange, and returns the cluster's record as it left it.
func (s *Service) handleClusterChange(ctx context.Context, ch emrevent.ClusterChange) (sparkflow.Cluster, error) {
	var eff core.ClusterEffect
	c, err := s.mutateCluster(ctx, ch.ClusterID, func(c *sparkflow.Cluster) (bool, error) {
		var next sparkflow.Cluster
		next, eff = core.ApplyCluster(*c, ch)
		*c = next
		return eff.Changed, nil
	})
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		created, err := s.adoptCluster(ctx, ch)
		if err != nil || !created {
			return c, err
		}
		return s.handleClusterChange(ctx, ch)
	}
	if err != nil {
		return c, err
	}
	// A cluster that ended with no ready time recorded: ask EMR whether it was ever ready before the
	// pool counts it as a failed start. If EMR does not answer, the error comes back after the rest
	// is done, and the event's redelivery asks again.
	var learnErr error
	learned := false
	if ch.State.Ended() && c.State.Ended() && c.ReadyAt == nil && c.Reason.Code != "USER_REQUEST" {
		c, learned, learnErr = s.learnReadyAt(ctx, c)
	}
	if !eff.Changed {
		if learned {
			if err := s.Heal(ctx, c.Pool); err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
				return c, err
			}
		}
		return c, learnErr
	}
	s.Log.InfoContext(ctx, "cluster state", "cluster_id", c.ID, "pool", c.Pool, "state", c.State, "reason", c.Reason.Code)
	if eff.Ended {
		for _, runID := range c.Reservations {
			if err := s.clusterLost(ctx, runID, c); err != nil {
				return c, err
			}
		}
	}
	if eff.BecameReady || eff.Ended || c.State.Terminal() {
		if err := s.Heal(ctx, c.Pool); err != nil && !sparkflow.IsCode(err, sparkflow.NotFound) {
			return c, err
		}
	}
	if eff.BecameReady {
		return c, s.Dispatch(ctx, c.Pool)
	}
	return c, learnErr
}

// noteInstances records, once, the instances EMR runs for a ready cluster (for what it costs), when
// the home can list them. A transient failure (throttled, say) is returned, so that the event comes
// back and asks again (a ready cluster may have no next state event for hours); any other is logged,
// and the cluster's next state event asks again (until then it is priced by its tier).
func (s *Service) noteInstances(ctx context.Context, c sparkflow.Cluster) error {
	if s.Instances == nil || !c.State.Ready() || c.InstancesListed {
		return nil
	}
	in, err := s.Instances.Instances(ctx, c.ID)
	if err == nil {
		_, err = s.mutateCluster(ctx, c.ID, func(c *sparkflow.Cluster) (bool, error) {
			if c.InstancesListed {
				return false, nil
			}
			c.Instances, c.InstancesListed = in, true
			return true, nil
		})
	}
	if sparkflow.IsCode(err, sparkflow.Transient) {
		return err
	}
	if err != nil {
		s.Log.WarnContext(ctx, "list the cluster's instances (it is priced by its tier until they are)", "cluster_id", c.ID, "err", err)
		return nil
	}
	s.Log.InfoContext(ctx, "cluster instances", "cluster_id", c.ID, "instances", in)
	return nil
}

// learnReadyAt asks EMR when a cluster that ended with no ready time recorded was first ready, and
// records it. EventBridge neither orders nor always delivers its events: a WAITING event that comes
// after the end (a terminal state is final) or never comes would make a cluster that ran count as a
// failed start, and MaxStartFailures of those hold the pool's launches until a user resumes them.
// One DescribeCluster per such end. It says whether it recorded a ready time.
func (s *Service) learnReadyAt(ctx context.Context, c sparkflow.Cluster) (sparkflow.Cluster, bool, error) {
	info, err := s.Clusters.Describe(ctx, c.ID)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		return c, false, nil
	}
	if err != nil {
		return c, false, err
	}
	if info.ReadyAt == nil {
		return c, false, nil
	}
	learned := false
	c, err = s.mutateCluster(ctx, c.ID, func(c *sparkflow.Cluster) (bool, error) {
		if c.ReadyAt != nil {
			return false, nil
		}
		t := *info.ReadyAt
		c.ReadyAt, learned = &t, true
		return true, nil
	})
	return c, learned, err
}

// adoptCluster records a cluster whose event came before its launch was recorded (or whose record a
// crash lost), when its name ties it to a live pool.
func (s *Service) adoptCluster(ctx context.Context, ch emrevent.ClusterChange) (bool, error) {
	pool, ok := poolOfClusterName(s.NamePrefix, ch.Name)
	if !ok {
		return false, nil
	}
	p, err := s.Store.GetPool(ctx, pool)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	err = s.Store.CreateCluster(ctx, sparkflow.Cluster{ID: ch.ClusterID, Pool: pool, State: sparkflow.ClusterStarting, Capacity: p.StepConcurrency, CreatedAt: s.now()})
	if err != nil && !sparkflow.IsCode(err, sparkflow.Conflict) {
		return false, err
	}
	return true, nil
}

// clusterLost ends the current attempt of a run whose cluster went away.
func (s *Service) clusterLost(ctx context.Context, runID string, c sparkflow.Cluster) error {
	r, err := s.Store.GetRun(ctx, runID)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		return s.Store.Release(ctx, runID, 0, c.ID, s.now())
	}
	if err != nil {
		return err
	}
	if r.Status.Terminal() || r.ClusterID != c.ID {
		return s.Store.Release(ctx, runID, 0, c.ID, s.now())
	}
	ctx = scope(ctx, r)
	reason := fmt.Sprintf("%s (%s)", c.State, c.Reason.Code)
	if c.Reason.Message != "" {
		reason += ": " + c.Reason.Message
	}
	s.Log.WarnContext(ctx, "cluster lost under run", "run_id", runID, "cluster_id", c.ID, "reason", reason)
	if r.Token == "" {
		// Reserved but not yet submitting: submit finds the cluster gone and reports it.
		return nil
	}
	return s.resume(ctx, r.Token, core.Outcome{StepState: sparkflow.StepInterrupted, Cause: core.CauseClusterLost, Reason: reason})
}

// EventScope returns ctx with the log fields an event names without reading a record: a step
// event's run, attempt, step and cluster (from the step's name), a cluster event's cluster and pool,
// an execution event's run. The handlers of both homes log with it.
func (s *Service) EventScope(ctx context.Context, raw []byte) context.Context {
	var head struct {
		Source string `json:"source"`
		Detail struct {
			Name string `json:"name"`
		} `json:"detail"`
	}
	if json.Unmarshal(raw, &head) != nil {
		return ctx
	}
	if head.Source == workflow.ExecutionSource {
		return logs.With(ctx, "run_id", head.Detail.Name)
	}
	ev, err := emrevent.Parse(raw, false)
	if err != nil {
		return ctx
	}
	ctx = context.WithValue(ctx, parsedKey{}, parsed{raw: raw, ev: ev})
	switch ev.DetailType {
	case emrevent.StepDetailType:
		if ch, err := ev.Step(false); err == nil {
			if runID, attempt, ok := core.ParseStepName(s.NamePrefix, ch.Name); ok {
				return logs.With(ctx, "run_id", runID, "attempt", attempt, "step_id", ch.StepID, "cluster_id", ch.ClusterID)
			}
			return logs.With(ctx, "step_id", ch.StepID, "cluster_id", ch.ClusterID)
		}
	case emrevent.ClusterDetailType:
		if ch, err := ev.Cluster(false); err == nil {
			pool, _ := poolOfClusterName(s.NamePrefix, ch.Name)
			return logs.With(ctx, "cluster_id", ch.ClusterID, "pool", pool)
		}
	}
	return ctx
}
