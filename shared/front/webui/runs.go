package webui

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/sparkflow/sparkflow/shared/front/display"
	"github.com/sparkflow/sparkflow/shared/front/lineage"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

type runsData struct {
	Runs       []sparkflow.Run
	Filter     sparkflow.RunFilter
	Statuses   []sparkflow.RunStatus
	Transforms []sparkflow.Transform
	Pools      []sparkflow.PoolView
	Page       int
	More       bool
	Query      string
	// Costs is what each run shown cost (an estimate), by id.
	Costs map[string]string
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
	prices, now := u.pricer(r.Context(), d.Pools), u.opt.Now()
	d.Costs = map[string]string{}
	for _, run := range d.Runs {
		d.Costs[run.ID] = prices.run(run, now)
	}
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
	// Lineage: the run's upstream and downstream runs (nil when they could not be read).
	Lineage *lineage.Lineage
}

func (u *UI) run(w http.ResponseWriter, r *http.Request) {
	run, err := u.b.GetRun(r.Context(), r.PathValue("id"))
	if err != nil {
		u.fail(w, r, err)
		return
	}
	d := runData{R: run, Logs: u.opt.Logs && run.StepID != ""}
	if l, err := lineage.Of(r.Context(), u.b, run); err == nil {
		d.Lineage = &l
	}
	if d.Logs {
		d.Stdout, _ = u.b.RunLogs(r.Context(), run.ID, sparkflow.LogQuery{Stream: "stdout", Tail: 8192})
		d.Stderr, _ = u.b.RunLogs(r.Context(), run.ID, sparkflow.LogQuery{Stream: "stderr", Tail: 8192})
	}
	u.render(w, r, http.StatusOK, "run", page{Title: "Run " + display.ShortID(run.ID), Section: "runs", Data: d})
}

func (u *UI) cancelRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := u.b.CancelRun(r.Context(), id); err != nil {
		redirect(w, r, "/runs/"+url.PathEscape(id), "not cancelled: "+err.Error())
		return
	}
	redirect(w, r, "/runs/"+url.PathEscape(id), "cancel requested")
}
