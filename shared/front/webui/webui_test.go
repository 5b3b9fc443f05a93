package webui_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/front/backfill"
	"github.com/sparkflow/sparkflow/shared/front/httpapi"
	"github.com/sparkflow/sparkflow/shared/front/webui"
	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/local/localtest"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

type fixture struct {
	srv *httptest.Server
	e   *engine.Engine
	c   *http.Client
}

func setup(t *testing.T) *fixture {
	t.Helper()
	e := localtest.New(t, func(c *engine.Config) { c.ProvisionDelay = 20 * time.Millisecond })
	mux := http.NewServeMux()
	mux.Handle("/api/", httpapi.NewServer(e, httpapi.Options{}))
	mux.Handle("/", webui.New(e, webui.Options{Logs: true}))
	srv := httptest.NewServer(mux)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(srv.Close)
	return &fixture{srv, e, c}
}

func (f *fixture) get(t *testing.T, path string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var tokenRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]{64})"`)

// post submits a form with the page's CSRF token (from the cookie set by an earlier GET).
func (f *fixture) post(t *testing.T, path string, form url.Values) (int, string, string) {
	t.Helper()
	_, page := f.get(t, "/clusters/new")
	m := tokenRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token in the form")
	}
	form.Set("csrf", m[1])
	resp, err := f.c.PostForm(f.srv.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

func (f *fixture) readyPool(t *testing.T) {
	t.Helper()
	status, loc, body := f.post(t, "/clusters", url.Values{"name": {"etl"}, "tier": {"tiny"}, "clusters": {"2"}, "stepConcurrency": {"2"}, "tags": {"team=data"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/clusters?msg=") {
		t.Fatalf("create pool: %d %s %s", status, loc, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := f.e.GetPool(context.Background(), "etl")
		if err == nil && p.Status == sparkflow.PoolReady {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("pool not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEveryPageRenders(t *testing.T) {
	f := setup(t)
	f.readyPool(t)
	ctx := context.Background()
	f.e.CreateTransform(ctx, sparkflow.Transform{Name: "t", Pool: "etl", Command: []string{"echo", "${x}"}, Params: map[string]string{"x": "1"}, Description: "<script>alert(1)</script>"})
	r, _ := f.e.SubmitRun(ctx, sparkflow.RunRequest{Transform: "t"})
	for _, tc := range []struct{ path, want string }{
		{"/clusters", "Runs per cluster over time"},
		{"/clusters/new", "Create pool"},
		{"/clusters/new?from=etl", `value="etl-copy"`},
		{"/transforms", `href="/transforms/t"`},
		{"/transforms/new", "Save transform"},
		{"/transforms/t", "command-runner.jar echo 1"},
		{"/transforms/t/edit", "Edit transform t"},
		{"/runs", r.ID[:8]},
		{"/runs?transform=t&status=QUEUED", "Job Runs"},
		{"/runs/" + r.ID, r.ID},
	} {
		status, body := f.get(t, tc.path)
		if status != 200 || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d, want 200 with %q", tc.path, status, tc.want)
		}
		if strings.Contains(body, "<script>alert(1)") {
			t.Errorf("GET %s: a description was not escaped", tc.path)
		}
	}
	if status, body := f.get(t, "/transforms/t"); status != 200 || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatalf("escaped description missing: %d", status)
	}
	if status, _ := f.get(t, "/"); status != http.StatusSeeOther {
		t.Fatalf("/ → %d, want a redirect to /clusters", status)
	}
	for _, p := range []string{"/runs/nope", "/transforms/nope", "/clusters/new?from=nope"} {
		if status, body := f.get(t, p); status != 404 || !strings.Contains(body, "not found") {
			t.Errorf("GET %s: %d", p, status)
		}
	}
	if status, _ := f.get(t, "/runs?status=DONE"); status != 400 {
		t.Errorf("bad status filter: %d", status)
	}
}

func TestLiveFragmentAndHeaders(t *testing.T) {
	f := setup(t)
	status, body := f.get(t, "/clusters", "X-Live", "1")
	if status != 200 || strings.Contains(body, "<html") || !strings.Contains(body, "No pool yet") {
		t.Fatalf("live fragment: %d %q", status, body)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/clusters", nil)
	resp, _ := f.c.Do(req)
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP = %q", csp)
	}
	if status, body := f.get(t, "/static/app.js"); status != 200 || !strings.Contains(body, "X-Live") {
		t.Fatalf("app.js: %d", status)
	}
}

func TestFormsAreProtected(t *testing.T) {
	f := setup(t)
	// No token.
	resp, _ := f.c.PostForm(f.srv.URL+"/clusters", url.Values{"name": {"x"}, "tier": {"tiny"}, "clusters": {"1"}})
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("post without a token: %d", resp.StatusCode)
	}
	// Cross-origin, even with a token.
	f.get(t, "/clusters")
	_, page := f.get(t, "/clusters/new")
	tok := tokenRE.FindStringSubmatch(page)[1]
	req, _ := http.NewRequest("POST", f.srv.URL+"/clusters", strings.NewReader(url.Values{"name": {"x"}, "tier": {"tiny"}, "clusters": {"1"}, "csrf": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	resp, _ = f.c.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("cross-origin post: %d", resp.StatusCode)
	}
	// DNS rebinding.
	req, _ = http.NewRequest("GET", f.srv.URL+"/clusters", nil)
	req.Host = "evil.example"
	resp, _ = f.c.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("foreign Host: %d", resp.StatusCode)
	}
	if ps, _ := f.e.ListPools(context.Background()); len(ps) != 0 {
		t.Fatalf("a refused post created a pool: %+v", ps)
	}
}

func TestValidationErrorsBesideFields(t *testing.T) {
	f := setup(t)
	tests := []struct {
		path  string
		form  url.Values
		field string
		msg   string
	}{
		{"/clusters", url.Values{"name": {"bad name"}, "tier": {"tiny"}, "clusters": {"1"}}, "name", "not a valid name"},
		{"/clusters", url.Values{"name": {"p"}, "tier": {"huge"}, "clusters": {"1"}}, "tier", "unknown tier"},
		{"/clusters", url.Values{"name": {"p"}, "tier": {"tiny"}, "clusters": {"x"}}, "clusters", "not a whole number"},
		{"/clusters", url.Values{"name": {"p"}, "tier": {"tiny"}, "clusters": {"1"}, "idleTimeout": {"soon"}}, "idleTimeoutSeconds", "a duration"},
		{"/clusters", url.Values{"name": {"p"}, "tier": {"tiny"}, "clusters": {"1"}, "tags": {"novalue"}}, "tags", "NAME=VALUE"},
		{"/clusters", url.Values{"name": {"p"}, "tier": {"tiny"}, "clusters": {"2"}, "minClusters": {"3"}, "idleTimeout": {"10m"}}, "minClusters", "between 0 and clusters"},
		{"/clusters", url.Values{"name": {"p"}, "tier": {"tiny"}, "clusters": {"2"}, "minClusters": {"1"}}, "minClusters", "needs an idle timeout"},
		{"/transforms", url.Values{"name": {"t"}, "pool": {"nope"}, "kind": {"command"}, "command": {"true"}}, "pool", "does not exist"},
		{"/transforms", url.Values{"name": {"t"}, "pool": {"nope"}, "kind": {"command"}, "command": {`echo "x`}}, "command", "unclosed"},
		{"/transforms", url.Values{"name": {"t"}, "pool": {"p"}, "kind": {"command"}, "command": {"true"}, "timeout": {"0s"}}, "timeoutSeconds", "at least 1s"},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			status, _, body := f.post(t, tc.path, tc.form)
			re := regexp.MustCompile(fmt.Sprintf(`data-for="%s">[^<]*%s`, tc.field, regexp.QuoteMeta(tc.msg)))
			if status != 400 || !re.MatchString(body) {
				t.Fatalf("%d; want 400 and %q beside %s", status, tc.msg, tc.field)
			}
		})
	}
}

func TestRunCancelAndPagination(t *testing.T) {
	f := setup(t)
	f.readyPool(t)
	ctx := context.Background()
	f.e.CreateTransform(ctx, sparkflow.Transform{Name: "long", Pool: "etl", Command: []string{"sleep", "60"}, Params: map[string]string{"n": "0"}})
	status, loc, body := f.post(t, "/transforms/long/run", url.Values{"param.n": {"7"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/runs/") {
		t.Fatalf("run: %d %s %s", status, loc, body)
	}
	id := strings.TrimPrefix(strings.Split(loc, "?")[0], "/runs/")
	r, _ := f.e.GetRun(ctx, id)
	if r.Params["n"] != "7" {
		t.Fatalf("override not passed: %+v", r.Params)
	}
	if status, _, body := f.post(t, "/transforms/long/run", url.Values{"param.nope": {"1"}}); status != 400 || !strings.Contains(body, `no parameter &#34;nope&#34;`) {
		t.Fatalf("unknown parameter: %d", status)
	}
	if status, loc, _ := f.post(t, "/runs/"+id+"/cancel", url.Values{}); status != http.StatusSeeOther || !strings.Contains(loc, "cancel+requested") {
		t.Fatalf("cancel: %d %s", status, loc)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.Status != sparkflow.RunCancelled {
		if time.Now().After(deadline) {
			t.Fatalf("run not cancelled: %s", r.Status)
		}
		time.Sleep(20 * time.Millisecond)
		r, _ = f.e.GetRun(ctx, id)
	}
	for i := 0; i < 30; i++ {
		f.e.CancelRun(ctx, mustSubmit(t, f.e, "long"))
	}
	_, p1 := f.get(t, "/runs")
	_, p2 := f.get(t, "/runs?page=2")
	if n := strings.Count(p1, "data-run="); n != 25 || !strings.Contains(p1, "older →") {
		t.Fatalf("page 1 has %d rows", n)
	}
	if n := strings.Count(p2, "data-run="); n != 6 || !strings.Contains(p2, "← newer") || strings.Contains(p2, "older →") {
		t.Fatalf("page 2 has %d rows", n)
	}
}

func mustSubmit(t *testing.T, e *engine.Engine, tr string) string {
	r, err := e.SubmitRun(context.Background(), sparkflow.RunRequest{Transform: tr})
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func TestTimelineSVG(t *testing.T) {
	f := setup(t)
	status, body := f.get(t, "/timeline.svg")
	if status != 200 || !strings.Contains(body, "No run has started yet") {
		t.Fatalf("empty timeline: %d %s", status, body)
	}
	f.readyPool(t)
	ctx := context.Background()
	f.e.CreateTransform(ctx, sparkflow.Transform{Name: "q", Pool: "etl", Command: []string{"true"}})
	for i := 0; i < 4; i++ {
		mustSubmit(t, f.e, "q")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		active, _ := f.e.ListRuns(ctx, sparkflow.RunFilter{Active: true})
		if len(active) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("runs did not end")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, body = f.get(t, "/timeline.svg?pool=etl")
	if n := strings.Count(body, `class="run succeeded"`); n != 4 {
		t.Fatalf("%d bars, want 4:\n%s", n, body)
	}
	if !strings.HasPrefix(body, "<svg") || !strings.HasSuffix(body, "</svg>") || !strings.Contains(body, `href="/runs/`) {
		t.Fatal("not a complete SVG with links to the runs")
	}
}

func TestEditTransformAndDeletePool(t *testing.T) {
	f := setup(t)
	f.readyPool(t)
	ctx := context.Background()
	f.e.CreateTransform(ctx, sparkflow.Transform{Name: "t", Pool: "etl", Command: []string{"true"}})
	status, loc, body := f.post(t, "/transforms/t", url.Values{"pool": {"etl"}, "kind": {"command"}, "command": {"echo edited"}, "maxAttempts": {"3"}, "timeout": {"90m"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/transforms/t?") {
		t.Fatalf("edit: %d %s %s", status, loc, body)
	}
	tr, _ := f.e.GetTransform(ctx, "t")
	if strings.Join(tr.Command, " ") != "echo edited" || tr.MaxAttempts != 3 || tr.TimeoutSeconds != 5400 {
		t.Fatalf("edit not saved: %+v", tr)
	}
	if status, loc, _ := f.post(t, "/transforms/t/delete", url.Values{}); status != http.StatusSeeOther || loc != "/transforms?msg=transform+t+deleted" {
		t.Fatalf("delete transform: %d %s", status, loc)
	}
	if status, loc, _ := f.post(t, "/clusters/etl/delete", url.Values{}); status != http.StatusSeeOther || !strings.Contains(loc, "terminating") {
		t.Fatalf("delete pool: %d %s", status, loc)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := f.e.GetPool(ctx, "etl"); sparkflow.IsCode(err, sparkflow.NotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pool not removed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status, loc, _ := f.post(t, "/clusters/etl/delete", url.Values{}); status != http.StatusSeeOther || !strings.Contains(loc, "not+deleted") {
		t.Fatalf("deleting a missing pool: %d %s", status, loc)
	}
}

func TestTimelineTicksAndDeletedClusters(t *testing.T) {
	for _, c := range []struct {
		span, want time.Duration
	}{{3 * time.Second, time.Second}, {40 * time.Second, 10 * time.Second}, {7 * time.Minute, 2 * time.Minute}, {5 * time.Hour, time.Hour}} {
		if got := webui.TickStep(c.span); got != c.want {
			t.Errorf("tick step for %s: %s, want %s", c.span, got, c.want)
		}
	}
	start := time.Date(2026, 11, 24, 10, 0, 0, 300e6, time.UTC)
	end := start.Add(2 * time.Second)
	runs := []sparkflow.Run{{ID: "r1", Transform: "t", Status: sparkflow.RunSucceeded, ClusterID: "j-GONE", StartedAt: &start, EndedAt: &end}}
	var b strings.Builder
	webui.WriteTimeline(&b, runs, map[string]int{"j-LIVE": 2}, end)
	svg := b.String()
	if !strings.Contains(svg, `data-cluster="j-GONE" data-slots="0" data-deleted="true"`) || !strings.Contains(svg, "j-GONE (deleted)") {
		t.Fatalf("a cluster of a deleted pool is not labelled:\n%s", svg)
	}
	if !strings.Contains(svg, `data-start="2026-11-24T10:00:00.3Z"`) {
		t.Fatalf("bars do not carry their recorded start:\n%s", svg)
	}
	// A burst shorter than a second, between two whole seconds, still has its ticks: the axis runs
	// from the tick before its first start to the tick after its last end.
	short := start.Add(400 * time.Millisecond)
	b.Reset()
	webui.WriteTimeline(&b, []sparkflow.Run{{ID: "r2", Transform: "t", Status: sparkflow.RunSucceeded, ClusterID: "j-LIVE", StartedAt: &start, EndedAt: &short}}, map[string]int{"j-LIVE": 2}, short)
	for _, want := range []string{`data-at="2026-11-24T10:00:00Z"`, `data-at="2026-11-24T10:00:01Z"`} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("a sub-second burst's axis lacks the tick %s:\n%s", want, b.String())
		}
	}
}

// A pool whose clusters keep failing to start shows EMR's reason and a way to resume, which works.
func TestHeldPoolShowsWhyAndResumes(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	f.e.Clusters.FailStarts("held", "VALIDATION_ERROR", "VALIDATION_ERROR", "VALIDATION_ERROR")
	if _, err := f.e.CreatePool(ctx, sparkflow.Pool{Name: "held", Tier: "tiny", Clusters: 3, StepConcurrency: 1}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if v, err := f.e.GetPool(ctx, "held"); err == nil && v.LaunchesHeld {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pool not held")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, page := f.get(t, "/clusters")
	for _, want := range []string{`data-held="held"`, "Launches held", "VALIDATION_ERROR", "simulated start failure", `action="/clusters/held/heal"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("clusters page lacks %q", want)
		}
	}
	if status, loc, _ := f.post(t, "/clusters/held/heal", url.Values{}); status != http.StatusSeeOther || !strings.Contains(loc, "launches+resumed") {
		t.Fatalf("resume: %d %s", status, loc)
	}
	for {
		if v, err := f.e.GetPool(ctx, "held"); err == nil && v.Status == sparkflow.PoolReady {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pool not ready after resuming")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, page = f.get(t, "/clusters"); strings.Contains(page, "Launches held") {
		t.Fatal("the clusters page still says launches are held")
	}
}

// The backfill page counts a backfill's runs by status from its plan, and its cancel ends them all.
func TestBackfillPageAndCancel(t *testing.T) {
	f := setup(t)
	f.readyPool(t)
	ctx := context.Background()
	if _, err := f.e.CreateTransform(ctx, sparkflow.Transform{Name: "daily", Pool: "etl", Command: []string{"sleep", "60"}, Params: map[string]string{"day": ""}}); err != nil {
		t.Fatal(err)
	}
	plan, err := core.PlanBackfill("daily", map[string]string{"day": "2026-01-01..2026-01-05"}, "")
	if err != nil {
		t.Fatal(err)
	}
	// Three of the five days submitted: two run (4 slots, 2 clusters × 2), the rest not submitted.
	part := plan
	part.Runs = plan.Runs[:3]
	if _, err := backfill.Submit(ctx, f.e, part, backfill.Options{}); err != nil {
		t.Fatal(err)
	}
	q := "/backfill?" + url.Values{"transform": {"daily"}, "arg": {"day=2026-01-01..2026-01-05"}}.Encode()
	status, body := f.get(t, q)
	if status != 200 || !strings.Contains(body, plan.ID) || !strings.Contains(body, `data-status="NOT SUBMITTED">2<`) ||
		strings.Count(body, `href="/runs/`) != 3 || !strings.Contains(body, ">low<") {
		t.Fatalf("backfill page: %d\n%s", status, body)
	}
	if status, loc, _ := f.post(t, "/backfill/cancel", url.Values{"transform": {"daily"}, "arg": {"day=2026-01-01..2026-01-05"}}); status != http.StatusSeeOther || !strings.Contains(loc, "3+active+runs+cancelled") {
		t.Fatalf("cancel: %d %s", status, loc)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body = f.get(t, q)
		if strings.Contains(body, `data-status="CANCELLED">3<`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the backfill's runs were not all cancelled:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if status, body := f.get(t, "/backfill?transform=daily&arg=day%3D2026-02-01..2026-01-01"); status != 400 || !strings.Contains(body, "ends before it begins") {
		t.Fatalf("a bad range: %d", status)
	}
}
