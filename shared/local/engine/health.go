package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// LateEvents is how long an event may wait on the bus before the health report warns: later than
// this, the reconciler may act on a change whose event is only late.
const LateEvents = 10 * time.Second

// Health reports the engine's own state (GET /api/health): whether the database takes writes, how
// far behind event handling is, when the reconciler last ran and how it went, and whether the engine
// is stopping.
func (e *Engine) Health(ctx context.Context) sparkflow.Health {
	var h sparkflow.Health
	if p, ok := e.Store.(interface{ Ping(context.Context) error }); ok {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		start := time.Now()
		err := p.Ping(pctx)
		cancel()
		if err != nil {
			h.Add("database", sparkflow.HealthFail, fmt.Sprintf("a write failed: %v (is the data directory's disk full or read-only?)", err))
		} else {
			h.Add("database", sparkflow.HealthOK, fmt.Sprintf("writable (a probe write took %s)", time.Since(start).Round(time.Microsecond)))
		}
	} else {
		h.Add("database", sparkflow.HealthOK, "an external store: not probed")
	}
	n, oldest := e.bus.backlog()
	switch age := time.Since(oldest); {
	case n == 0:
		h.Add("events", sparkflow.HealthOK, "no EMR event waits to be handled")
	case age > LateEvents:
		h.Add("events", sparkflow.HealthWarn, fmt.Sprintf("%d events wait to be handled, the oldest for %s: the engine is behind (see its CPU and the database)", n, age.Round(time.Millisecond)))
	default:
		h.Add("events", sparkflow.HealthOK, fmt.Sprintf("%d events wait to be handled, the oldest for %s", n, age.Round(time.Millisecond)))
	}
	last := e.lastReconcile.Load()
	due := 2*e.cfg.ReconcileInterval + time.Minute
	switch {
	case last == nil:
		h.Add("reconciler", sparkflow.HealthOK, "no pass has ended yet (one runs at start)")
	case last.err != nil:
		h.Add("reconciler", sparkflow.HealthWarn, fmt.Sprintf("the last pass, %s ago, failed: %v", time.Since(last.at).Round(time.Second), last.err))
	case time.Since(last.at) > due:
		h.Add("reconciler", sparkflow.HealthWarn, fmt.Sprintf("the last pass ended %s ago; one runs every %s", time.Since(last.at).Round(time.Second), e.cfg.ReconcileInterval))
	default:
		h.Add("reconciler", sparkflow.HealthOK, fmt.Sprintf("the last pass ended %s ago (every %s)", time.Since(last.at).Round(time.Second), e.cfg.ReconcileInterval))
	}
	if e.draining.Load() {
		h.Add("engine", sparkflow.HealthWarn, fmt.Sprintf("stopping: no new runs; %d workflows under way", e.flows.Active()))
	} else {
		h.Add("engine", sparkflow.HealthOK, fmt.Sprintf("%d workflows under way, %d steps running", e.flows.Active(), e.Clusters.Running()))
	}
	return h
}

var (
	_ sparkflow.HealthReporter = (*Engine)(nil)
	_ sparkflow.TraceFinder    = (*Engine)(nil)
)

// RunTrace says where the engine logged about a run: its log file (and the rotated ones beside it),
// with a command that prints the run's lines.
func (e *Engine) RunTrace(ctx context.Context, id string) (sparkflow.RunTrace, error) {
	if _, err := e.Store.GetRun(ctx, id); err != nil {
		return sparkflow.RunTrace{}, err
	}
	if e.LogFile() == "" {
		return sparkflow.RunTrace{Where: "nowhere: this engine keeps no log file (it was started with its log file off)"}, nil
	}
	dir, base := filepath.Split(e.LogFile())
	ext := filepath.Ext(base)
	rotated := filepath.Join(dir, strings.TrimSuffix(base, ext)+"*"+ext) // lumberjack's backups: engine-<time>.log
	return sparkflow.RunTrace{
		Where:   e.LogFile() + " (JSON lines; older ones rotated beside it)",
		Command: fmt.Sprintf("grep -h '\"run_id\":\"%s\"' %s", id, rotated),
	}, nil
}
