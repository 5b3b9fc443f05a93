package webui

import (
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/front/display"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// timelineRuns bounds the runs one plot draws.
const timelineRuns = 500

// statusColors colour the bars (and the status badges in the CSS).
var statusColors = map[sparkflow.RunStatus]string{
	sparkflow.RunSucceeded: "#2f9e44", sparkflow.RunFailed: "#e03131", sparkflow.RunCancelled: "#868e96",
	sparkflow.RunTimedOut: "#f08c00", sparkflow.RunRunning: "#1c7ed6", sparkflow.RunSubmitted: "#74c0fc",
	sparkflow.RunUpstreamFailed: "#c2255c",
}

func (u *UI) timeline(w http.ResponseWriter, r *http.Request) {
	f := sparkflow.RunFilter{Pool: r.URL.Query().Get("pool"), Transform: r.URL.Query().Get("transform"), Limit: timelineRuns}
	runs, err := u.b.ListRuns(r.Context(), f)
	if err != nil {
		http.Error(w, err.Error(), httpStatus(err))
		return
	}
	pools, err := u.b.ListPools(r.Context())
	if err != nil {
		http.Error(w, err.Error(), httpStatus(err))
		return
	}
	slots := map[string]int{}
	for _, p := range pools {
		for _, c := range p.ClusterRecords {
			slots[c.ID] = c.Capacity
		}
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	writeTimeline(w, runs, slots, u.opt.Now())
}

func httpStatus(err error) int {
	switch sparkflow.ErrorCode(err) {
	case sparkflow.Invalid:
		return http.StatusBadRequest
	case sparkflow.NotFound:
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

type bar struct {
	run        sparkflow.Run
	start, end time.Time
	lane       int
}

// writeTimeline draws one band per cluster, runs as bars from their recorded start to their recorded
// end (now for running ones), stacked in lanes where they overlap, coloured by status, each linking to
// its run. Each band says its cluster's slots and each bar its times (data-*), so what the picture
// shows can be checked against what was recorded. Clusters of pools deleted since are labelled so.
func writeTimeline(w io.Writer, runs []sparkflow.Run, slots map[string]int, now time.Time) {
	byCluster := map[string][]*bar{}
	var t0, t1 time.Time
	for _, r := range runs {
		if r.StartedAt == nil || r.ClusterID == "" {
			continue
		}
		end := now
		if r.EndedAt != nil {
			end = *r.EndedAt
		}
		b := &bar{run: r, start: *r.StartedAt, end: end}
		byCluster[r.ClusterID] = append(byCluster[r.ClusterID], b)
		if t0.IsZero() || b.start.Before(t0) {
			t0 = b.start
		}
		if b.end.After(t1) {
			t1 = b.end
		}
	}
	const (
		width, left, right, top, laneH, gap = 900, 150, 20, 24, 12, 10
	)
	clusters := make([]string, 0, len(byCluster))
	lanes := map[string]int{}
	for id, bars := range byCluster {
		clusters = append(clusters, id)
		sort.Slice(bars, func(i, j int) bool { return bars[i].start.Before(bars[j].start) })
		var laneEnd []time.Time
		for _, b := range bars {
			b.lane = -1
			for i, e := range laneEnd {
				if !b.start.Before(e) {
					b.lane, laneEnd[i] = i, b.end
					break
				}
			}
			if b.lane < 0 {
				b.lane = len(laneEnd)
				laneEnd = append(laneEnd, b.end)
			}
		}
		lanes[id] = len(laneEnd)
	}
	sort.Strings(clusters)
	height := top + 30
	for _, id := range clusters {
		height += lanes[id]*laneH + gap
	}
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11" role="img" aria-label="runs per cluster over time">`, width, height, width, height)
	if len(clusters) == 0 {
		fmt.Fprint(w, `<text x="10" y="30" fill="#555">No run has started yet.</text></svg>`)
		return
	}
	span := t1.Sub(t0)
	if span <= 0 {
		span = time.Second
	}
	// Axis: ticks at round clock times (every 1 s, 5 s, 1 min, 15 min, 1 h, …), at most about six;
	// the axis runs from the tick before the first start to the tick after the last end, so that a
	// burst shorter than a step (runs of under a second) still has its ticks.
	step := tickStep(span)
	t0 = t0.Truncate(step)
	if e := t1.Truncate(step); e.Before(t1) {
		t1 = e.Add(step)
	}
	span = t1.Sub(t0)
	x := func(t time.Time) float64 { return left + float64(width-left-right)*float64(t.Sub(t0))/float64(span) }
	format := "15:04:05"
	if step >= time.Minute {
		format = "15:04"
	}
	for t := t0.Truncate(step); !t.After(t1); t = t.Add(step) {
		if t.Before(t0) {
			continue
		}
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e9ecef"/>`, x(t), top-6, x(t), height-24)
		fmt.Fprintf(w, `<text class="tick" x="%.1f" y="%d" text-anchor="middle" fill="#555" data-at="%s">%s</text>`, x(t), height-8, t.UTC().Format(time.RFC3339Nano), t.Local().Format(format))
	}
	y := top
	for _, id := range clusters {
		h := lanes[id] * laneH
		label, deleted := id, ""
		n, known := slots[id]
		if !known {
			label, deleted = id+" (deleted)", ` data-deleted="true"`
		}
		fmt.Fprintf(w, `<g class="cluster" data-cluster="%s" data-slots="%d"%s>`, template.HTMLEscapeString(id), n, deleted)
		fmt.Fprintf(w, `<rect x="0" y="%d" width="%d" height="%d" fill="#f8f9fa"/>`, y-2, width, h+4)
		fmt.Fprintf(w, `<text x="6" y="%d" fill="#212529">%s</text>`, y+h/2+4, template.HTMLEscapeString(label))
		for _, b := range byCluster[id] {
			bw := x(b.end) - x(b.start)
			if bw < 2 {
				bw = 2
			}
			color := statusColors[b.run.Status]
			if color == "" {
				color = "#adb5bd"
			}
			title := fmt.Sprintf("%s %s (%s) attempt %d, %s", b.run.Transform, b.run.ID, b.run.Status, b.run.Attempt, display.Duration(b.end.Sub(b.start)))
			fmt.Fprintf(w, `<a xlink:href="/runs/%s" href="/runs/%s"><rect class="run %s" x="%.1f" y="%d" width="%.1f" height="%d" rx="2" fill="%s" data-run="%s" data-start="%s" data-end="%s"><title>%s</title></rect></a>`,
				url.PathEscape(b.run.ID), url.PathEscape(b.run.ID), strings.ToLower(string(b.run.Status)), x(b.start), y+b.lane*laneH, bw, laneH-2, color,
				b.run.ID, b.start.UTC().Format(time.RFC3339Nano), b.end.UTC().Format(time.RFC3339Nano), template.HTMLEscapeString(title))
		}
		fmt.Fprint(w, `</g>`)
		y += h + gap
	}
	fmt.Fprint(w, `</svg>`)
}

// tickSteps are the round intervals the axis ticks at.
var tickSteps = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}

// tickStep is the smallest round interval that puts at most six ticks on span.
func tickStep(span time.Duration) time.Duration {
	for _, s := range tickSteps {
		if span/s <= 6 {
			return s
		}
	}
	return tickSteps[len(tickSteps)-1] * (span/(6*tickSteps[len(tickSteps)-1]) + 1)
}
