package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/workflow"
)

// flows runs the run workflow's executions as the home does: on AWS, Step Functions (task tokens,
// Retry and Catch, timeouts, a function that dies failing as Lambda.Unknown, a response lost while the
// function runs on, executions stopped from outside, status events for executions that end badly);
// locally, the engine's interpreter (the same machine; an execution that ends badly ends its run at
// once). Each execution is a workflow.Exec: the machine both homes run.
type flows struct {
	s       *Sim
	execs   map[string]*execution
	order   []string // run ids in the order their executions started
	byToken map[string]string
	tokens  int
}

type execution struct {
	run    string
	x      *workflow.Exec
	status string    // RUNNING, or how it ended (SUCCEEDED, FAILED, TIMED_OUT, ABORTED)
	timer  time.Time // when its timer fires (zero: none)
	// retrying: the timer is a task's Retry interval (a task that failed is to be tried again),
	// not a wait on a token.
	retrying bool
	// task is the invocation under way and the proc running it.
	task     *proc
	invoking int
}

var (
	_ sparkflow.Callbacks         = (*flows)(nil)
	_ sparkflow.ExecutionStatuses = (*flows)(nil)
)

func newFlows(s *Sim) *flows {
	return &flows{s: s, execs: map[string]*execution{}, byToken: map[string]string{}}
}

// start starts the run's execution unless it has one (an execution is named by its run id: a second
// start is the first one, open or closed).
func (f *flows) start(r sparkflow.Run, resume *workflow.Resume) {
	if _, ok := f.execs[r.ID]; ok {
		return
	}
	in, _ := json.Marshal(workflow.InputOf(r, f.s.epoch))
	x, err := workflow.NewExec(workflow.Run(), in, f.s.now, resume, workflow.ExecOptions{NewToken: func() string {
		f.tokens++
		return fmt.Sprintf("tok%d", f.tokens)
	}})
	if err != nil {
		f.s.violate("workflow", "start the execution of %s: %v", short(r.ID), err)
		return
	}
	ex := &execution{run: r.ID, x: x, status: "RUNNING"}
	f.execs[r.ID] = ex
	f.order = append(f.order, r.ID)
	f.s.tracef("execution %s starts", short(r.ID))
	f.apply(ex, x.Begin(f.s.now))
}

// apply does what the execution asks.
func (f *flows) apply(ex *execution, st workflow.Step) {
	if ex.status != "RUNNING" {
		return
	}
	if tok := ex.x.Waits(); tok != "" {
		f.byToken[tok] = ex.run
	}
	ex.timer, ex.retrying = time.Time{}, false
	switch st.Kind {
	case workflow.Invoke:
		ex.invoking = st.Invocation
		inv, payload, task := st.Invocation, st.Payload, st.Task
		fn := f.s.tasks[task]
		ex.task = f.s.spawn(fmt.Sprintf("%s %s#%d", task, short(ex.run), inv), kindTask,
			func() (any, error) { return fn(context.Background(), payload) },
			func(out any, err error, died bool) {
				if ex.task != nil && ex.task.ended {
					ex.task = nil
				}
				if died {
					err = &workflow.Failure{Name: "Lambda.Unknown", Cause: "the function died (timed out or ran out of memory)"}
				}
				raw, _ := out.(json.RawMessage)
				f.apply(ex, ex.x.TaskDone(f.s.now, inv, raw, err))
			})
	case workflow.Wait:
		ex.timer, ex.retrying = st.Until, st.Token == "" && !st.Until.IsZero()
	case workflow.End:
		f.ended(ex, st.Result)
	}
}

// loseResponse is a Lambda invocation whose response Step Functions never got (the function timed out
// on Step Functions' side while it runs on): the execution sees Lambda.Unknown now.
func (f *flows) loseResponse(ex *execution) {
	p := ex.task
	p.ghost = true
	p.onEnd = nil
	ex.task = nil
	// Its caller gave up on it because it was slow: it goes on a while later.
	p.stalled = f.s.now.Add(time.Duration(1+f.s.rng.IntN(30)) * time.Second)
	f.s.tracef("the response of %s is lost; it runs on", p.name)
	f.apply(ex, ex.x.TaskDone(f.s.now, ex.invoking, nil, &workflow.Failure{Name: "Lambda.Unknown", Cause: "the response was lost"}))
}

// ended: an execution that ended badly tells the events handler (AWS, through its status event) or
// ends its run at once (locally, as the engine's interpreter does).
func (f *flows) ended(ex *execution, r workflow.Result) {
	ex.status, ex.timer = string(r.Status), time.Time{}
	f.s.tracef("execution %s ends %s %s", short(ex.run), r.Status, r.Error)
	if r.Status == workflow.Succeeded {
		return
	}
	f.executionEnded(ex.run, string(r.Status), r.Error, r.Cause)
}

func (f *flows) executionEnded(run, status, errName, cause string) {
	if f.s.local {
		f.s.spawn("execution-ended "+short(run), kindLambda, func() (any, error) {
			return nil, f.s.svc.ExecutionEnded(context.Background(), run, status, errName, cause)
		}, nil)
		return
	}
	detail, _ := json.Marshal(map[string]any{"name": run, "status": status, "error": errName, "cause": cause,
		"executionArn": "arn:aws:states:sim-1:123456789012:execution:run:" + run})
	raw, _ := json.Marshal(map[string]any{"version": "0", "id": "x", "detail-type": workflow.ExecutionDetailType, "source": workflow.ExecutionSource,
		"account": "123456789012", "time": f.s.now.UTC().Format(time.RFC3339), "region": "sim-1", "resources": []string{}, "detail": json.RawMessage(detail)})
	f.s.emit(raw, "execution "+short(run)+" "+status)
}

// stop is StopExecution from outside (an operator in the console).
func (f *flows) stop(ex *execution) {
	if ex.task != nil {
		ex.task.ghost, ex.task.onEnd = true, nil
		ex.task = nil
	}
	ex.status, ex.timer = "ABORTED", time.Time{}
	f.s.tracef("execution %s stopped from outside", short(ex.run))
	f.executionEnded(ex.run, "ABORTED", "Operator", "stopped from the console")
}

// fire fires the timers that are due, oldest execution first.
func (f *flows) fire() {
	for _, id := range f.order {
		ex := f.execs[id]
		if ex.status == "RUNNING" && !ex.timer.IsZero() && !f.s.now.Before(ex.timer) {
			f.apply(ex, ex.x.Timer(f.s.now))
		}
	}
}

// retryPending reports whether a running execution is to try a failed task again.
func (f *flows) retryPending() bool {
	for _, id := range f.order {
		if ex := f.execs[id]; ex.status == "RUNNING" && ex.retrying {
			return true
		}
	}
	return false
}

// nextTimer is the soonest timer of a running execution (zero: none).
func (f *flows) nextTimer() time.Time {
	var t time.Time
	for _, id := range f.order {
		ex := f.execs[id]
		if ex.status == "RUNNING" && !ex.timer.IsZero() && (t.IsZero() || ex.timer.Before(t)) {
			t = ex.timer
		}
	}
	return t
}

// SendTaskSuccess resumes the task waiting on token.
func (f *flows) SendTaskSuccess(ctx context.Context, token string, output []byte) error {
	_, err := call(f.s, "sfn.SendTaskSuccess "+token, true, func() (struct{}, error) {
		return struct{}{}, f.deliver(token, workflow.TokenResult{Output: output})
	})
	return err
}

// SendTaskFailure fails the task waiting on token.
func (f *flows) SendTaskFailure(ctx context.Context, token, errName, cause string) error {
	_, err := call(f.s, "sfn.SendTaskFailure "+token, true, func() (struct{}, error) {
		return struct{}{}, f.deliver(token, workflow.TokenResult{Failure: &workflow.Failure{Name: errName, Cause: cause}})
	})
	return err
}

func (f *flows) deliver(token string, r workflow.TokenResult) error {
	ex := f.execs[f.byToken[token]]
	if ex == nil || ex.status != "RUNNING" {
		return sparkflow.Errorf(sparkflow.NotFound, "task token %s is not waited on", token)
	}
	st, err := ex.x.Token(f.s.now, token, r)
	if err != nil {
		return err
	}
	f.s.tracef("token %s of %s resumed", token, short(ex.run))
	f.apply(ex, st)
	return nil
}

// ExecutionStatus is DescribeExecution.
func (f *flows) ExecutionStatus(ctx context.Context, runID string) (string, error) {
	return call(f.s, "sfn.DescribeExecution "+short(runID), false, func() (string, error) {
		ex := f.execs[runID]
		if ex == nil {
			return "", sparkflow.Errorf(sparkflow.NotFound, "no execution of %s", runID)
		}
		return ex.status, nil
	})
}

// forget is a local engine killed: its executions were in its memory.
func (f *flows) forget() {
	f.execs, f.order, f.byToken = map[string]*execution{}, nil, map[string]string{}
}
