// Package httpapi is SparkFlow's JSON API: the server that the local engine serves and the client that
// the CLI (and the web UI's pages) use. Both speak the Backend interface, so a command works the same
// against a local engine or, through another Backend, against AWS. The server is meant for loopback:
// it checks Host and Origin and requires a JSON content type on every change, because a transform runs
// commands on the machine that serves it.
package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/cost"
	"github.com/sparkflow/sparkflow/shared/front/lineage"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// MaxBody bounds a request body: the largest valid request (a transform with long arguments) is far
// smaller.
const MaxBody = 1 << 20

// Options configures the server.
type Options struct {
	// AllowedHosts are the host names accepted in the Host header besides the loopback names
	// (127.0.0.1, localhost, ::1), for a server deliberately bound elsewhere.
	AllowedHosts []string
	Log          *slog.Logger
}

// NewServer returns the API handler.
func NewServer(b sparkflow.Backend, opt Options) http.Handler {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	s := &server{b: b, opt: opt}
	mux := http.NewServeMux()
	// Health: the backend's own report where it makes one (the local engine), 503 when a check
	// fails, so that a load balancer or a monitor can act on the status alone.
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, r *http.Request) {
		h := sparkflow.Health{Status: sparkflow.HealthOK}
		if hr, ok := b.(sparkflow.HealthReporter); ok {
			h = hr.Health(r.Context())
		}
		code := http.StatusOK
		if h.Status == sparkflow.HealthFail {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, h)
	})
	mux.HandleFunc("GET /api/tiers", s.handle(func(r *http.Request) (any, error) { return b.Tiers(r.Context()) }))
	mux.HandleFunc("GET /api/pools", s.handle(func(r *http.Request) (any, error) { return b.ListPools(r.Context()) }))
	mux.HandleFunc("POST /api/pools", s.handleStatus(http.StatusCreated, func(r *http.Request) (any, error) {
		var p sparkflow.Pool
		if err := decode(r, &p); err != nil {
			return nil, err
		}
		return b.CreatePool(r.Context(), p)
	}))
	mux.HandleFunc("GET /api/pools/{name}", s.handle(func(r *http.Request) (any, error) { return b.GetPool(r.Context(), r.PathValue("name")) }))
	mux.HandleFunc("DELETE /api/pools/{name}", s.handleStatus(http.StatusAccepted, func(r *http.Request) (any, error) {
		force := r.URL.Query().Get("force") == "true"
		return map[string]string{"status": "deleting"}, b.DeletePool(r.Context(), r.PathValue("name"), force)
	}))
	mux.HandleFunc("POST /api/pools/{name}/heal", s.handleStatus(http.StatusAccepted, func(r *http.Request) (any, error) {
		return map[string]string{"status": "healing"}, b.HealPool(r.Context(), r.PathValue("name"))
	}))
	mux.HandleFunc("GET /api/transforms", s.handle(func(r *http.Request) (any, error) {
		return b.ListTransforms(r.Context(), r.URL.Query().Get("pool"))
	}))
	mux.HandleFunc("POST /api/transforms", s.handleStatus(http.StatusCreated, func(r *http.Request) (any, error) {
		var t sparkflow.Transform
		if err := decode(r, &t); err != nil {
			return nil, err
		}
		return b.CreateTransform(r.Context(), t)
	}))
	mux.HandleFunc("GET /api/transforms/{name}", s.handle(func(r *http.Request) (any, error) { return b.GetTransform(r.Context(), r.PathValue("name")) }))
	mux.HandleFunc("PUT /api/transforms/{name}", s.handle(func(r *http.Request) (any, error) {
		var t sparkflow.Transform
		if err := decode(r, &t); err != nil {
			return nil, err
		}
		if t.Name == "" {
			t.Name = r.PathValue("name")
		}
		if t.Name != r.PathValue("name") {
			return nil, sparkflow.FieldError("name", "the body names %q but the URL names %q; a transform cannot be renamed", t.Name, r.PathValue("name"))
		}
		return b.UpdateTransform(r.Context(), t)
	}))
	mux.HandleFunc("DELETE /api/transforms/{name}", s.handle(func(r *http.Request) (any, error) {
		return map[string]string{"status": "deleted"}, b.DeleteTransform(r.Context(), r.PathValue("name"))
	}))
	mux.HandleFunc("GET /api/runs", s.handle(func(r *http.Request) (any, error) {
		f, err := runFilter(r)
		if err != nil {
			return nil, err
		}
		return b.ListRuns(r.Context(), f)
	}))
	// What runs and pools cost in a window (?since=7d&by=pool|transform&region=), estimated from the
	// built-in price catalogue (shared/cost).
	mux.HandleFunc("GET /api/cost", s.handle(func(r *http.Request) (any, error) {
		q := r.URL.Query()
		window := 7 * 24 * time.Hour
		if v := q.Get("since"); v != "" {
			var err error
			if window, err = cost.ParseWindow(v); err != nil {
				return nil, err
			}
		}
		return cost.Default().Of(r.Context(), b, q.Get("region"), q.Get("by"), window, 100000, time.Now())
	}))
	mux.HandleFunc("GET /api/rejected", s.handle(func(r *http.Request) (any, error) {
		limit, err := listLimit(r)
		if err != nil {
			return nil, err
		}
		return b.ListRejected(r.Context(), limit)
	}))
	mux.HandleFunc("POST /api/runs", s.handleStatus(http.StatusAccepted, func(r *http.Request) (any, error) {
		var req sparkflow.RunRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return b.SubmitRun(r.Context(), req)
	}))
	mux.HandleFunc("GET /api/runs/{id}", s.handle(func(r *http.Request) (any, error) {
		id, err := sparkflow.ResolveRunID(r.Context(), b, r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		return b.GetRun(r.Context(), id)
	}))
	mux.HandleFunc("POST /api/runs/{id}/cancel", s.handle(func(r *http.Request) (any, error) {
		id, err := sparkflow.ResolveRunID(r.Context(), b, r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		return b.CancelRun(r.Context(), id)
	}))
	mux.HandleFunc("GET /api/runs/{id}/logs", s.handle(func(r *http.Request) (any, error) {
		q := sparkflow.LogQuery{Stream: r.URL.Query().Get("stream")}
		if q.Stream == "" {
			q.Stream = "stdout"
		}
		for name, dst := range map[string]*int64{"tail": &q.Tail} {
			if v := r.URL.Query().Get(name); v != "" {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 0 {
					return nil, sparkflow.FieldError(name, "%q is not a byte count", v)
				}
				*dst = n
			}
		}
		if v := r.URL.Query().Get("attempt"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, sparkflow.FieldError("attempt", "%q is not an attempt number", v)
			}
			q.Attempt = n
		}
		id, err := sparkflow.ResolveRunID(r.Context(), b, r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		text, err := b.RunLogs(r.Context(), id, q)
		return map[string]string{"stream": q.Stream, "text": text}, err
	}))
	mux.HandleFunc("GET /api/runs/{id}/trace", s.handle(func(r *http.Request) (any, error) {
		tf, ok := b.(sparkflow.TraceFinder)
		if !ok {
			return nil, sparkflow.Errorf(sparkflow.NotFound, "this backend does not say where its logs are")
		}
		id, err := sparkflow.ResolveRunID(r.Context(), b, r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		return tf.RunTrace(r.Context(), id)
	}))
	mux.HandleFunc("GET /api/runs/{id}/lineage", s.handle(func(r *http.Request) (any, error) {
		id, err := sparkflow.ResolveRunID(r.Context(), b, r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		run, err := b.GetRun(r.Context(), id)
		if err != nil {
			return nil, err
		}
		return lineage.Of(r.Context(), b, run)
	}))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, sparkflow.Errorf(sparkflow.NotFound, "no API route %s %s", r.Method, r.URL.Path))
	})
	return s.guard(mux)
}

type server struct {
	b   sparkflow.Backend
	opt Options
}

func runFilter(r *http.Request) (sparkflow.RunFilter, error) {
	q := r.URL.Query()
	f := sparkflow.RunFilter{Transform: q.Get("transform"), Pool: q.Get("pool"), Status: sparkflow.RunStatus(strings.ToUpper(q.Get("status"))), Active: q.Get("active") == "true"}
	if f.Status != "" && !f.Status.Valid() {
		return f, sparkflow.FieldError("status", "%q is not a run status; use one of %v", q.Get("status"), sparkflow.RunStatuses)
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return f, sparkflow.FieldError("limit", "%q is not a count", v)
		}
		f.Limit = n
	}
	return f, nil
}

// maxRejected bounds a listing of rejected requests.
const maxRejected = 1000

// listLimit reads ?limit= of a listing of rejected requests: 50 by default, at most maxRejected.
func listLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" || v == "0" {
		return 50, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxRejected {
		return 0, sparkflow.FieldError("limit", "%q is not a count from 1 to %d", v, maxRejected)
	}
	return n, nil
}

func (s *server) handle(fn func(*http.Request) (any, error)) http.HandlerFunc {
	return s.handleStatus(http.StatusOK, fn)
}

func (s *server) handleStatus(status int, fn func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			var he *httpError
			if c := sparkflow.ErrorCode(err); !errors.As(err, &he) && (c == sparkflow.Internal || c == sparkflow.Transient) {
				s.opt.Log.Error("api", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeError(w, err)
			return
		}
		writeJSON(w, status, v)
	}
}

// CheckOrigin refuses what a browser tab on another site, or a DNS-rebinding page, could send: a Host
// that is not a loopback name (or one of allowedHosts), an Origin of another site, a cross-site fetch.
// The web UI uses it too.
func CheckOrigin(r *http.Request, allowedHosts []string) error {
	if !hostAllowed(r.Host, allowedHosts) {
		return &httpError{http.StatusForbidden, fmt.Sprintf("host %q is not served here; use http://127.0.0.1 or http://localhost", r.Host)}
	}
	if origin := r.Header.Get("Origin"); origin != "" && origin != "http://"+r.Host && origin != "https://"+r.Host {
		return &httpError{http.StatusForbidden, fmt.Sprintf("cross-origin request from %s refused", origin)}
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return &httpError{http.StatusForbidden, "cross-site request refused"}
	}
	return nil
}

// guard applies CheckOrigin and, to every change, a JSON content type (which a cross-site form cannot
// send without a CORS preflight) and the body limit.
func (s *server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := CheckOrigin(r, s.opt.AllowedHosts); err != nil {
			writeError(w, err)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// Media types are case-insensitive (RFC 9110): APPLICATION/JSON; charset=utf-8 is JSON.
			ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || ct != "application/json" {
				writeError(w, &httpError{http.StatusUnsupportedMediaType, "send changes as Content-Type: application/json"})
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func hostAllowed(hostport string, allowed []string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	switch host {
	case "127.0.0.1", "localhost", "::1":
		return true
	}
	for _, a := range allowed {
		if strings.EqualFold(a, host) {
			return true
		}
	}
	return false
}

type httpError struct {
	status  int
	message string
}

func (e *httpError) Error() string { return e.message }

// decode reads a JSON body strictly: unknown fields and trailing data are errors.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", MaxBody)}
	}
	if err != nil {
		return sparkflow.Wrap(sparkflow.Invalid, err, "read request body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return sparkflow.Wrap(sparkflow.Invalid, err, "request body is not valid JSON for this call")
	}
	if dec.More() {
		return sparkflow.Errorf(sparkflow.Invalid, "request body has data after the JSON value")
	}
	return nil
}

// ErrorBody is the shape of every error response.
type ErrorBody struct {
	Error struct {
		Code    sparkflow.Code `json:"code"`
		Field   string         `json:"field,omitempty"`
		Message string         `json:"message"`
	} `json:"error"`
}

// StatusOf maps an error's code to an HTTP status.
func StatusOf(err error) int {
	var he *httpError
	if errors.As(err, &he) {
		return he.status
	}
	switch sparkflow.ErrorCode(err) {
	case sparkflow.Invalid:
		return http.StatusBadRequest
	case sparkflow.NotFound:
		return http.StatusNotFound
	case sparkflow.Conflict:
		return http.StatusConflict
	case sparkflow.Transient:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error) {
	var body ErrorBody
	body.Error.Code = sparkflow.ErrorCode(err)
	body.Error.Message = err.Error()
	var he *httpError
	if errors.As(err, &he) {
		body.Error.Code = sparkflow.Invalid
	}
	var se *sparkflow.Error
	if errors.As(err, &se) && se.Field != "" {
		body.Error.Field = se.Field
	}
	writeJSON(w, StatusOf(err), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
