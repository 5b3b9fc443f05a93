// Package backendtest is the contract every sparkflow.Backend passes: the local engine, the JSON API's
// client against a server, and the backend of a deployed AWS stack. It drives SparkFlow only through
// the face the CLI and the UI use, with `command` transforms (sh -c), so the same suite runs on every
// home. Call Run from a test of the implementation's package.
package backendtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Harness is one implementation under test.
type Harness struct {
	Backend sparkflow.Backend
	// Logs says the backend serves a run's step output (the local homes); a backend that does not must
	// say where the logs are instead.
	Logs bool
	// Wait bounds how long a pool takes to be ready or a short run to end (default 20 s).
	Wait time.Duration
}

func (h Harness) wait() time.Duration {
	if h.Wait == 0 {
		return 20 * time.Second
	}
	return h.Wait
}

// Run runs the suite. open may return a fresh backend for each test or the same one: every test
// names its pools and transforms uniquely.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Tiers", testTiers},
		{"Pools", testPools},
		{"Transforms", testTransforms},
		{"RunsEndWithTheStepsOutcome", testRunOutcomes},
		{"SubmitRefusesBadRequests", testSubmitErrors},
		{"ListRunsFilters", testListRuns},
		{"Cancel", testCancel},
		{"Logs", testLogs},
		{"DeleteWithActiveRuns", testDeleteWithActiveRuns},
		{"RejectedRequests", testRejected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// setup makes a ready pool of one cluster with two slots and a command transform on it.
func setup(t *testing.T, h Harness, tr sparkflow.Transform) (pool string, transform sparkflow.Transform) {
	t.Helper()
	pool = name("pool")
	ReadyPool(t, h.Backend, pool, 1, 2, h.wait())
	tr.Name, tr.Pool = name("tr"), pool
	if tr.Kind == "" {
		tr.Kind = sparkflow.KindCommand
	}
	out, err := h.Backend.CreateTransform(context.Background(), tr)
	if err != nil {
		t.Fatalf("create transform: %v", err)
	}
	return pool, out
}

func testTiers(t *testing.T, h Harness) {
	tiers, err := h.Backend.Tiers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tr := range tiers {
		if tr.Name == "tiny" {
			found = tr.StepConcurrency > 0 && len(tr.Primary.InstanceTypes) > 0
		}
	}
	if !found {
		t.Fatalf("the tiny tier is missing or empty in %+v", tiers)
	}
}

func testPools(t *testing.T, h Harness) {
	ctx := context.Background()
	b := h.Backend
	_, err := b.CreatePool(ctx, sparkflow.Pool{Name: name("pool"), Tier: "no-such-tier", Clusters: 1})
	mustCode(t, err, sparkflow.Invalid, "a pool of an unknown tier")
	if !strings.Contains(err.Error(), "tiny") {
		t.Errorf("the error should name the known tiers: %v", err)
	}
	_, err = b.CreatePool(ctx, sparkflow.Pool{Name: "Bad Name!", Tier: "tiny", Clusters: 1})
	mustCode(t, err, sparkflow.Invalid, "a pool with a bad name")
	p := name("pool")
	v := ReadyPool(t, b, p, 1, 2, h.wait())
	if v.Name != p || v.SlotsTotal != 2 || v.SlotsUsed != 0 || len(v.ClusterRecords) != 1 || v.Status != sparkflow.PoolReady {
		t.Fatalf("ready pool: %+v", v)
	}
	_, err = b.CreatePool(ctx, sparkflow.Pool{Name: p, Tier: "tiny", Clusters: 1})
	mustCode(t, err, sparkflow.Conflict, "a second pool of the same name")
	all, err := b.ListPools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, x := range all {
		listed = listed || x.Name == p
	}
	if !listed {
		t.Fatalf("pool %s not listed", p)
	}
	_, err = b.GetPool(ctx, name("nope"))
	mustCode(t, err, sparkflow.NotFound, "an unknown pool")
	// Healing a pool that lacks nothing changes nothing; an unknown one is not found.
	if err := b.HealPool(ctx, p); err != nil {
		t.Fatalf("heal a ready pool: %v", err)
	}
	if v, err := b.GetPool(ctx, p); err != nil || len(v.ClusterRecords) != v.Clusters || v.LaunchesHeld {
		t.Fatalf("after healing a ready pool: %+v %v", v, err)
	}
	mustCode(t, b.HealPool(ctx, name("nope")), sparkflow.NotFound, "healing an unknown pool")
	if err := b.DeletePool(ctx, p, false); err != nil {
		t.Fatal(err)
	}
	Eventually(t, h.wait(), "pool "+p+" gone", func() bool {
		_, err := b.GetPool(ctx, p)
		return sparkflow.IsCode(err, sparkflow.NotFound)
	})
}

func testTransforms(t *testing.T, h Harness) {
	ctx := context.Background()
	b := h.Backend
	_, err := b.CreateTransform(ctx, sparkflow.Transform{Name: name("tr"), Pool: name("nope"), Kind: sparkflow.KindCommand, Command: []string{"true"}})
	mustCode(t, err, sparkflow.NotFound, "a transform of an unknown pool")
	if field(err) != "pool" {
		t.Errorf("the error should name the field pool: %v", err)
	}
	pool, tr := setup(t, h, sparkflow.Transform{Command: Sh("echo ${greeting}"), Params: map[string]string{"greeting": "hi"}})
	if tr.MaxAttempts < 1 || tr.TimeoutSeconds < 1 || tr.QueueTimeoutSeconds < 1 {
		t.Fatalf("defaults not applied: %+v", tr)
	}
	_, err = b.CreateTransform(ctx, sparkflow.Transform{Name: tr.Name, Pool: pool, Kind: sparkflow.KindCommand, Command: []string{"true"}})
	mustCode(t, err, sparkflow.Conflict, "a second transform of the same name")
	got, err := b.GetTransform(ctx, tr.Name)
	if err != nil || got.Pool != pool || got.Params["greeting"] != "hi" {
		t.Fatalf("get: %+v %v", got, err)
	}
	got.Params = map[string]string{"greeting": "hello"}
	if _, err := b.UpdateTransform(ctx, got); err != nil {
		t.Fatal(err)
	}
	got, _ = b.GetTransform(ctx, tr.Name)
	if got.Params["greeting"] != "hello" {
		t.Fatalf("update did not stick: %+v", got)
	}
	list, err := b.ListTransforms(ctx, pool)
	if err != nil || len(list) != 1 || list[0].Name != tr.Name {
		t.Fatalf("list of pool %s: %+v %v", pool, list, err)
	}
	_, err = b.GetTransform(ctx, name("nope"))
	mustCode(t, err, sparkflow.NotFound, "an unknown transform")
	if err := b.DeleteTransform(ctx, tr.Name); err != nil {
		t.Fatal(err)
	}
	_, err = b.GetTransform(ctx, tr.Name)
	mustCode(t, err, sparkflow.NotFound, "a deleted transform")
}

func testRunOutcomes(t *testing.T, h Harness) {
	ctx := context.Background()
	b := h.Backend
	pool, ok := setup(t, h, sparkflow.Transform{Command: Sh("echo ran ${day}"), Params: map[string]string{"day": "x"}})
	bad := sparkflow.Transform{Name: name("tr"), Pool: pool, Kind: sparkflow.KindCommand, Command: Sh("exit 3"), MaxAttempts: 2}
	if _, err := b.CreateTransform(ctx, bad); err != nil {
		t.Fatal(err)
	}
	good, err := b.SubmitRun(ctx, sparkflow.RunRequest{Transform: ok.Name, Params: map[string]string{"day": "2026-11-24"}})
	if err != nil {
		t.Fatal(err)
	}
	failing, err := b.SubmitRun(ctx, sparkflow.RunRequest{Transform: bad.Name})
	if err != nil {
		t.Fatal(err)
	}
	r := WaitRun(t, b, good.ID, h.wait())
	if r.Status != sparkflow.RunSucceeded || r.Attempt != 1 || r.StepState != sparkflow.StepCompleted || r.Params["day"] != "2026-11-24" {
		t.Fatalf("good run: %+v", r)
	}
	// EventBridge does not order events: a step's RUNNING event may come after its COMPLETED one, and
	// then the run never shows RUNNING; its start is recorded when the event comes.
	Eventually(t, h.wait(), "the good run's start time", func() bool {
		r, _ = b.GetRun(ctx, good.ID)
		return r.StartedAt != nil
	})
	if r.EndedAt == nil || r.EndedAt.Before(*r.StartedAt) || r.StartedAt.Before(r.CreatedAt) || r.ReservedAt == nil || r.StartedAt.Before(*r.ReservedAt) {
		t.Fatalf("good run's times out of order: created %v reserved %v started %v ended %v", r.CreatedAt, r.ReservedAt, r.StartedAt, r.EndedAt)
	}
	var seen []string
	for _, tr := range r.History {
		if tr.Status == sparkflow.RunRunning {
			continue
		}
		if len(seen) == 0 || seen[len(seen)-1] != string(tr.Status) {
			seen = append(seen, string(tr.Status))
		}
	}
	if got := strings.Join(seen, " "); got != "QUEUED WAITING SUBMITTED SUCCEEDED" {
		t.Fatalf("good run's history %s", got)
	}
	f := WaitRun(t, b, failing.ID, h.wait())
	if f.Status != sparkflow.RunFailed || f.Attempt != 2 || !strings.Contains(f.Reason, "attempt 2 of 2") {
		t.Fatalf("failing run: %s attempt %d reason %q", f.Status, f.Attempt, f.Reason)
	}
}

func testSubmitErrors(t *testing.T, h Harness) {
	ctx := context.Background()
	b := h.Backend
	_, tr := setup(t, h, sparkflow.Transform{Command: Sh("true")})
	_, err := b.SubmitRun(ctx, sparkflow.RunRequest{Transform: name("nope")})
	mustCode(t, err, sparkflow.NotFound, "a run of an unknown transform")
	if field(err) != "transform" {
		t.Errorf("the error should name the field transform: %v", err)
	}
	_, err = b.SubmitRun(ctx, sparkflow.RunRequest{Transform: tr.Name, ID: "not-a-uuid"})
	mustCode(t, err, sparkflow.Invalid, "a run id that is not a UUID")
	_, err = b.GetRun(ctx, "6f1c2b8e-3d4a-4b5c-9d8e-000000000000")
	mustCode(t, err, sparkflow.NotFound, "an unknown run")
	// The same id twice is one run.
	id := "6f1c2b8e-3d4a-4b5c-9d8e-" + fmt.Sprintf("%012d", seq.Add(1))
	for i := 0; i < 2; i++ {
		if _, err := b.SubmitRun(ctx, sparkflow.RunRequest{ID: id, Transform: tr.Name}); err != nil {
			t.Fatalf("submit %d: %v", i+1, err)
		}
	}
	WaitRun(t, b, id, h.wait())
	runs, err := b.ListRuns(ctx, sparkflow.RunFilter{Transform: tr.Name})
	if err != nil || len(runs) != 1 || runs[0].ID != id {
		t.Fatalf("two submits of one id made %d runs (%v)", len(runs), err)
	}
}

func testListRuns(t *testing.T, h Harness) {
	ctx := context.Background()
	b := h.Backend
	_, tr := setup(t, h, sparkflow.Transform{Command: Sh("true")})
	var ids []string
	for i := 0; i < 3; i++ {
		r, err := b.SubmitRun(ctx, sparkflow.RunRequest{Transform: tr.Name})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
		WaitRun(t, b, r.ID, h.wait())
	}
	all, err := b.ListRuns(ctx, sparkflow.RunFilter{Transform: tr.Name})
	if err != nil || len(all) != 3 {
		t.Fatalf("list: %d runs, %v", len(all), err)
	}
	if all[0].ID != ids[2] || all[2].ID != ids[0] {
		t.Fatalf("runs not newest first: %s %s %s, submitted %v", all[0].ID, all[1].ID, all[2].ID, ids)
	}
	one, err := b.ListRuns(ctx, sparkflow.RunFilter{Transform: tr.Name, Limit: 1})
	if err != nil || len(one) != 1 || one[0].ID != ids[2] {
		t.Fatalf("limit 1: %+v %v", one, err)
	}
	ok, err := b.ListRuns(ctx, sparkflow.RunFilter{Transform: tr.Name, Status: sparkflow.RunSucceeded})
	if err != nil || len(ok) != 3 {
		t.Fatalf("status filter: %d %v", len(ok), err)
	}
	failed, err := b.ListRuns(ctx, sparkflow.RunFilter{Transform: tr.Name, Status: sparkflow.RunFailed})
	if err != nil || len(failed) != 0 {
		t.Fatalf("status FAILED: %d %v", len(failed), err)
	}
	active, err := b.ListRuns(ctx, sparkflow.RunFilter{Transform: tr.Name, Active: true})
	if err != nil || len(active) != 0 {
		t.Fatalf("active: %d %v", len(active), err)
	}
}

func testCancel(t *testing.T, h Harness) {
	ctx := context.Background()
	b := h.Backend
	_, tr := setup(t, h, sparkflow.Transform{Command: Sh("sleep 60")})
	r, err := b.SubmitRun(ctx, sparkflow.RunRequest{Transform: tr.Name})
	if err != nil {
		t.Fatal(err)
	}
	WaitStatus(t, b, r.ID, h.wait(), func(r sparkflow.Run) bool { return r.Status == sparkflow.RunRunning }, "to run")
	if _, err := b.CancelRun(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	done := WaitRun(t, b, r.ID, h.wait())
	if done.Status != sparkflow.RunCancelled {
		t.Fatalf("cancelled run ended %s: %s", done.Status, done.Reason)
	}
	_, err = b.CancelRun(ctx, r.ID)
	mustCode(t, err, sparkflow.Conflict, "cancelling an ended run")
}

func testLogs(t *testing.T, h Harness) {
	ctx := context.Background()
	b := h.Backend
	_, tr := setup(t, h, sparkflow.Transform{Command: Sh("echo to-stdout; echo to-stderr >&2")})
	r, err := b.SubmitRun(ctx, sparkflow.RunRequest{Transform: tr.Name})
	if err != nil {
		t.Fatal(err)
	}
	WaitRun(t, b, r.ID, h.wait())
	out, err := b.RunLogs(ctx, r.ID, sparkflow.LogQuery{Stream: "stdout"})
	if !h.Logs {
		mustCode(t, err, sparkflow.Invalid, "logs from a backend that does not serve them")
		if !strings.Contains(err.Error(), "s3://") {
			t.Fatalf("the error should say where the logs are: %v", err)
		}
		return
	}
	if err != nil || !strings.Contains(out, "to-stdout") || strings.Contains(out, "to-stderr") {
		t.Fatalf("stdout %q %v", out, err)
	}
	errOut, err := b.RunLogs(ctx, r.ID, sparkflow.LogQuery{Stream: "stderr"})
	if err != nil || !strings.Contains(errOut, "to-stderr") {
		t.Fatalf("stderr %q %v", errOut, err)
	}
	_, err = b.RunLogs(ctx, r.ID, sparkflow.LogQuery{Stream: "stdlog"})
	mustCode(t, err, sparkflow.Invalid, "an unknown log stream")
}

func testDeleteWithActiveRuns(t *testing.T, h Harness) {
	ctx := context.Background()
	b := h.Backend
	pool, tr := setup(t, h, sparkflow.Transform{Command: Sh("sleep 60")})
	r, err := b.SubmitRun(ctx, sparkflow.RunRequest{Transform: tr.Name})
	if err != nil {
		t.Fatal(err)
	}
	WaitStatus(t, b, r.ID, h.wait(), func(r sparkflow.Run) bool { return r.Status == sparkflow.RunRunning }, "to run")
	mustCode(t, b.DeleteTransform(ctx, tr.Name), sparkflow.Conflict, "deleting a transform with an active run")
	mustCode(t, b.DeletePool(ctx, pool, false), sparkflow.Conflict, "deleting a pool with an active run")
	if err := b.DeletePool(ctx, pool, true); err != nil {
		t.Fatalf("forced delete: %v", err)
	}
	done := WaitRun(t, b, r.ID, h.wait())
	if done.Status != sparkflow.RunCancelled {
		t.Fatalf("a run of a force-deleted pool ended %s", done.Status)
	}
	Eventually(t, h.wait(), "pool "+pool+" gone", func() bool {
		_, err := b.GetPool(ctx, pool)
		return sparkflow.IsCode(err, sparkflow.NotFound)
	})
}

// testRejected: the rejected requests are listed newest first, at most the limit (a home whose API
// refuses requests at once keeps none; the AWS home's scenario suite makes one and finds it listed).
func testRejected(t *testing.T, h Harness) {
	rs, err := h.Backend.ListRejected(context.Background(), 2)
	if err != nil {
		t.Fatalf("ListRejected: %v", err)
	}
	if len(rs) > 2 {
		t.Fatalf("ListRejected(2) gave %d", len(rs))
	}
	for i := 1; i < len(rs); i++ {
		if rs[i].At.After(rs[i-1].At) {
			t.Fatalf("not newest first: %+v", rs)
		}
	}
}
