package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func (s *Store) CreateCluster(ctx context.Context, c sparkflow.Cluster) error {
	c.Reservations, c.FreedAt = nil, nil // kept beside the record, as the store's Release sets them
	c.Version = 1
	_, err := s.wr.exec(ctx, `INSERT INTO clusters(id, pool, version, data) VALUES(?, ?, 1, ?)`, c.ID, c.Pool, marshal(c))
	if sparkflow.IsCode(classify("", err), sparkflow.Conflict) {
		return sparkflow.Errorf(sparkflow.Conflict, "cluster %s exists already", c.ID)
	}
	return classify("create cluster", err)
}

func (s *Store) UpdateCluster(ctx context.Context, c sparkflow.Cluster) (sparkflow.Cluster, error) {
	res, freed := c.Reservations, c.FreedAt
	old := c.Version
	c.Version++
	c.Reservations, c.FreedAt = nil, nil
	r, err := s.wr.exec(ctx, `UPDATE clusters SET data = ?, version = ? WHERE id = ? AND version = ?`, marshal(c), c.Version, c.ID, old)
	c.Reservations, c.FreedAt = res, freed
	if err != nil {
		return c, classify("update cluster", err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		if _, err := s.GetCluster(ctx, c.ID); err != nil {
			return c, err
		}
		return c, sparkflow.Errorf(sparkflow.Conflict, "cluster %s changed since version %d", c.ID, old)
	}
	return c, nil
}

// A cluster's row keeps, beside its record, the runs that hold its slots (held: run ids in the order
// they reserved, one a line). The reservations table is the truth (one row a run, what Reserve and
// Release check); held is its copy, written in the same transaction as every reservation's change and
// rebuilt from the table when the database is opened, so that a listing of the clusters reads one row
// a cluster instead of one a slot (a pool of 3 clusters × 64 slots is listed several times a run).

func splitHeld(held string) []string {
	if held == "" {
		return []string{}
	}
	return strings.Split(held, "\n")
}

// hold appends runID to clusterID's held runs. Called in the writer, with the reservation's insert.
func hold(ctx context.Context, x execer, clusterID, runID string) error {
	_, err := x.exec(ctx, `UPDATE clusters SET held = CASE held WHEN '' THEN ? ELSE held || char(10) || ? END WHERE id = ?`, runID, runID, clusterID)
	return err
}

// unhold removes runID from clusterID's held runs. Called in the writer, with the reservation's delete.
func unhold(ctx context.Context, x execer, clusterID, runID string) error {
	var held string
	if err := x.queryRow(ctx, `SELECT held FROM clusters WHERE id = ?`, clusterID).Scan(&held); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	}
	ids := splitHeld(held)
	kept := ids[:0]
	for _, id := range ids {
		if id != runID {
			kept = append(kept, id)
		}
	}
	_, err := x.exec(ctx, `UPDATE clusters SET held = ? WHERE id = ?`, strings.Join(kept, "\n"), clusterID)
	return err
}

// rebuildHeld writes every cluster's held runs from the reservations table (at Open: a database an
// older SparkFlow wrote has reservations and no copy of them).
func rebuildHeld(db *sql.DB) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := tx.Query(`SELECT cluster_id, run_id FROM reservations ORDER BY cluster_id, at, run_id`)
	if err != nil {
		return err
	}
	held := map[string][]string{}
	for rows.Next() {
		var cid, rid string
		if err := rows.Scan(&cid, &rid); err != nil {
			rows.Close()
			return err
		}
		held[cid] = append(held[cid], rid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if _, err := tx.Exec(`UPDATE clusters SET held = '' WHERE held != ''`); err != nil {
		return err
	}
	for cid, ids := range held {
		if _, err := tx.Exec(`UPDATE clusters SET held = ? WHERE id = ?`, strings.Join(ids, "\n"), cid); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// clusterRow is how a cluster is read: its record, the runs holding its slots and when a slot of it
// was last freed.
const clusterRow = `SELECT c.data, c.held, f.at FROM clusters c LEFT JOIN freed f ON f.cluster_id = c.id`

func (s *Store) scanCluster(scan func(...any) error) (sparkflow.Cluster, error) {
	var c sparkflow.Cluster
	var data, held string
	var freed sql.NullInt64
	if err := scan(&data, &held, &freed); err != nil {
		return c, err
	}
	c, err := s.docs.cluster(data)
	if err != nil {
		return c, err
	}
	c.Reservations = splitHeld(held)
	if freed.Valid {
		t := time.Unix(0, freed.Int64).UTC()
		c.FreedAt = &t
	}
	return c, nil
}

func (s *Store) GetCluster(ctx context.Context, id string) (sparkflow.Cluster, error) {
	c, err := s.scanCluster(s.r.queryRow(ctx, clusterRow+` WHERE c.id = ?`, id).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return c, notFound("cluster", id)
	}
	if err != nil {
		return c, classify("get cluster", err)
	}
	return c, nil
}

func (s *Store) ListClusters(ctx context.Context, pool string) ([]sparkflow.Cluster, error) {
	q, args := clusterRow+` ORDER BY c.id`, []any{}
	if pool != "" {
		q, args = clusterRow+` WHERE c.pool = ? ORDER BY c.id`, []any{pool}
	}
	crows, err := s.r.query(ctx, q, args...)
	if err != nil {
		return nil, classify("list clusters", err)
	}
	defer crows.Close()
	cs := []sparkflow.Cluster{}
	for crows.Next() {
		c, err := s.scanCluster(crows.Scan)
		if err != nil {
			return nil, classify("list clusters", err)
		}
		cs = append(cs, c)
	}
	if err := crows.Err(); err != nil {
		return nil, classify("list clusters", err)
	}
	return cs, nil
}

func (s *Store) DeleteCluster(ctx context.Context, id string) error {
	res, err := s.wr.exec(ctx, `DELETE FROM clusters WHERE id = ?`, id)
	if err := affected("cluster", id, res, err); err != nil {
		return err
	}
	if _, err = s.wr.exec(ctx, `DELETE FROM reservations WHERE cluster_id = ?`, id); err != nil {
		return classify("delete reservations", err)
	}
	_, err = s.wr.exec(ctx, `DELETE FROM freed WHERE cluster_id = ?`, id)
	return classify("delete cluster freed", err)
}

// clusterDocs keeps the clusters' documents decoded, by their text: a pool's clusters are listed
// several times a run (every look for a slot) and change far less often, and decoding them was most
// of a listing's cost. Keyed by the document itself, nothing kept can be stale; the copy returned
// shares no memory with what is kept.
type clusterDocs struct {
	mu   sync.Mutex
	docs map[string]sparkflow.Cluster
}

// clusterDocsSize bounds the documents kept; past it, it starts again empty.
const clusterDocsSize = 4096

func (d *clusterDocs) cluster(data string) (sparkflow.Cluster, error) {
	d.mu.Lock()
	c, ok := d.docs[data]
	d.mu.Unlock()
	if !ok {
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return c, err
		}
		d.mu.Lock()
		if d.docs == nil || len(d.docs) >= clusterDocsSize {
			d.docs = make(map[string]sparkflow.Cluster, 64)
		}
		d.docs[data] = c
		d.mu.Unlock()
	}
	// The kept record's pointers and lists are copied.
	for _, t := range []**time.Time{&c.ReadyAt, &c.EndedAt, &c.FreedAt} {
		if *t != nil {
			v := **t
			*t = &v
		}
	}
	c.Reservations = append([]string(nil), c.Reservations...)
	c.Instances = append([]sparkflow.InstanceCount(nil), c.Instances...)
	if len(c.Instances) == 0 {
		c.Instances = nil
	}
	return c, nil
}
