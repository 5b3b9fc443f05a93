package webui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/front/backfill"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// backfillData is a backfill's page: its plan (from the query: transform, arg=NAME=RANGE…, step, the
// same as the CLI's), its counts by status and its runs.
type backfillData struct {
	Query  string
	Form   url.Values
	S      backfill.Status
	Counts []backfillCount
	Runs   []sparkflow.Run
	More   int
}

type backfillCount struct {
	Status string
	N      int
}

// maxBackfillRows bounds the runs listed on the page (the counts cover all).
const maxBackfillRows = 200

func planOf(q url.Values) (core.Backfill, error) {
	args := map[string]string{}
	for _, kv := range q["arg"] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return core.Backfill{}, sparkflow.FieldError("arg", "%q is not NAME=RANGE", kv)
		}
		args[k] = v
	}
	if err := sparkflow.ValidateName("transform", q.Get("transform")); err != nil {
		return core.Backfill{}, err
	}
	return core.PlanBackfill(q.Get("transform"), args, q.Get("step"))
}

// backfillPage: GET /backfill?transform=T&arg=day=2026-01-01..2026-03-31[&step=1d], as `sparkflow run
// backfill` prints it.
func (u *UI) backfillPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	plan, err := planOf(q)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	s, err := backfill.Read(r.Context(), u.b, plan)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	d := backfillData{Query: r.URL.RawQuery, Form: url.Values{"transform": q["transform"], "arg": q["arg"], "step": q["step"]}, S: s}
	for _, st := range s.Statuses() {
		d.Counts = append(d.Counts, backfillCount{string(st), s.ByStatus[st]})
	}
	if s.NotSubmitted > 0 {
		d.Counts = append(d.Counts, backfillCount{"NOT SUBMITTED", s.NotSubmitted})
	}
	d.Runs = s.Each
	if len(d.Runs) > maxBackfillRows {
		d.More, d.Runs = len(d.Runs)-maxBackfillRows, d.Runs[:maxBackfillRows]
	}
	u.render(w, r, http.StatusOK, "backfill", page{Title: "Backfill " + plan.ID, Section: "runs", Data: d})
}

// cancelBackfill: POST /backfill/cancel with the page's plan: every active run of it is cancelled.
func (u *UI) cancelBackfill(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		u.fail(w, r, sparkflow.FieldError("form", "%v", err))
		return
	}
	form := url.Values{"transform": r.PostForm["transform"], "arg": r.PostForm["arg"], "step": r.PostForm["step"]}
	plan, err := planOf(form)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	n, err := backfill.Cancel(r.Context(), u.b, plan)
	back := "/backfill?" + form.Encode()
	if err != nil {
		http.Redirect(w, r, back+"&msg="+url.QueryEscape("not all cancelled: "+err.Error()), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, back+"&msg="+url.QueryEscape(strings.TrimSpace(plural(n, "active run")+" cancelled")), http.StatusSeeOther)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
