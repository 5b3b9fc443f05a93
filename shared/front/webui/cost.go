package webui

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sparkflow/sparkflow/shared/cost"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// pricer prices a backend's pools and runs for the pages.
type pricer struct {
	cat    *cost.Catalogue
	region string
	rates  map[string]cost.Rates // by pool
	slots  map[string]int        // by pool
}

func (u *UI) pricer(ctx context.Context, pools []sparkflow.PoolView) pricer {
	p := pricer{cat: u.opt.Prices, region: u.opt.Region, rates: map[string]cost.Rates{}, slots: map[string]int{}}
	if p.cat == nil {
		p.cat = cost.Default()
	}
	tierOf := cost.TierFinder(ctx, u.b)
	for _, pool := range pools {
		if t, ok := tierOf(pool); ok {
			p.rates[pool.Name], p.slots[pool.Name] = p.cat.PoolRates(t, pool.ClusterRecords, p.region), pool.StepConcurrency
		}
	}
	return p
}

func dollars(v float64) string {
	if v > 0 && v < 0.01 {
		return "<$0.01"
	}
	return fmt.Sprintf("$%.2f", v)
}

// run is what a run cost ("" when its pool is not priced or it has not started).
func (p pricer) run(r sparkflow.Run, now time.Time) string {
	rates, ok := p.rates[r.Pool]
	if !ok || r.StartedAt == nil {
		return ""
	}
	return dollars(cost.Run(r, rates.Of(r.ClusterID), p.slots[r.Pool], now))
}

// cluster is what a cluster of pool has cost so far ("—" when the pool is not priced).
func (p pricer) cluster(pool string, c sparkflow.Cluster, now time.Time) string {
	rates, ok := p.rates[pool]
	if !ok {
		return "—"
	}
	return dollars(cost.Cluster(c, rates.Of(c.ID), now))
}

// perHour is what a pool's live clusters cost an hour now.
func (p pricer) perHour(v sparkflow.PoolView) string {
	rates, ok := p.rates[v.Name]
	if !ok {
		return "—"
	}
	perHour := 0.0
	for _, c := range v.ClusterRecords {
		if !c.State.Ended() {
			perHour += rates.Of(c.ID).PerHour
		}
	}
	return dollars(perHour) + "/h"
}

// costHours is how many hours a cost plot spans, by default.
const costHours = 24

// costPlot serves /cost.svg?pool=P&hours=N: what the pool's clusters cost in each hour of the last N.
func (u *UI) costPlot(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("pool")
	hours := costHours
	if v := r.URL.Query().Get("hours"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 24*31 {
			http.Error(w, "hours: a whole number from 1 to 744", http.StatusBadRequest)
			return
		}
		hours = n
	}
	v, err := u.b.GetPool(r.Context(), name)
	if err != nil {
		http.Error(w, err.Error(), httpStatus(err))
		return
	}
	p := u.pricer(r.Context(), []sparkflow.PoolView{v})
	rates, ok := p.rates[name]
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="300" height="40" font-family="sans-serif" font-size="11"><text x="10" y="24" fill="#555">Tier %s has no prices here.</text></svg>`, template.HTMLEscapeString(v.Tier))
		return
	}
	now := u.opt.Now()
	end := now.Truncate(time.Hour).Add(time.Hour)
	buckets := make([]float64, hours)
	for i := range buckets {
		from := end.Add(-time.Duration(hours-i) * time.Hour)
		to := from.Add(time.Hour)
		if to.After(now) {
			to = now
		}
		buckets[i] = cost.Window(v.ClusterRecords, rates, from, to)
	}
	writeCostPlot(w, name, buckets, end, p.cat.Date)
}

// esc escapes text for the SVG (an amount may read "<$0.01").
func esc(s string) string { return template.HTMLEscapeString(s) }

// writeCostPlot draws one bar per hour (the last one so far), each with its hour and cost (data-*),
// so that what the picture shows can be checked against the figures.
func writeCostPlot(w io.Writer, pool string, buckets []float64, end time.Time, catalogueDate string) {
	const width, height, left, top, bottom = 900, 140, 60, 20, 24
	top2 := 0.0
	total := 0.0
	for _, b := range buckets {
		top2 = max(top2, b)
		total += b
	}
	scale := top2
	if scale == 0 {
		scale = 1
	}
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11" role="img" aria-label="cost of pool %s per hour">`,
		width, height, width, height, template.HTMLEscapeString(pool))
	fmt.Fprintf(w, `<text x="%d" y="14" fill="#333">pool %s: %s in the last %d hours (estimate, prices of %s)</text>`, left, template.HTMLEscapeString(pool), esc(dollars(total)), len(buckets), esc(catalogueDate))
	fmt.Fprintf(w, `<text x="4" y="%d" fill="#555">%s/h</text><text x="4" y="%d" fill="#555">$0</text>`, top+10, esc(dollars(top2)), height-bottom)
	bw := float64(width-left-10) / float64(len(buckets))
	plotH := float64(height - top - bottom)
	for i, b := range buckets {
		h := b / scale * plotH
		x := float64(left) + float64(i)*bw
		hour := end.Add(-time.Duration(len(buckets)-i) * time.Hour)
		fmt.Fprintf(w, `<rect class="hour" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#1c7ed6" data-hour="%s" data-cost="%.6f"><title>%s: %s</title></rect>`,
			x+1, float64(height-bottom)-h, bw-2, h, hour.Format(time.RFC3339), b, hour.Local().Format("15:04"), esc(dollars(b)))
		if i%max(len(buckets)/8, 1) == 0 {
			fmt.Fprintf(w, `<text x="%.1f" y="%d" fill="#555">%s</text>`, x, height-6, hour.Local().Format("15:04"))
		}
	}
	fmt.Fprint(w, `</svg>`)
}
