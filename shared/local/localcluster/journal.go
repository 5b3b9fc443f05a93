package localcluster

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// The clusters' state lives in an append-only journal, one JSON line per write of a cluster (without
// its steps) or of one step: a step's state change appends one short line instead of rewriting every
// cluster with its whole step history. Open replays it (the last line of a record wins) and compacts
// it: the journal is rewritten with what is kept (the clusters, their pending and running steps, and
// the newest maxStepsKept ended ones), as it is again whenever it has grown to several times that.
//
// A line cut short by a crash (the last one) is dropped at Open; the change it was writing is one the
// events of which were not sent yet either. Lines are written with one write(2) each, not synced:
// they survive the engine's kill -9 (the kernel has them), as the state file before them did.

const (
	journalName = "clusters.journal"
	// legacyStateName is the whole-state file of earlier versions, read once and replaced.
	legacyStateName = "clusters.json"
	// compactFloor: the journal is compacted once it has this many lines and four times what it
	// keeps.
	compactFloor = 20000
)

type journalRecord struct {
	Cluster   *cluster `json:"cluster,omitempty"`
	ClusterID string   `json:"clusterId,omitempty"`
	Step      *step    `json:"step,omitempty"`
}

type journal struct {
	path  string
	f     *os.File
	lines int
	kept  int
	buf   bytes.Buffer
}

func (c *Clusters) journalPath() string { return filepath.Join(c.cfg.Dir, journalName) }

// load reads the clusters' state: the journal, or the whole-state file of an earlier version (once),
// then writes a compacted journal and opens it for appending.
func (c *Clusters) load() error {
	legacy := filepath.Join(c.cfg.Dir, legacyStateName)
	if data, err := os.ReadFile(legacy); err == nil {
		if err := json.Unmarshal(data, &c.state); err != nil {
			return fmt.Errorf("local clusters: state file %s is damaged: %w", legacy, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("local clusters: %w", err)
	} else if err := c.replay(); err != nil {
		return err
	}
	for _, cl := range c.state.Clusters {
		c.index(cl)
	}
	c.jr = &journal{path: c.journalPath()}
	if err := c.compact(); err != nil {
		return err
	}
	if err := os.Remove(legacy); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("local clusters: remove the old state file: %w", err)
	}
	return nil
}

// replay reads the journal's lines into c.state.
func (c *Clusters) replay() error {
	f, err := os.Open(c.journalPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("local clusters: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	steps := map[string]map[string]int{} // cluster id → step id → index in its Steps
	var bad error
	for n := 1; sc.Scan(); n++ {
		if bad != nil {
			return bad // a damaged line that is not the last one
		}
		var rec journalRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			bad = fmt.Errorf("local clusters: journal %s is damaged at line %d: %w (move it away to start with no clusters)", c.journalPath(), n, err)
			continue
		}
		switch {
		case rec.Cluster != nil:
			if old := c.state.Clusters[rec.Cluster.ID]; old != nil {
				rec.Cluster.Steps = old.Steps
			}
			c.state.Clusters[rec.Cluster.ID] = rec.Cluster
		case rec.Step != nil:
			cl := c.state.Clusters[rec.ClusterID]
			if cl == nil {
				continue
			}
			idx := steps[cl.ID]
			if idx == nil {
				idx = map[string]int{}
				steps[cl.ID] = idx
			}
			if i, ok := idx[rec.Step.ID]; ok && i < len(cl.Steps) && cl.Steps[i].ID == rec.Step.ID {
				cl.Steps[i] = rec.Step
			} else {
				idx[rec.Step.ID] = len(cl.Steps)
				cl.Steps = append(cl.Steps, rec.Step)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("local clusters: read journal: %w", err)
	}
	if bad != nil {
		c.cfg.Log.Warn("local clusters: the journal's last line was cut short (a crash while writing it); it is dropped", "err", bad)
	}
	return nil
}

// index builds a cluster's lookups (by id, pending queue, running count), keeping at most
// maxStepsKept ended steps.
func (c *Clusters) index(cl *cluster) {
	cl.byID = make(map[string]*step, len(cl.Steps))
	cl.pending, cl.nrunning = nil, 0
	ended := 0
	for _, st := range cl.Steps {
		if st.State.Terminal() {
			ended++
		}
	}
	kept := cl.Steps[:0]
	for _, st := range cl.Steps {
		if st.State.Terminal() && ended > maxStepsKept {
			ended--
			continue
		}
		kept = append(kept, st)
		cl.byID[st.ID] = st
		switch st.State {
		case sparkflow.StepPending:
			cl.pending = append(cl.pending, st)
		case sparkflow.StepRunning, sparkflow.StepCancelPending:
			cl.nrunning++
		}
	}
	for i := len(kept); i < len(cl.Steps); i++ {
		cl.Steps[i] = nil
	}
	cl.Steps = kept
}

// compact rewrites the journal with what is kept, atomically, and opens it for appending. Called with
// mu held (or before the clusters are shared).
func (c *Clusters) compact() error {
	jr := c.jr
	tmp := jr.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("local clusters: compact the journal: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	lines := 0
	for _, cl := range c.sorted() {
		if err := enc.Encode(journalRecord{Cluster: clusterOnly(cl)}); err != nil {
			f.Close()
			return err
		}
		lines++
		for _, st := range cl.Steps {
			if err := enc.Encode(journalRecord{ClusterID: cl.ID, Step: st}); err != nil {
				f.Close()
				return err
			}
			lines++
		}
	}
	if err := errors.Join(w.Flush(), f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("local clusters: compact the journal: %w", err)
	}
	if err := os.Rename(tmp, jr.path); err != nil {
		return fmt.Errorf("local clusters: compact the journal: %w", err)
	}
	if jr.f != nil {
		jr.f.Close()
	}
	jr.f, err = os.OpenFile(jr.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("local clusters: open the journal: %w", err)
	}
	jr.lines, jr.kept = lines, lines
	return nil
}

// clusterOnly is a cluster's record without its steps (which have lines of their own).
func clusterOnly(cl *cluster) *cluster {
	cp := *cl
	cp.Steps, cp.byID, cp.pending = nil, nil, nil
	return &cp
}

// append writes one record as one line. Called with mu held.
func (c *Clusters) append(rec journalRecord) error {
	jr := c.jr
	if jr == nil || jr.f == nil {
		return errors.New("local clusters: the journal is closed")
	}
	jr.buf.Reset()
	if err := json.NewEncoder(&jr.buf).Encode(rec); err != nil {
		return err
	}
	if _, err := jr.f.Write(jr.buf.Bytes()); err != nil {
		return fmt.Errorf("local clusters: write the journal: %w", err)
	}
	jr.lines++
	return nil
}

// tidy trims cl's ended steps beyond maxStepsKept (when there are twice as many) and compacts the
// journal when it has grown to four times what it keeps: both amortized O(1) per step. Called with mu
// held, from AddStep only (never while a loop walks a cluster's steps).
func (c *Clusters) tidy(cl *cluster) error {
	if len(cl.Steps) > 2*maxStepsKept {
		c.index(cl)
	}
	if jr := c.jr; jr.lines > compactFloor && jr.lines > 4*jr.kept {
		return c.compact()
	}
	return nil
}

// putCluster journals a cluster's own fields; putStep one step. Called with mu held.
func (c *Clusters) putCluster(cl *cluster) error {
	return c.append(journalRecord{Cluster: clusterOnly(cl)})
}

func (c *Clusters) putStep(cl *cluster, st *step) error {
	return c.append(journalRecord{ClusterID: cl.ID, Step: st})
}

func (c *Clusters) putClusterOrLog(cl *cluster) {
	if err := c.putCluster(cl); err != nil {
		c.cfg.Log.Error("local clusters: journal a cluster", "cluster_id", cl.ID, "err", err)
	}
}

func (c *Clusters) putStepOrLog(cl *cluster, st *step) {
	if err := c.putStep(cl, st); err != nil {
		c.cfg.Log.Error("local clusters: journal a step", "cluster_id", cl.ID, "step_id", st.ID, "err", err)
	}
}

func (jr *journal) close() error {
	if jr == nil || jr.f == nil {
		return nil
	}
	err := jr.f.Close()
	jr.f = nil
	return err
}
