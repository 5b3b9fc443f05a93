// Package promsink serves SparkFlow's metrics (package metrics) in the Prometheus text format: the
// local engine's GET /metrics. Counters and distributions are recorded as the task logic runs; the
// gauges (queue depth, slots, clusters) are measured from the store at each scrape, so they are never
// stale. The Go runtime's and the process's own metrics come with them.
package promsink

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sparkflow/sparkflow/shared/metrics"
)

// Namespace prefixes every metric's name.
const Namespace = "sparkflow"

// Buckets of the duration distributions, in seconds: from 10 ms (a grant under load) to 6 hours (a
// backfill's wait).
var Buckets = []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600}

// Gauges measures the gauges now.
type Gauges func(ctx context.Context) ([]metrics.Sample, error)

// Sink is a metrics.Sink backed by a Prometheus registry.
type Sink struct {
	reg      *prometheus.Registry
	counters map[string]*prometheus.CounterVec
	hists    map[string]*prometheus.HistogramVec
}

// New returns a sink whose gauges come from gauges at each scrape (nil: none).
func New(gauges Gauges) *Sink {
	s := &Sink{reg: prometheus.NewRegistry(), counters: map[string]*prometheus.CounterVec{}, hists: map[string]*prometheus.HistogramVec{}}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	live := &gaugeCollector{measure: gauges, descs: map[string]*prometheus.Desc{}}
	for _, d := range metrics.All {
		switch d.Kind {
		case metrics.Counter:
			s.counters[d.Name] = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: d.Name + "_total", Help: d.Help}, d.Labels)
			s.reg.MustRegister(s.counters[d.Name])
		case metrics.Distribution:
			s.hists[d.Name] = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: d.Name, Help: d.Help, Buckets: Buckets}, d.Labels)
			s.reg.MustRegister(s.hists[d.Name])
		case metrics.Gauge:
			live.descs[d.Name] = prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", d.Name), d.Help, d.Labels, nil)
		}
	}
	if gauges != nil {
		s.reg.MustRegister(live)
	}
	return s
}

// Record adds a counter's value or observes a distribution's. Gauges recorded here are ignored: they
// are measured at each scrape.
func (s *Sink) Record(d metrics.Def, v float64, labels ...string) {
	if len(labels) != len(d.Labels) {
		return // a programming error; a metric is never worth a panic
	}
	switch d.Kind {
	case metrics.Counter:
		if c, ok := s.counters[d.Name]; ok && v >= 0 {
			c.WithLabelValues(labels...).Add(v)
		}
	case metrics.Distribution:
		if h, ok := s.hists[d.Name]; ok {
			h.WithLabelValues(labels...).Observe(v)
		}
	}
}

// Handler serves the metrics in the Prometheus text format.
func (s *Sink) Handler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry is the sink's registry (for tests and for embedding in another exporter).
func (s *Sink) Registry() *prometheus.Registry { return s.reg }

type gaugeCollector struct {
	measure Gauges
	descs   map[string]*prometheus.Desc
}

func (g *gaugeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range g.descs {
		ch <- d
	}
}

func (g *gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	samples, err := g.measure(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(prometheus.NewDesc("sparkflow_gauges_error", "the gauges could not be measured", nil, nil), err)
	}
	for _, s := range samples {
		if d, ok := g.descs[s.Def.Name]; ok {
			m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, s.Value, s.Labels...)
			if err != nil {
				ch <- prometheus.NewInvalidMetric(d, err)
				continue
			}
			ch <- m
		}
	}
}
