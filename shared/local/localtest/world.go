package localtest

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/local/promsink"
	"github.com/sparkflow/sparkflow/shared/metrics"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// World is the local engine as a scenariotest.World: faults on its event bus and its callbacks.
type World struct {
	E *engine.Engine

	mu          sync.Mutex
	drops       []fault
	dups        []fault
	delays      []fault
	delay       time.Duration
	lostResumes int
}

type fault struct {
	name  string
	state sparkflow.StepState
	n     int
}

// NewWorld starts an engine whose events and resumes the world's faults can touch.
func NewWorld(t testing.TB) *World {
	w := &World{}
	w.E = New(t, func(c *engine.Config) {
		c.EventFilter = w.filter
		c.WrapCallbacks = func(cb sparkflow.Callbacks) sparkflow.Callbacks { return &losingCallbacks{Callbacks: cb, w: w} }
	})
	return w
}

func (w *World) Backend() sparkflow.Backend { return w.E }
func (w *World) Wait() time.Duration        { return 20 * time.Second }

func (w *World) DropStepEvents(name string, state sparkflow.StepState, n int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.drops = append(w.drops, fault{name, state, n})
	return nil
}

func (w *World) DuplicateStepEvents(name string, n int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dups = append(w.dups, fault{name: name, n: n})
	return nil
}

func (w *World) DelayStepEvents(name string, state sparkflow.StepState, n int, d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.delays = append(w.delays, fault{name, state, n})
	w.delay = d
	return nil
}

func (w *World) LoseCluster(id string) error { return w.E.Clusters.Fail(id, "INSTANCE_FAILURE") }

func (w *World) FailStarts(pool string, codes ...string) error {
	w.E.Clusters.FailStarts(pool, codes...)
	return nil
}

func (w *World) EndIdle(id string) error { return w.E.Clusters.EndIdle(id) }

func (w *World) LoseResumes(n int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lostResumes += n
	return nil
}

func (w *World) Reconcile(ctx context.Context) error {
	_, err := w.E.Reconcile(ctx)
	return err
}

func take(fs []fault, ch emrevent.StepChange) bool {
	for i := range fs {
		f := &fs[i]
		if f.n > 0 && strings.Contains(ch.Name, f.name) && (f.state == "" || f.state == ch.State) {
			f.n--
			return true
		}
	}
	return false
}

func (w *World) filter(raw []byte) [][]byte {
	ev, err := emrevent.Parse(raw, false)
	if err != nil || ev.DetailType != emrevent.StepDetailType {
		return [][]byte{raw}
	}
	ch, err := ev.Step(false)
	if err != nil {
		return [][]byte{raw}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if take(w.drops, ch) {
		return nil
	}
	if take(w.delays, ch) {
		time.AfterFunc(w.delay, func() { w.E.InjectEvent(raw) })
		return nil
	}
	if take(w.dups, ch) {
		return [][]byte{raw, raw}
	}
	return [][]byte{raw}
}

// losingCallbacks fails SendTaskSuccess as a throttled call does while the world has resumes to lose.
type losingCallbacks struct {
	sparkflow.Callbacks
	w *World
}

func (l *losingCallbacks) SendTaskSuccess(ctx context.Context, token string, output []byte) error {
	l.w.mu.Lock()
	lose := l.w.lostResumes > 0
	if lose {
		l.w.lostResumes--
	}
	l.w.mu.Unlock()
	if lose {
		return sparkflow.Errorf(sparkflow.Transient, "SendTaskSuccess: throttled (lost by the test)")
	}
	return l.Callbacks.SendTaskSuccess(ctx, token, output)
}

// Metrics scrapes the engine's GET /metrics as Prometheus would, and parses it.
func (w *World) Metrics(ctx context.Context) (metrics.Reading, error) {
	rec := httptest.NewRecorder()
	w.E.MetricsHandler().ServeHTTP(rec, httptest.NewRequestWithContext(ctx, "GET", "/metrics", nil))
	if rec.Code != 200 {
		return metrics.Reading{}, fmt.Errorf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	return promsink.Read(rec.Body.Bytes())
}

// FireSchedule fires transform's schedule for the firing at at, as the engine's scheduler does.
func (w *World) FireSchedule(ctx context.Context, transform string, at time.Time) (bool, error) {
	_, fired, err := w.E.FireSchedule(ctx, transform, at)
	return fired, err
}
