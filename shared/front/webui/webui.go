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
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/cost"
	"github.com/sparkflow/sparkflow/shared/front/display"
	"github.com/sparkflow/sparkflow/shared/front/httpapi"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
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
	// Prices and Region price the clusters and runs shown (nil: the built-in catalogue; "": its
	// default region, as for local clusters).
	Prices *cost.Catalogue
	Region string
	// Importer reads the AWS account's clusters for a pool cloned from one (nil: no AWS access).
	Importer Importer
}

// UI serves the pages.
type UI struct {
	b     sparkflow.Backend
	opt   Options
	pages map[string]*template.Template
}

const (
	csrfCookie = "sparkflow_csrf"
	pageSize   = 25
)

// New returns the UI handler for every path but /api/.
func New(b sparkflow.Backend, opt Options) http.Handler {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	u := &UI{b: b, opt: opt, pages: map[string]*template.Template{}}
	funcs := template.FuncMap{
		"ago":       func(t time.Time) string { return display.Ago(opt.Now(), t) },
		"agoPtr":    func(t *time.Time) string { return display.AgoPtr(opt.Now(), t) },
		"dur":       func(seconds int) string { return (time.Duration(seconds) * time.Second).String() },
		"runTime":   func(r sparkflow.Run) string { return display.RunTime(opt.Now(), r) },
		"stepState": display.StepState,
		"params":    display.Params,
		"uptime":    func(c sparkflow.Cluster) string { return display.Uptime(opt.Now(), c) },
		"drain":     func(c sparkflow.Cluster) string { return display.Drain(opt.Now(), c) },
		"join":      strings.Join,
		"lower":     func(s any) string { return strings.ToLower(fmt.Sprint(s)) },
		"list":      func(v ...string) []string { return v },
		"shortID":   func(s string) string { return display.ShortID(s) },
		"time":      func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05.000") },
		"kv":        display.KV,
		"fieldErr":  func(errs map[string]string, f string) string { return errs[f] },
		"add":       func(a, b int) int { return a + b },
		"deref":     func(n *int) int { return *n },
	}
	for _, page := range []string{"clusters", "pool_form", "transforms", "transform", "transform_form", "runs", "run", "backfill", "import"} {
		u.pages[page] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+page+".html"))
	}
	static, _ := fs.Sub(staticFS, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServer(http.FS(static))))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/clusters", http.StatusSeeOther) })
	mux.HandleFunc("GET /clusters", u.clusters)
	mux.HandleFunc("GET /clusters/new", u.poolForm)
	mux.HandleFunc("POST /clusters", u.createPool)
	mux.HandleFunc("GET /clusters/import", u.importPage)
	mux.HandleFunc("POST /clusters/import", u.importPool)
	mux.HandleFunc("POST /clusters/{name}/delete", u.deletePool)
	mux.HandleFunc("POST /clusters/{name}/heal", u.healPool)
	mux.HandleFunc("GET /timeline.svg", u.timeline)
	mux.HandleFunc("GET /cost.svg", u.costPlot)
	mux.HandleFunc("GET /transforms", u.transforms)
	mux.HandleFunc("GET /transforms/new", u.transformForm)
	mux.HandleFunc("POST /transforms", u.saveTransform)
	mux.HandleFunc("GET /transforms/{name}", u.transform)
	mux.HandleFunc("GET /transforms/{name}/edit", u.transformForm)
	mux.HandleFunc("POST /transforms/{name}", u.saveTransform)
	mux.HandleFunc("POST /transforms/{name}/delete", u.deleteTransform)
	mux.HandleFunc("POST /transforms/{name}/run", u.runTransform)
	mux.HandleFunc("POST /transforms/{name}/pause", u.pauseTransform(true))
	mux.HandleFunc("POST /transforms/{name}/resume", u.pauseTransform(false))
	mux.HandleFunc("GET /runs", u.runs)
	mux.HandleFunc("GET /runs/{id}", u.run)
	mux.HandleFunc("POST /runs/{id}/cancel", u.cancelRun)
	mux.HandleFunc("GET /backfill", u.backfillPage)
	mux.HandleFunc("POST /backfill/cancel", u.cancelBackfill)
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
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "msg=" + url.QueryEscape(msg)
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}
