package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/front/httpapi"
	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/local/localtest"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func setup(t *testing.T) (*httptest.Server, *httpapi.Client) {
	t.Helper()
	e := localtest.New(t, func(c *engine.Config) { c.ProvisionDelay = 20 * time.Millisecond })
	srv := httptest.NewServer(httpapi.NewServer(e, httpapi.Options{}))
	t.Cleanup(srv.Close)
	return srv, httpapi.NewClient(srv.URL)
}

type call struct {
	method, path, body string
	header             map[string]string
}

func do(t *testing.T, srv *httptest.Server, c call) (int, httpapi.ErrorBody, string) {
	t.Helper()
	req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
	if c.method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var eb httpapi.ErrorBody
	json.Unmarshal(raw, &eb)
	return resp.StatusCode, eb, string(raw)
}

func TestGuards(t *testing.T) {
	srv, _ := setup(t)
	pool := `{"name":"p","tier":"tiny","clusters":1}`
	tests := []struct {
		name   string
		call   call
		status int
		msg    string
	}{
		{"foreign host (DNS rebinding)", call{"GET", "/api/pools", "", map[string]string{"Host": "evil.example:8080"}}, 403, "not served here"},
		{"cross-origin post", call{"POST", "/api/pools", pool, map[string]string{"Origin": "http://evil.example"}}, 403, "cross-origin"},
		{"cross-site fetch", call{"POST", "/api/pools", pool, map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403, "cross-site"},
		{"form post", call{"POST", "/api/pools", "name=p", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, "application/json"},
		{"text/plain post", call{"POST", "/api/runs/x/cancel", "", map[string]string{"Content-Type": "text/plain"}}, 415, "application/json"},
		{"too large", call{"POST", "/api/pools", `{"name":"` + strings.Repeat("x", httpapi.MaxBody) + `"}`, nil}, 413, "over"},
		{"unknown field", call{"POST", "/api/pools", `{"name":"p","tier":"tiny","clusters":1,"size":3}`, nil}, 400, `unknown field "size"`},
		{"trailing data", call{"POST", "/api/pools", pool + pool, nil}, 400, "after the JSON"},
		{"unknown route", call{"GET", "/api/nope", "", nil}, 404, "no API route"},
		{"absurdly many applications", call{"POST", "/api/pools", `{"name":"p","tier":"tiny","clusters":1,"applications":[` + strings.Repeat(`"Spark",`, 100000) + `"Spark"]}`, nil}, 400, "at most 32 applications, got 100001"},
		{"too many applications", call{"POST", "/api/pools", `{"name":"p","tier":"tiny","clusters":1,"applications":[` + strings.Repeat(`"Spark",`, 40) + `"Spark"]}`, nil}, 400, "at most 32 applications"},
		{"too many parameters", call{"POST", "/api/runs", `{"transform":"t","params":{` + manyParams(101) + `}}`, nil}, 400, "at most 100 parameters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, eb, raw := do(t, srv, tc.call)
			if status != tc.status || !strings.Contains(eb.Error.Message, tc.msg) {
				t.Fatalf("status %d body %s; want %d with %q", status, raw, tc.status, tc.msg)
			}
		})
	}
	// Media types are case-insensitive.
	if status, _, raw := do(t, srv, call{"POST", "/api/pools", `{"name":"upper","tier":"tiny","clusters":1}`, map[string]string{"Content-Type": "APPLICATION/JSON; charset=UTF-8"}}); status != 201 {
		t.Fatalf("APPLICATION/JSON: %d %s", status, raw)
	}
	// Same origin is fine.
	if status, _, raw := do(t, srv, call{"GET", "/api/pools", "", map[string]string{"Origin": srv.URL}}); status != 200 {
		t.Fatalf("same-origin GET: %d %s", status, raw)
	}
}

func TestValidationErrorsNameTheField(t *testing.T) {
	srv, _ := setup(t)
	tests := []struct {
		name  string
		call  call
		code  int
		field string
		msg   string
	}{
		{"unknown tier", call{"POST", "/api/pools", `{"name":"p","tier":"huge","clusters":1}`, nil}, 400, "tier", `unknown tier "huge"; known tiers: large, medium, small, tiny, xlarge`},
		{"missing tier", call{"POST", "/api/pools", `{"name":"p","clusters":1}`, nil}, 400, "tier", "is required"},
		{"bad cluster count", call{"POST", "/api/pools", `{"name":"p","tier":"tiny","clusters":0}`, nil}, 400, "clusters", "between 1 and 100"},
		{"transform of a missing pool", call{"POST", "/api/transforms", `{"name":"t","pool":"nope","command":["true"]}`, nil}, 404, "pool", `pool "nope" does not exist`},
		{"run of a missing transform", call{"POST", "/api/runs", `{"transform":"nope"}`, nil}, 404, "transform", `transform "nope" does not exist`},
		{"bad status filter", call{"GET", "/api/runs?status=DONE", "", nil}, 400, "status", "not a run status"},
		{"missing run", call{"GET", "/api/runs/123", "", nil}, 404, "", "not found"},
		{"absurd rejected limit", call{"GET", "/api/rejected?limit=5000", "", nil}, 400, "limit", "from 1 to 1000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, eb, raw := do(t, srv, tc.call)
			if status != tc.code || eb.Error.Field != tc.field || !strings.Contains(eb.Error.Message, tc.msg) {
				t.Fatalf("status %d body %s; want %d field %q message ~ %q", status, raw, tc.code, tc.field, tc.msg)
			}
		})
	}
}

func TestClientRoundTrip(t *testing.T) {
	_, c := setup(t)
	ctx := context.Background()
	if _, err := c.CreatePool(ctx, sparkflow.Pool{Name: "p", Tier: "tiny", Clusters: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreatePool(ctx, sparkflow.Pool{Name: "p", Tier: "tiny", Clusters: 1}); !sparkflow.IsCode(err, sparkflow.Conflict) {
		t.Fatalf("second create: want a conflict, got %v", err)
	}
	if _, err := c.CreateTransform(ctx, sparkflow.Transform{Name: "t", Pool: "p", Command: []string{"/bin/sh", "-c", "echo out-${x}; echo err >&2"}, Params: map[string]string{"x": "1"}}); err != nil {
		t.Fatal(err)
	}
	r, err := c.SubmitRun(ctx, sparkflow.RunRequest{Transform: "t", Params: map[string]string{"x": "42"}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !r.Status.Terminal() {
		if time.Now().After(deadline) {
			t.Fatalf("run did not end: %+v", r)
		}
		time.Sleep(50 * time.Millisecond)
		if r, err = c.GetRun(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if r.Status != sparkflow.RunSucceeded || r.LogURI == "" {
		t.Fatalf("run %+v", r)
	}
	out, err := c.RunLogs(ctx, r.ID, sparkflow.LogQuery{Stream: "stdout"})
	if err != nil || strings.TrimSpace(out) != "out-42" {
		t.Fatalf("stdout %q %v", out, err)
	}
	if tail, _ := c.RunLogs(ctx, r.ID, sparkflow.LogQuery{Stream: "stderr", Tail: 2}); tail != "r\n" {
		t.Fatalf("stderr tail %q", tail)
	}
	if _, err := c.RunLogs(ctx, r.ID, sparkflow.LogQuery{Stream: "syslog"}); !sparkflow.IsCode(err, sparkflow.Invalid) {
		t.Fatalf("bad stream: %v", err)
	}
	runs, err := c.ListRuns(ctx, sparkflow.RunFilter{Transform: "t", Status: sparkflow.RunSucceeded})
	if err != nil || len(runs) != 1 {
		t.Fatalf("ListRuns = %d, %v", len(runs), err)
	}
	if _, err := c.CancelRun(ctx, r.ID); !sparkflow.IsCode(err, sparkflow.Conflict) {
		t.Fatalf("cancel of an ended run: %v", err)
	}
	tr, _ := c.GetTransform(ctx, "t")
	tr.MaxAttempts = 3
	if tr, err = c.UpdateTransform(ctx, tr); err != nil || tr.MaxAttempts != 3 {
		t.Fatalf("update: %+v %v", tr, err)
	}
	if err := c.DeleteTransform(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePool(ctx, "p", false); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		_, err := c.GetPool(ctx, "p")
		if sparkflow.IsCode(err, sparkflow.NotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool not removed after delete: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	unreachable := httpapi.NewClient("http://127.0.0.1:1")
	if _, err := unreachable.ListPools(ctx); !sparkflow.IsCode(err, sparkflow.Transient) || !strings.Contains(err.Error(), "sparkflow local") {
		t.Fatalf("unreachable server: %v", err)
	}
}

func manyParams(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"p%d":"v"`, i)
	}
	return b.String()
}

// A client's mistake, an oversized body included, is answered as such and never logged as a server
// error.
func TestClientErrorsAreNotLoggedAsErrors(t *testing.T) {
	var logged bytes.Buffer
	e := localtest.New(t, nil)
	srv := httptest.NewServer(httpapi.NewServer(e, httpapi.Options{Log: slog.New(slog.NewTextHandler(&logged, nil))}))
	defer srv.Close()
	status, _, _ := do(t, srv, call{"POST", "/api/pools", `{"name":"` + strings.Repeat("x", httpapi.MaxBody) + `"}`, nil})
	if status != 413 {
		t.Fatalf("oversized body: %d", status)
	}
	if strings.Contains(logged.String(), "level=ERROR") {
		t.Fatalf("an oversized body was logged as a server error: %s", logged.String())
	}
}
