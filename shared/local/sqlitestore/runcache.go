package sqlitestore

import (
	"sync"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// runCache keeps the runs this store read or wrote last, decoded, by id with the version their row
// had. A read still asks the database for the row's version (one small read), and decodes the run's
// document only when that version is not the one kept: a write from anywhere (another process on the
// same database included) changes the version, so what is kept is never served stale. Decoding the
// whole record was most of a read's cost, and a run is read about a dozen times in its life.
//
// Runs go in and out as clones (sparkflow.Run.Clone): no caller shares memory with the cache.
type runCache struct {
	mu   sync.Mutex
	runs map[string]cachedRun
}

type cachedRun struct {
	version int64
	run     sparkflow.Run
}

// runCacheSize bounds the runs kept; past it the cache starts again empty (the runs under way are
// read again, once each).
const runCacheSize = 20000

// get returns the run kept for id and its version (version -1 when none is kept).
func (c *runCache) get(id string) (sparkflow.Run, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.runs[id]
	if !ok {
		return sparkflow.Run{}, -1
	}
	return e.run, e.version
}

// put keeps r as the run of version, unless a later version is kept already. What it keeps is r as
// its document decodes (asDecoded); a run that would not decode the same is not kept.
func (c *runCache) put(r sparkflow.Run, version int64) {
	r, ok := asDecoded(r)
	if !ok {
		c.mu.Lock()
		delete(c.runs, r.ID)
		c.mu.Unlock()
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.runs[r.ID]; ok && e.version > version {
		return
	}
	if c.runs == nil || len(c.runs) >= runCacheSize {
		c.runs = make(map[string]cachedRun, 1024)
	}
	c.runs[r.ID] = cachedRun{version: version, run: r}
}

// asDecoded returns a clone of r as its JSON document decodes, so that a run kept from a write is the
// run a read of that write would return: times without their monotonic reading and in UTC, and empty
// optional lists and maps (omitted from the document) nil. A time with another offset would decode in
// a zone of Parse's choosing: such a run is not kept (ok false). TestAsDecodedIsTheDecodedRun checks
// this against the document's own round trip.
func asDecoded(r sparkflow.Run) (sparkflow.Run, bool) {
	c := r.Clone()
	ok := true
	utc := func(t *time.Time) {
		if t == nil {
			return
		}
		if _, off := t.Zone(); off != 0 {
			ok = false
		}
		*t = t.Round(0).UTC()
	}
	utc(&c.CreatedAt)
	utc(&c.UpdatedAt)
	for _, t := range []*time.Time{c.ScheduledFor, c.ReleasedAt, c.ReservedAt, c.StartedAt, c.EndedAt} {
		utc(t)
	}
	if c.Submitting != nil {
		utc(&c.Submitting.At)
	}
	for i := range c.History {
		utc(&c.History[i].At)
	}
	if len(c.Params) == 0 {
		c.Params = nil
	}
	if len(c.Values) == 0 {
		c.Values = nil
	}
	if len(c.After) == 0 {
		c.After = nil
	}
	if len(c.WaitsFor) == 0 {
		c.WaitsFor = nil
	}
	if len(c.Dependents) == 0 {
		c.Dependents = nil
	}
	return c, ok
}
