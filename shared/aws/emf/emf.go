// Package emf is the AWS home's metrics sink: each measurement is one line of CloudWatch Embedded
// Metric Format on the Lambda's standard output, which CloudWatch Logs turns into a metric with no
// API call (and no latency) on the hot path.
//
// Every metric is published in the namespace SparkFlow with two dimension sets: the stack and all of
// the metric's labels (pool, transform, status, …), and the stack alone (the aggregate the alarms
// watch). Read a gauge's aggregate with the Maximum statistic.
package emf

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/sparkflow/sparkflow/shared/metrics"
)

// Namespace is the CloudWatch namespace of SparkFlow's metrics.
const Namespace = "SparkFlow"

// StackDimension names the dimension that tells stacks in one account apart.
const StackDimension = "stack"

// Sink writes EMF lines to W.
type Sink struct {
	mu    sync.Mutex
	w     io.Writer
	stack string
	now   func() time.Time
}

// New returns a sink writing to w for the stack named stack.
func New(w io.Writer, stack string) *Sink {
	return &Sink{w: w, stack: stack, now: time.Now}
}

// Record writes one EMF document.
func (s *Sink) Record(d metrics.Def, v float64, labels ...string) {
	if len(labels) != len(d.Labels) {
		return
	}
	line, err := Line(d, v, s.stack, s.now(), labels...)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.Write(line) // one write per line: lines from concurrent writers do not interleave
}

// Line renders one EMF document (a JSON line).
func Line(d metrics.Def, v float64, stack string, at time.Time, labels ...string) ([]byte, error) {
	full := append([]string{StackDimension}, d.Labels...)
	dims := [][]string{full}
	if len(d.Labels) > 0 {
		dims = append(dims, []string{StackDimension})
	}
	doc := map[string]any{
		"_aws": map[string]any{
			"Timestamp": at.UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  Namespace,
				"Dimensions": dims,
				"Metrics":    []any{map[string]any{"Name": d.Name, "Unit": d.Unit}},
			}},
		},
		StackDimension: stack,
		d.Name:         v,
		"metric_kind":  d.Kind.String(),
	}
	for i, l := range d.Labels {
		doc[l] = labels[i]
	}
	b, err := json.Marshal(doc)
	return append(b, '\n'), err
}

// Parsed is a measurement read back from an EMF line.
type Parsed struct {
	metrics.Sample
	Stack string
	At    time.Time
}

// Parse reads the SparkFlow measurements of a log (other lines are skipped), in order.
func Parse(log []byte) []Parsed {
	var out []Parsed
	byName := map[string]metrics.Def{}
	for _, d := range metrics.All {
		byName[d.Name] = d
	}
	for _, line := range bytes.Split(log, []byte("\n")) {
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var doc map[string]any
		if json.Unmarshal(line, &doc) != nil {
			continue
		}
		meta, ok := doc["_aws"].(map[string]any)
		if !ok {
			continue
		}
		cms, _ := meta["CloudWatchMetrics"].([]any)
		ts, _ := meta["Timestamp"].(float64)
		for _, cm := range cms {
			m, _ := cm.(map[string]any)
			if m["Namespace"] != Namespace {
				continue
			}
			ms, _ := m["Metrics"].([]any)
			for _, x := range ms {
				name, _ := x.(map[string]any)["Name"].(string)
				d, known := byName[name]
				v, isNum := doc[name].(float64)
				if !known || !isNum {
					continue
				}
				p := Parsed{Sample: metrics.Sample{Def: d, Value: v}, At: time.UnixMilli(int64(ts))}
				p.Stack, _ = doc[StackDimension].(string)
				for _, l := range d.Labels {
					s, _ := doc[l].(string)
					p.Labels = append(p.Labels, s)
				}
				out = append(out, p)
			}
		}
	}
	return out
}
