package promsink

import (
	"bytes"
	"fmt"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sparkflow/sparkflow/shared/metrics"
)

// Read parses a scrape (the Prometheus text format) into SparkFlow's series, as Prometheus would read
// them: a counter's total, a gauge's value, a histogram's sum and sample count. Other metrics (the Go
// runtime's) are left out.
func Read(text []byte) (metrics.Reading, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return metrics.Reading{}, fmt.Errorf("parse the metrics: %w", err)
	}
	var r metrics.Reading
	for _, d := range metrics.All {
		name := Namespace + "_" + d.Name
		if d.Kind == metrics.Counter {
			name += "_total"
		}
		f, ok := families[name]
		if !ok {
			continue
		}
		for _, m := range f.GetMetric() {
			s := metrics.Series{Sample: metrics.Sample{Def: d, Labels: labelValues(d, m)}}
			switch {
			case m.Counter != nil:
				s.Value = m.Counter.GetValue()
			case m.Gauge != nil:
				s.Value = m.Gauge.GetValue()
			case m.Histogram != nil:
				s.Value, s.Count = m.Histogram.GetSampleSum(), float64(m.Histogram.GetSampleCount())
			}
			r.Series = append(r.Series, s)
		}
	}
	return r, nil
}

func labelValues(d metrics.Def, m *dto.Metric) []string {
	out := make([]string, len(d.Labels))
	for _, lp := range m.GetLabel() {
		for i, l := range d.Labels {
			if strings.EqualFold(l, lp.GetName()) {
				out[i] = lp.GetValue()
			}
		}
	}
	return out
}
