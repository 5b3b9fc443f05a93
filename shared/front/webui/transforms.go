package webui

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/front/display"
	"github.com/sparkflow/sparkflow/shared/front/httpapi"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

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
	// Next are the schedule's next five firings (in its zone), while it is active.
	Next   []time.Time
	Runs   []sparkflow.Run
	Params []kvPair
	Errors map[string]string
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
	if sch, err := core.ParseSchedule(t.Schedule, t.Timezone); t.Schedule != "" && !t.Paused && err == nil {
		for _, at := range sch.NextN(time.Now(), 5) {
			d.Next = append(d.Next, at.In(sch.Location()))
		}
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
	Upstream                            string
	Pools                               []sparkflow.PoolView
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
	d.Params = display.KV(d.T.Params)
	d.Timeout = (time.Duration(d.T.TimeoutSeconds) * time.Second).String()
	d.QueueTimeout = (time.Duration(d.T.QueueTimeoutSeconds) * time.Second).String()
	d.Upstream = strings.Join(d.T.Upstream, ", ")
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
		Timeout: f.Get("timeout"), QueueTimeout: f.Get("queueTimeout"), Upstream: f.Get("upstream")}
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
	for _, u := range strings.Split(d.Upstream, ",") {
		if u = strings.TrimSpace(u); u != "" {
			t.Upstream = append(t.Upstream, u)
		}
	}
	if f.Get("maxConcurrent") != "" {
		intField(f, "maxConcurrent", &t.MaxConcurrent, d.Errors)
	}
	t.Priority = sparkflow.Priority(f.Get("priority"))
	t.Schedule, t.Timezone, t.CatchUp = strings.TrimSpace(f.Get("schedule")), strings.TrimSpace(f.Get("timezone")), f.Get("catchUp")
	t.Paused = f.Get("paused") != ""
	if t.Schedule == "" {
		t.Timezone, t.CatchUp, t.Paused = "", "", false
	}
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

// pauseTransform pauses (or resumes) the transform's schedule.
func (u *UI) pauseTransform(paused bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		back := "/transforms/" + url.PathEscape(name)
		t, err := u.b.GetTransform(r.Context(), name)
		if err == nil && t.Schedule == "" {
			err = sparkflow.FieldError("schedule", "transform %s has no schedule", name)
		}
		if err == nil {
			t.Paused = paused
			_, err = u.b.UpdateTransform(r.Context(), t)
		}
		switch {
		case err != nil:
			redirect(w, r, back, "schedule unchanged: "+err.Error())
		case paused:
			redirect(w, r, back, "schedule of "+name+" paused")
		default:
			redirect(w, r, back, "schedule of "+name+" resumed")
		}
	}
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
