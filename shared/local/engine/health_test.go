package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/front/httpapi"
	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/local/localtest"
	"github.com/sparkflow/sparkflow/shared/local/sqlitestore"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func health(t *testing.T, b sparkflow.Backend) (int, sparkflow.Health) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/health", nil)
	req.Host = "127.0.0.1" // the API serves loopback names only
	httpapi.NewServer(b, httpapi.Options{}).ServeHTTP(rec, req)
	var h sparkflow.Health
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
		t.Fatalf("GET /api/health: %d %s", rec.Code, rec.Body)
	}
	return rec.Code, h
}

func check(t *testing.T, h sparkflow.Health, name string) sparkflow.HealthCheck {
	t.Helper()
	for _, c := range h.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s check in %+v", name, h)
	return sparkflow.HealthCheck{}
}

// A healthy engine says so check by check: the database took a write, no event waits, the
// reconciler's start pass ended.
func TestHealthOfAHealthyEngine(t *testing.T) {
	e := localtest.New(t, nil)
	if _, err := e.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	code, h := health(t, e)
	if code != http.StatusOK || h.Status != sparkflow.HealthOK {
		t.Fatalf("%d %+v", code, h)
	}
	if c := check(t, h, "database"); !strings.Contains(c.Detail, "writable") {
		t.Errorf("database: %+v", c)
	}
	if c := check(t, h, "reconciler"); c.Status != sparkflow.HealthOK || !strings.Contains(c.Detail, "ago") {
		t.Errorf("reconciler: %+v", c)
	}
	check(t, h, "events")
	e.Drain(context.Background())
	if _, h := health(t, e); h.Status != sparkflow.HealthWarn || check(t, h, "engine").Status != sparkflow.HealthWarn {
		t.Errorf("a draining engine: %+v", h)
	}
}

// failingStore is the engine's SQLite store whose writes fail (a full disk).
type failingStore struct{ *sqlitestore.Store }

func (failingStore) Ping(context.Context) error { return errors.New("disk I/O error") }

// An engine whose database takes no writes is unhealthy: 503 with the reason.
func TestHealthOfAnEngineWhoseDatabaseFails(t *testing.T) {
	db, err := sqlitestore.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) // after the engine's own cleanup (cleanups run last first)
	e := localtest.New(t, func(c *engine.Config) { c.Store = failingStore{db}; c.ReconcileInterval = time.Hour })
	code, h := health(t, e)
	if code != http.StatusServiceUnavailable || h.Status != sparkflow.HealthFail || !strings.Contains(check(t, h, "database").Detail, "disk I/O error") {
		t.Fatalf("%d %+v", code, h)
	}
}

// Ping writes: on a closed database it fails.
func TestPingWrites(t *testing.T) {
	db, err := sqlitestore.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := db.Ping(context.Background()); err == nil {
		t.Fatal("Ping of a closed database succeeded")
	}
}
