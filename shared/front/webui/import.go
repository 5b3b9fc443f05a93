package webui

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Importer reads the EMR clusters of an AWS account, for a pool cloned from one (sparkflow pool
// import). The UI has one when it runs with AWS access.
type Importer interface {
	Clusters(ctx context.Context) ([]ClusterSummary, error)
	// Describe is the pool named pool that cluster id makes, and the notes on what it leaves out.
	Describe(ctx context.Context, id, pool string) (sparkflow.Pool, []string, error)
}

// ClusterSummary is one cluster of the account.
type ClusterSummary struct {
	ID, Name, State string
	Created         time.Time
}

type importData struct {
	// NoAccess says why the account's clusters cannot be read ("" when they can).
	NoAccess string
	Clusters []ClusterSummary
	ListErr  string
	From     string
	Name     string
	Count    int
	// Preview is the pool the cluster makes, with the notes; Err why it makes none.
	Preview *sparkflow.Pool
	Notes   []string
	Err     string
}

func (u *UI) importPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := importData{From: strings.TrimSpace(q.Get("from")), Name: strings.TrimSpace(q.Get("name")), Count: 1}
	if u.opt.Importer == nil {
		d.NoAccess = "this UI has no AWS access: run sparkflow ui (or sparkflow pool import) with your AWS configuration (profile, AWS_REGION) to clone a pool from a running cluster"
		u.render(w, r, http.StatusOK, "import", page{Title: "Import a pool", Section: "clusters", Data: d})
		return
	}
	cs, err := u.opt.Importer.Clusters(r.Context())
	if err != nil {
		d.ListErr = err.Error()
	}
	d.Clusters = cs
	if d.From != "" {
		if d.Name == "" {
			d.Name = "imported"
		}
		p, notes, err := u.opt.Importer.Describe(r.Context(), d.From, d.Name)
		if err != nil {
			d.Err = err.Error()
		} else {
			d.Preview, d.Notes = &p, notes
		}
	}
	u.render(w, r, http.StatusOK, "import", page{Title: "Import a pool", Section: "clusters", Data: d})
}

func (u *UI) importPool(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	from, name := strings.TrimSpace(f.Get("from")), strings.TrimSpace(f.Get("name"))
	back := "/clusters/import?" + url.Values{"from": {from}, "name": {name}}.Encode()
	if u.opt.Importer == nil {
		redirect(w, r, "/clusters/import", "no AWS access: nothing imported")
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(f.Get("clusters")))
	if err != nil || n < 1 {
		redirect(w, r, back, "clusters: a whole number of at least 1")
		return
	}
	p, _, err := u.opt.Importer.Describe(r.Context(), from, name)
	if err != nil {
		redirect(w, r, back, "not imported: "+err.Error())
		return
	}
	p.Clusters = n
	if _, err := u.b.CreatePool(r.Context(), p); err != nil {
		redirect(w, r, back, "not imported: "+err.Error())
		return
	}
	redirect(w, r, "/clusters", "pool "+name+" created from cluster "+from+"; its clusters are starting")
}
