// Package webui is SparkFlow's web UI: Clusters, Transforms and Job Runs pages and a timeline plot,
// rendered on the server from the same Backend that the JSON API serves, so a page and the CLI always
// agree. Pages refresh their live part every two seconds without reloading. Forms carry a CSRF token
// (double-submit cookie) and pass the API's Host and Origin checks; everything shown is escaped by
// html/template, and a Content-Security-Policy allows only this origin's own script.
package webui

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/httpapi"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tasks"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configures the UI.
type Options struct {
	// AllowedHosts as for the API (loopback names are always allowed).
	AllowedHosts []string
	// Logs: the backend serves run logs (local mode), so run pages show their tail.
	Logs bool
	Log  *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

// UI serves the pages.
type UI struct {
	b     httpapi.Backend
	opt   Options
	pages map[string]*template.Template
}

const (
	csrfCookie = "sparkflow_csrf"
	pageSize   = 25
)

// New returns the UI handler for every path but /api/.
func New(b httpapi.Backend, opt Options) http.Handler {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	u := &UI{b: b, opt: opt, pages: map[string]*template.Template{}}
	funcs := template.FuncMap{
		"ago":      func(t time.Time) string { return ago(opt.Now(), t) },
		"agoPtr":   func(t *time.Time) string { return agoPtr(opt.Now(), t) },
		"dur":      func(seconds int) string { return (time.Duration(seconds) * time.Second).String() },
		"runTime":  func(r sparkflow.Run) string { return runTime(opt.Now(), r) },
		"uptime":   func(c sparkflow.Cluster) string { return uptime(opt.Now(), c) },
		"join":     strings.Join,
		"lower":    func(s any) string { return strings.ToLower(fmt.Sprint(s)) },
		"shortID":  func(s string) string { return truncate(s, 8) },
		"time":     func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05.000") },
		"kv":       kvText,
		"fieldErr": func(errs map[string]string, f string) string { return errs[f] },
		"add":      func(a, b int) int { return a + b },
	}
	for _, page := range []string{"clusters", "pool_form", "transforms", "transform", "transform_form", "runs", "run"} {
		u.pages[page] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+page+".html"))
	}
	static, _ := fs.Sub(staticFS, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServer(http.FS(static))))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/clusters", http.StatusSeeOther) })
	mux.HandleFunc("GET /clusters", u.clusters)
	mux.HandleFunc("GET /clusters/new", u.poolForm)
	mux.HandleFunc("POST /clusters", u.createPool)
	mux.HandleFunc("POST /clusters/{name}/delete", u.deletePool)
	mux.HandleFunc("GET /timeline.svg", u.timeline)
	mux.HandleFunc("GET /transforms", u.transforms)
	mux.HandleFunc("GET /transforms/new", u.transformForm)
	mux.HandleFunc("POST /transforms", u.saveTransform)
	mux.HandleFunc("GET /transforms/{name}", u.transform)
	mux.HandleFunc("GET /transforms/{name}/edit", u.transformForm)
	mux.HandleFunc("POST /transforms/{name}", u.saveTransform)
	mux.HandleFunc("POST /transforms/{name}/delete", u.deleteTransform)
	mux.HandleFunc("POST /transforms/{name}/run", u.runTransform)
	mux.HandleFunc("GET /runs", u.runs)
	mux.HandleFunc("GET /runs/{id}", u.run)
	mux.HandleFunc("POST /runs/{id}/cancel", u.cancelRun)
	return u.guard(mux)
}

// guard: the API's origin checks on everything, a CSRF token on every form post, a body limit, and
// headers that keep the pages out of frames and other origins' scripts out of the pages.
func (u *UI) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := httpapi.CheckOrigin(r, u.opt.AllowedHosts); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, httpapi.MaxBody)
			if err := r.ParseForm(); err != nil {
				http.Error(w, "unreadable form: "+err.Error(), http.StatusBadRequest)
				return
			}
			c, err := r.Cookie(csrfCookie)
			if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
				http.Error(w, "the form's security token is missing or stale: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// csrf returns the request's token, setting the cookie when there is none.
func csrf(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 64 {
		return c.Value
	}
	b := make([]byte, 32)
	rand.Read(b)
	tok := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return tok
}

// page is what every template gets.
type page struct {
	Title   string
	Section string
	CSRF    string
	Flash   string
	Error   string
	Data    any
}

// render writes a page, or only its live part when the page's own script asks for it.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.CSRF = csrf(w, r)
	if p.Flash == "" {
		p.Flash = r.URL.Query().Get("msg")
	}
	tmpl := "layout.html"
	if r.Header.Get("X-Live") == "1" {
		tmpl = "live"
	}
	var buf bytes.Buffer
	if err := u.pages[name].ExecuteTemplate(&buf, tmpl, p); err != nil {
		u.opt.Log.Error("render", "page", name, "err", err)
		http.Error(w, "cannot render the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := httpapi.StatusOf(err)
	u.render(w, r, status, "runs", page{Title: "Error", Error: err.Error(), Data: runsData{}})
}

func redirect(w http.ResponseWriter, r *http.Request, path, msg string) {
	if msg != "" {
		path += "?msg=" + url.QueryEscape(msg)
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// ---- clusters ----

type clustersData struct {
	Pools []tasks.PoolView
	Tiers []sparkflow.Tier
}

func (u *UI) clusters(w http.ResponseWriter, r *http.Request) {
	ps, err := u.b.ListPools(r.Context())
	if err != nil {
		u.fail(w, r, err)
		return
	}
	tiers, _ := u.b.Tiers(r.Context())
	u.render(w, r, http.StatusOK, "clusters", page{Title: "Clusters", Section: "clusters", Data: clustersData{Pools: ps, Tiers: tiers}})
}

type poolFormData struct {
	Pool   sparkflow.Pool
	Idle   string
	Tags   string
	Tiers  []sparkflow.Tier
	Errors map[string]string
	Clone  string
}

func (u *UI) poolForm(w http.ResponseWriter, r *http.Request) {
	d := poolFormData{Pool: sparkflow.Pool{Clusters: 1, ReleaseLabel: sparkflow.DefaultReleaseLabel, Applications: []string{"Spark"}, Tier: "small"}}
	if from := r.URL.Query().Get("from"); from != "" {
		v, err := u.b.GetPool(r.Context(), from)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		d.Pool, d.Clone = v.Pool, from
		d.Pool.Name = from + "-copy"
	}
	d.Idle = idleText(d.Pool.IdleTimeoutSeconds)
	d.Tags = kvText(d.Pool.Tags)
	u.renderPoolForm(w, r, http.StatusOK, d)
}

func idleText(s int) string {
	if s == 0 {
		return ""
	}
	return (time.Duration(s) * time.Second).String()
}

func (u *UI) renderPoolForm(w http.ResponseWriter, r *http.Request, status int, d poolFormData) {
	d.Tiers, _ = u.b.Tiers(r.Context())
	u.render(w, r, status, "pool_form", page{Title: "New pool", Section: "clusters", Data: d})
}

func (u *UI) createPool(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	d := poolFormData{Errors: map[string]string{}, Idle: f.Get("idleTimeout"), Tags: f.Get("tags")}
	p := &d.Pool
	p.Name, p.Tier, p.ReleaseLabel, p.LogURI = strings.TrimSpace(f.Get("name")), f.Get("tier"), strings.TrimSpace(f.Get("releaseLabel")), strings.TrimSpace(f.Get("logUri"))
	p.Applications = splitList(f.Get("applications"))
	p.TerminationProtection = f.Get("terminationProtection") == "on"
	p.Network = sparkflow.Network{SubnetIDs: splitList(f.Get("subnets")), KeyName: strings.TrimSpace(f.Get("keyName")),
		SecurityGroups: splitList(f.Get("securityGroups")), ServiceRole: strings.TrimSpace(f.Get("serviceRole")), InstanceProfile: strings.TrimSpace(f.Get("instanceProfile"))}
	intField(f, "clusters", &p.Clusters, d.Errors)
	intField(f, "stepConcurrency", &p.StepConcurrency, d.Errors)
	if d.Idle != "" {
		if v, err := time.ParseDuration(d.Idle); err != nil {
			d.Errors["idleTimeoutSeconds"] = "a duration such as 30m or 2h"
		} else {
			p.IdleTimeoutSeconds = int(v / time.Second)
		}
	}
	tags, err := parseKV(d.Tags)
	if err != nil {
		d.Errors["tags"] = err.Error()
	}
	p.Tags = tags
	if len(d.Errors) == 0 {
		if _, err := u.b.CreatePool(r.Context(), *p); err != nil {
			if !fieldError(err, d.Errors) {
				d.Errors[""] = err.Error()
			}
		} else {
			redirect(w, r, "/clusters", "pool "+p.Name+" created; its clusters are starting")
			return
		}
	}
	u.renderPoolForm(w, r, http.StatusBadRequest, d)
}

func (u *UI) deletePool(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := u.b.DeletePool(r.Context(), name, r.PostFormValue("force") == "on"); err != nil {
		redirect(w, r, "/clusters", "pool "+name+" was not deleted: "+err.Error())
		return
	}
	redirect(w, r, "/clusters", "pool "+name+": clusters terminating; it goes when they are gone")
}

// ---- transforms ----

type transformRow struct {
	sparkflow.Transform
	Last *sparkflow.Run
}

func (u *UI) transforms(w http.ResponseWriter, r *http.Request) {
	ts, err := u.b.ListTransforms(r.Context(), "")
	if err != nil {
		u.fail(w, r, err)
		return
	}
	rows := make([]transformRow, len(ts))
	for i, t := range ts {
		rows[i].Transform = t
		if last, err := u.b.ListRuns(r.Context(), sparkflow.RunFilter{Transform: t.Name, Limit: 1}); err == nil && len(last) == 1 {
			rows[i].Last = &last[0]
		}
	}
	u.render(w, r, http.StatusOK, "transforms", page{Title: "Transforms", Section: "transforms", Data: rows})
}

type transformData struct {
	T       sparkflow.Transform
	Step    string
	StepErr string
	Runs    []sparkflow.Run
	Params  []kvPair
	Errors  map[string]string
}

type kvPair struct{ Key, Value string }

func (u *UI) transform(w http.ResponseWriter, r *http.Request) {
	t, err := u.b.GetTransform(r.Context(), r.PathValue("name"))
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.renderTransform(w, r, http.StatusOK, t, nil)
}

func (u *UI) renderTransform(w http.ResponseWriter, r *http.Request, status int, t sparkflow.Transform, errs map[string]string) {
	d := transformData{T: t, Errors: errs}
	if step, err := core.Step(t, sparkflow.Run{ID: "RUN_ID", Attempt: 1}); err == nil {
		d.Step = step.Jar + " " + sparkflow.QuoteCommand(step.Args)
	} else {
		d.StepErr = err.Error()
	}
	for k, v := range t.Params {
		d.Params = append(d.Params, kvPair{k, v})
	}
	sort.Slice(d.Params, func(i, j int) bool { return d.Params[i].Key < d.Params[j].Key })
	d.Runs, _ = u.b.ListRuns(r.Context(), sparkflow.RunFilter{Transform: t.Name, Limit: 10})
	u.render(w, r, status, "transform", page{Title: "Transform " + t.Name, Section: "transforms", Data: d})
}

type transformFormData struct {
	T                                   sparkflow.Transform
	Edit                                bool
	Command, SparkOptions, Args, Params string
	Timeout, QueueTimeout               string
	Pools                               []tasks.PoolView
	Errors                              map[string]string
}

func (u *UI) transformForm(w http.ResponseWriter, r *http.Request) {
	d := transformFormData{T: sparkflow.Transform{Kind: sparkflow.KindCommand, MaxAttempts: sparkflow.DefaultMaxAttempts,
		TimeoutSeconds: sparkflow.DefaultTimeoutSeconds, QueueTimeoutSeconds: sparkflow.DefaultQueueTimeoutSeconds, Pool: r.URL.Query().Get("pool")}}
	if name := r.PathValue("name"); name != "" {
		t, err := u.b.GetTransform(r.Context(), name)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		d.T, d.Edit = t, true
	}
	d.Command = sparkflow.QuoteCommand(d.T.Command)
	d.SparkOptions = sparkflow.QuoteCommand(d.T.SparkOptions)
	d.Args = strings.Join(d.T.Args, "\n")
	d.Params = kvText(d.T.Params)
	d.Timeout = (time.Duration(d.T.TimeoutSeconds) * time.Second).String()
	d.QueueTimeout = (time.Duration(d.T.QueueTimeoutSeconds) * time.Second).String()
	u.renderTransformForm(w, r, http.StatusOK, d)
}

func (u *UI) renderTransformForm(w http.ResponseWriter, r *http.Request, status int, d transformFormData) {
	d.Pools, _ = u.b.ListPools(r.Context())
	title := "New transform"
	if d.Edit {
		title = "Edit " + d.T.Name
	}
	u.render(w, r, status, "transform_form", page{Title: title, Section: "transforms", Data: d})
}

func (u *UI) saveTransform(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	d := transformFormData{Errors: map[string]string{}, Edit: r.PathValue("name") != "",
		Command: f.Get("command"), SparkOptions: f.Get("sparkOptions"), Args: f.Get("args"), Params: f.Get("params"),
		Timeout: f.Get("timeout"), QueueTimeout: f.Get("queueTimeout")}
	t := &d.T
	t.Name = strings.TrimSpace(f.Get("name"))
	if d.Edit {
		t.Name = r.PathValue("name")
	}
	t.Pool, t.Kind, t.Description = f.Get("pool"), sparkflow.TransformKind(f.Get("kind")), strings.TrimSpace(f.Get("description"))
	var err error
	switch t.Kind {
	case sparkflow.KindCommand:
		if t.Command, err = sparkflow.SplitCommand(d.Command); err != nil {
			d.Errors["command"] = err.Error()
		}
	case sparkflow.KindSpark:
		t.MainResource, t.MainClass = strings.TrimSpace(f.Get("mainResource")), strings.TrimSpace(f.Get("mainClass"))
		if t.SparkOptions, err = sparkflow.SplitCommand(d.SparkOptions); err != nil {
			d.Errors["sparkOptions"] = err.Error()
		}
	}
	for _, line := range strings.Split(strings.ReplaceAll(d.Args, "\r", ""), "\n") {
		if line != "" {
			t.Args = append(t.Args, line)
		}
	}
	if t.Params, err = parseKV(d.Params); err != nil {
		d.Errors["params"] = err.Error()
	}
	intField(f, "maxAttempts", &t.MaxAttempts, d.Errors)
	durField(d.Timeout, "timeoutSeconds", &t.TimeoutSeconds, d.Errors)
	durField(d.QueueTimeout, "queueTimeoutSeconds", &t.QueueTimeoutSeconds, d.Errors)
	if len(d.Errors) == 0 {
		save := u.b.CreateTransform
		if d.Edit {
			save = u.b.UpdateTransform
		}
		if _, err := save(r.Context(), *t); err != nil {
			if !fieldError(err, d.Errors) {
				d.Errors[""] = err.Error()
			}
		} else {
			redirect(w, r, "/transforms/"+url.PathEscape(t.Name), "transform "+t.Name+" saved")
			return
		}
	}
	u.renderTransformForm(w, r, http.StatusBadRequest, d)
}

func (u *UI) deleteTransform(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := u.b.DeleteTransform(r.Context(), name); err != nil {
		redirect(w, r, "/transforms/"+url.PathEscape(name), "not deleted: "+err.Error())
		return
	}
	redirect(w, r, "/transforms", "transform "+name+" deleted")
}

func (u *UI) runTransform(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	params := map[string]string{}
	for k, vs := range r.PostForm {
		if p, ok := strings.CutPrefix(k, "param."); ok && len(vs) > 0 {
			params[p] = vs[0]
		}
	}
	run, err := u.b.SubmitRun(r.Context(), sparkflow.RunRequest{Transform: name, Params: params})
	if err != nil {
		t, gerr := u.b.GetTransform(r.Context(), name)
		if gerr != nil {
			u.fail(w, r, err)
			return
		}
		u.renderTransform(w, r, httpapi.StatusOf(err), t, map[string]string{"run": err.Error()})
		return
	}
	redirect(w, r, "/runs/"+url.PathEscape(run.ID), "run submitted")
}

// ---- runs ----

type runsData struct {
	Runs       []sparkflow.Run
	Filter     sparkflow.RunFilter
	Statuses   []sparkflow.RunStatus
	Transforms []sparkflow.Transform
	Pools      []tasks.PoolView
	Page       int
	More       bool
	Query      string
}

func (u *UI) runs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := runsData{Statuses: sparkflow.RunStatuses, Filter: sparkflow.RunFilter{Transform: q.Get("transform"), Pool: q.Get("pool"), Status: sparkflow.RunStatus(q.Get("status"))}}
	if d.Filter.Status != "" && !d.Filter.Status.Valid() {
		u.fail(w, r, sparkflow.FieldError("status", "%q is not a run status", q.Get("status")))
		return
	}
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = max(d.Page, 1)
	f := d.Filter
	f.Limit = d.Page*pageSize + 1
	runs, err := u.b.ListRuns(r.Context(), f)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	from := min((d.Page-1)*pageSize, len(runs))
	to := min(from+pageSize, len(runs))
	d.Runs, d.More = runs[from:to], len(runs) > d.Page*pageSize
	d.Transforms, _ = u.b.ListTransforms(r.Context(), "")
	d.Pools, _ = u.b.ListPools(r.Context())
	qs := url.Values{}
	for k, v := range map[string]string{"transform": d.Filter.Transform, "pool": d.Filter.Pool, "status": string(d.Filter.Status)} {
		if v != "" {
			qs.Set(k, v)
		}
	}
	d.Query = qs.Encode()
	u.render(w, r, http.StatusOK, "runs", page{Title: "Job Runs", Section: "runs", Data: d})
}

type runData struct {
	R              sparkflow.Run
	Stdout, Stderr string
	Logs           bool
}

func (u *UI) run(w http.ResponseWriter, r *http.Request) {
	run, err := u.b.GetRun(r.Context(), r.PathValue("id"))
	if err != nil {
		u.fail(w, r, err)
		return
	}
	d := runData{R: run, Logs: u.opt.Logs && run.StepID != ""}
	if d.Logs {
		d.Stdout, _ = u.b.RunLogs(r.Context(), run.ID, "stdout", 8192)
		d.Stderr, _ = u.b.RunLogs(r.Context(), run.ID, "stderr", 8192)
	}
	u.render(w, r, http.StatusOK, "run", page{Title: "Run " + truncate(run.ID, 8), Section: "runs", Data: d})
}

func (u *UI) cancelRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := u.b.CancelRun(r.Context(), id); err != nil {
		redirect(w, r, "/runs/"+url.PathEscape(id), "not cancelled: "+err.Error())
		return
	}
	redirect(w, r, "/runs/"+url.PathEscape(id), "cancel requested")
}

// ---- helpers ----

func fieldError(err error, errs map[string]string) bool {
	var e *sparkflow.Error
	if errors.As(err, &e) && e.Field != "" {
		errs[e.Field] = e.Message
		return true
	}
	return false
}

func intField(f url.Values, name string, dst *int, errs map[string]string) {
	v := strings.TrimSpace(f.Get(name))
	if v == "" {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		errs[name] = fmt.Sprintf("%q is not a whole number", v)
		return
	}
	*dst = n
}

func durField(v, name string, dst *int, errs map[string]string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		errs[name] = fmt.Sprintf("%q is not a duration of at least 1s (for example 45m or 2h)", v)
		return
	}
	*dst = int(d / time.Second)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == ' ' }) {
		out = append(out, strings.TrimSpace(p))
	}
	return out
}

func parseKV(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r", ""), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%q: write one NAME=VALUE per line", line)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func kvText(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, m[k])
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func roundDur(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return roundDur(now.Sub(t)) + " ago"
}

func agoPtr(now time.Time, t *time.Time) string {
	if t == nil {
		return "-"
	}
	return ago(now, *t)
}

func runTime(now time.Time, r sparkflow.Run) string {
	if r.StartedAt == nil {
		return "-"
	}
	end := now
	if r.EndedAt != nil {
		end = *r.EndedAt
	}
	return roundDur(end.Sub(*r.StartedAt))
}

func uptime(now time.Time, c sparkflow.Cluster) string {
	if c.ReadyAt == nil {
		return "-"
	}
	end := now
	if c.EndedAt != nil {
		end = *c.EndedAt
	}
	return roundDur(end.Sub(*c.ReadyAt))
}
