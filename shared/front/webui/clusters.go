package webui

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/front/display"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

type clustersData struct {
	Pools []sparkflow.PoolView
	Tiers []sparkflow.Tier
	// PerHour is what each pool's live clusters cost an hour (an estimate), by pool.
	PerHour map[string]string
	// ClusterCost is what each cluster has cost so far (from EMR's instances, or its tier's), by id.
	ClusterCost map[string]string
}

func (u *UI) clusters(w http.ResponseWriter, r *http.Request) {
	ps, err := u.b.ListPools(r.Context())
	if err != nil {
		u.fail(w, r, err)
		return
	}
	tiers, _ := u.b.Tiers(r.Context())
	d := clustersData{Pools: ps, Tiers: tiers, PerHour: map[string]string{}, ClusterCost: map[string]string{}}
	prices := u.pricer(r.Context(), ps)
	now := u.opt.Now()
	for _, p := range ps {
		d.PerHour[p.Name] = prices.perHour(p)
		for _, c := range p.ClusterRecords {
			d.ClusterCost[c.ID] = prices.cluster(p.Name, c, now)
		}
	}
	u.render(w, r, http.StatusOK, "clusters", page{Title: "Clusters", Section: "clusters", Data: d})
}

type poolFormData struct {
	Pool   sparkflow.Pool
	Idle   string
	Min    string // the elastic minimum as typed ("" for a fixed pool)
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
	if d.Pool.MinClusters != nil {
		d.Min = strconv.Itoa(*d.Pool.MinClusters)
	}
	d.Tags = display.KV(d.Pool.Tags)
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
	d := poolFormData{Errors: map[string]string{}, Idle: f.Get("idleTimeout"), Min: strings.TrimSpace(f.Get("minClusters")), Tags: f.Get("tags"), Clone: f.Get("clone")}
	p := &d.Pool
	p.Name, p.Tier, p.ReleaseLabel, p.LogURI = strings.TrimSpace(f.Get("name")), f.Get("tier"), strings.TrimSpace(f.Get("releaseLabel")), strings.TrimSpace(f.Get("logUri"))
	p.Applications = splitList(f.Get("applications"))
	p.TerminationProtection = f.Get("terminationProtection") == "on"
	p.Network = sparkflow.Network{SubnetIDs: splitList(f.Get("subnets")), KeyName: strings.TrimSpace(f.Get("keyName")),
		SecurityGroups: splitList(f.Get("securityGroups")), ServiceRole: strings.TrimSpace(f.Get("serviceRole")), InstanceProfile: strings.TrimSpace(f.Get("instanceProfile"))}
	intField(f, "clusters", &p.Clusters, d.Errors)
	intField(f, "stepConcurrency", &p.StepConcurrency, d.Errors)
	if d.Min != "" {
		p.MinClusters = new(int)
		intField(f, "minClusters", p.MinClusters, d.Errors)
	}
	if d.Clone != "" {
		// A clone carries what the form does not show: the source's EMR configurations, and its own
		// tier when the clone keeps it.
		if src, err := u.b.GetPool(r.Context(), d.Clone); err == nil {
			p.Configurations = src.Configurations
			if src.CustomTier != nil && p.Tier == src.Tier {
				p.CustomTier = src.CustomTier
			}
		}
	}
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

func (u *UI) healPool(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := u.b.HealPool(r.Context(), name); err != nil {
		redirect(w, r, "/clusters", "pool "+name+": launches not resumed: "+err.Error())
		return
	}
	redirect(w, r, "/clusters", "pool "+name+": launches resumed; it launches what it lacks")
}

func (u *UI) deletePool(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := u.b.DeletePool(r.Context(), name, r.PostFormValue("force") == "on"); err != nil {
		redirect(w, r, "/clusters", "pool "+name+" was not deleted: "+err.Error())
		return
	}
	redirect(w, r, "/clusters", "pool "+name+": clusters terminating; it goes when they are gone")
}
