// Package tasks is SparkFlow's task logic, written against the domain's ports: creating, deleting and
// healing pools, accepting run requests, the run workflow's tasks (reserve a slot, submit the step,
// finish the attempt), handling EMR's state-change events, cancelling and reconciling. The same code
// runs in the local engine and, behind Lambda entrypoints, on AWS.
package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/logs"
	"github.com/sparkflow/sparkflow/shared/metrics"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tiers"
)

// Service runs the tasks. All fields but Log, NewID, Instances, Metrics and Schedules are required.
type Service struct {
	Store     sparkflow.Store
	Clusters  sparkflow.Clusters
	Callbacks sparkflow.Callbacks
	Tiers     *tiers.Catalog
	Clock     sparkflow.Clock
	// Instances lists a ready cluster's instances (EMR's ListInstances) when its first state event
	// after ready is handled, for what it costs; nil: clusters are priced by their tier.
	Instances sparkflow.InstanceLister
	Log       *slog.Logger
	// Metrics receives the measurements of metrics.All (default: discarded).
	Metrics metrics.Sink
	// Schedules, when set, keeps the transforms' schedules where they fire.
	Schedules sparkflow.Schedules
	NewID     func() string
	// NamePrefix starts every cluster's and step's name (default core.DefaultNamePrefix): a home
	// handles only the clusters and steps with its own prefix.
	NamePrefix string

	// SerialDispatch runs one Dispatch pass of a pool at a time in this process, and lets a pass
	// serve the requests made before it began (the local engine, where every task shares one
	// process). It removes interleavings only: the simulation checks the logic without it.
	SerialDispatch bool
	turns          *sync.Map
	// Background is the context of the work SerialDispatch does in the background (cancelled when
	// the process stops; nil: never); background counts that work under way (WaitBackground).
	Background context.Context
	background *sync.WaitGroup
}

// New returns a Service with a discarding logger and uuid run ids where those are left out.
func New(s Service) *Service {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	// Lines logged with a run's context carry its fields (scope).
	s.Log = slog.New(logs.Handler(s.Log.Handler()))
	if s.Metrics == nil {
		s.Metrics = metrics.Nop{}
	}
	if s.NewID == nil {
		s.NewID = uuid.NewString
	}
	if s.Clock == nil {
		s.Clock = sparkflow.SystemClock{}
	}
	if s.NamePrefix == "" {
		s.NamePrefix = core.DefaultNamePrefix
	}
	s.turns, s.background = &sync.Map{}, &sync.WaitGroup{}
	return &s
}

func (s *Service) now() time.Time { return s.Clock.Now().UTC() }

// conflictRetries bounds the read-modify-write loops on optimistic conflicts.
const conflictRetries = 20

// mutate reads a record, applies fn and writes the result, again on a version conflict (optimistic
// locking: every store write of runs, clusters and pools is conditional on the version read). fn
// returns false when nothing is to be written.
func mutate[T any](what string, get func() (T, error), put func(T) (T, error), fn func(*T) (bool, error)) (T, error) {
	return mutateFrom(what, func(bool) (T, bool, error) { v, err := get(); return v, false, err }, put, fn)
}

// mutateFrom is mutate whose first read may be of a record as last seen (get(true) reports whether
// what it returns may be stale): a write from it is checked by its version like any, and a decision
// made on it not to write (or to fail) is made again on the record read afresh.
func mutateFrom[T any](what string, get func(first bool) (T, bool, error), put func(T) (T, error), fn func(*T) (bool, error)) (T, error) {
	for i := 0; ; i++ {
		v, stale, err := get(i == 0)
		if err != nil {
			return v, err
		}
		write, err := fn(&v)
		if stale && (err != nil || !write) {
			if v, _, err = get(false); err != nil {
				return v, err
			}
			write, err = fn(&v)
		}
		if err != nil || !write {
			return v, err
		}
		out, err := put(v)
		if err == nil {
			return out, nil
		}
		if errors.Is(err, sparkflow.ErrNoSlot) || errors.Is(err, sparkflow.ErrHeld) {
			return v, err // a slot's conflict, not the record's: reading again changes nothing
		}
		if !sparkflow.IsCode(err, sparkflow.Conflict) || i >= conflictRetries {
			return v, fmt.Errorf("update %s: %w", what, err)
		}
	}
}

// cachedRuns is a Store that can give a run as it last read or wrote it, without asking the database
// (sqlitestore): it may be stale, which the version a write is made on catches.
type cachedRuns interface {
	GetRunCached(ctx context.Context, id string) (sparkflow.Run, error)
}

// getRun reads a run for a read-modify-write: the first read, from the store's cache when it keeps
// one (possibly stale: mutateFrom), the others afresh.
func (s *Service) getRun(ctx context.Context, id string, first bool) (sparkflow.Run, bool, error) {
	if c, ok := s.Store.(cachedRuns); ok && first {
		r, err := c.GetRunCached(ctx, id)
		return r, true, err
	}
	r, err := s.Store.GetRun(ctx, id)
	return r, false, err
}

// mutateRun is mutate for a run; the write that lands is observed (observeRun).
func (s *Service) mutateRun(ctx context.Context, id string, fn func(r *sparkflow.Run) (bool, error)) (sparkflow.Run, error) {
	return s.mutateRunSlot(ctx, id, func(r *sparkflow.Run) (bool, sparkflow.SlotChange, error) {
		write, err := fn(r)
		return write, sparkflow.SlotChange{}, err
	})
}

// mutateRunSlot is mutateRun whose fn may also change the run's slot, in the same write
// (Store.UpdateRunSlot): a grant written with the slot it takes, a run's end with the slot it frees.
// A slot that cannot be taken fails it with ErrNoSlot or ErrHeld, and nothing is written.
func (s *Service) mutateRunSlot(ctx context.Context, id string, fn func(r *sparkflow.Run) (bool, sparkflow.SlotChange, error)) (sparkflow.Run, error) {
	var before sparkflow.Run
	var ch sparkflow.SlotChange
	return mutateFrom("run "+id,
		func(first bool) (sparkflow.Run, bool, error) {
			r, stale, err := s.getRun(ctx, id, first)
			before = r
			before.History = r.History[:len(r.History):len(r.History)] // fn appends to a copy
			return r, stale, err
		},
		func(r sparkflow.Run) (sparkflow.Run, error) {
			r.UpdatedAt = s.now()
			var out sparkflow.Run
			var err error
			if ch == (sparkflow.SlotChange{}) {
				out, err = s.Store.UpdateRun(ctx, r)
			} else {
				out, err = s.Store.UpdateRunSlot(ctx, r, ch)
			}
			if err == nil {
				s.observeRun(ctx, before, out)
			}
			return out, err
		},
		func(r *sparkflow.Run) (bool, error) {
			var write bool
			var err error
			write, ch, err = fn(r)
			return write, err
		})
}

func (s *Service) mutateCluster(ctx context.Context, id string, fn func(c *sparkflow.Cluster) (bool, error)) (sparkflow.Cluster, error) {
	var before sparkflow.Cluster
	return mutate("cluster "+id,
		func() (sparkflow.Cluster, error) {
			c, err := s.Store.GetCluster(ctx, id)
			before = c
			return c, err
		},
		func(c sparkflow.Cluster) (sparkflow.Cluster, error) {
			out, err := s.Store.UpdateCluster(ctx, c)
			if err == nil {
				s.observeCluster(before, out)
			}
			return out, err
		}, fn)
}

func (s *Service) mutatePool(ctx context.Context, name string, fn func(p *sparkflow.Pool) bool) (sparkflow.Pool, error) {
	return mutate("pool "+name,
		func() (sparkflow.Pool, error) { return s.Store.GetPool(ctx, name) },
		func(p sparkflow.Pool) (sparkflow.Pool, error) {
			p.UpdatedAt = s.now()
			return s.Store.UpdatePool(ctx, p)
		},
		func(p *sparkflow.Pool) (bool, error) { return fn(p), nil })
}

// superseded says whether an invocation with fence f is older than the one that wrote the run's
// token (a late duplicate the workflow gave up on): it must change nothing. An invocation without a
// fence (an execution started before fences) is never superseded.
func superseded(r sparkflow.Run, f sparkflow.Fence) error {
	if f.Attempt == 0 {
		return nil
	}
	if f.Attempt < r.Attempt || (r.Fence != nil && f.Before(*r.Fence)) {
		return sparkflow.Errorf(sparkflow.Conflict, "run %s: this invocation (%+v) was superseded by a newer one (%+v, attempt %d); it changes nothing", r.ID, f, r.Fence, r.Attempt)
	}
	return nil
}

// resume sends output to a waiting workflow. A token that is no longer waited on (the workflow timed
// out or was restarted) is not an error for the caller: it is logged.
func (s *Service) resume(ctx context.Context, token string, output any) error {
	if token == "" {
		return nil
	}
	b, err := json.Marshal(output)
	if err != nil {
		return err
	}
	err = s.Callbacks.SendTaskSuccess(ctx, token, b)
	if sparkflow.IsCode(err, sparkflow.NotFound) {
		s.Log.InfoContext(ctx, "task token no longer waited on", "err", err)
		return nil
	}
	return err
}

// Scope returns ctx with r's log fields (run, attempt, pool, transform, cluster and step): every line
// logged with it says which run it concerns (logs.Handler adds them).
func Scope(ctx context.Context, r sparkflow.Run) context.Context { return scope(ctx, r) }

func scope(ctx context.Context, r sparkflow.Run) context.Context {
	return logs.With(ctx, "run_id", r.ID, "attempt", r.Attempt, "pool", r.Pool, "transform", r.Transform, "cluster_id", r.ClusterID, "step_id", r.StepID)
}
