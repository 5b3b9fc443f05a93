// Package metrics is SparkFlow's one vocabulary of measurements, the same on both homes: what each
// metric means, its kind and its labels. The task logic records into a Sink (a port, like the store):
// the local engine's is a Prometheus registry served at GET /metrics (shared/local/promsink), the
// AWS home's writes CloudWatch Embedded Metric Format lines to the Lambda's output
// (shared/aws/emf), which CloudWatch turns into metrics with no API call on the hot path.
//
// Names: Prometheus gets "sparkflow_" + Name, plus "_total" for a counter; CloudWatch gets Name as it
// is, in the namespace "SparkFlow", with the labels as dimensions (and "stack").
package metrics

import (
	"strings"
)

// Kind is how a metric's values combine.
type Kind int

const (
	// Counter counts events: each record adds its value.
	Counter Kind = iota
	// Gauge is a level measured now (queue depth): each record replaces the last.
	Gauge
	// Distribution is a sample of a duration or size (queue wait): percentiles are taken over them.
	Distribution
)

func (k Kind) String() string {
	switch k {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	}
	return "distribution"
}

// Def defines a metric.
type Def struct {
	Name   string
	Kind   Kind
	Unit   string // CloudWatch unit: Count, Seconds
	Help   string
	Labels []string
}

// The vocabulary. A counter is recorded where the change it counts is written (a run's status moves
// once, by one conditional write), so duplicate, at-least-once invocations do not count twice.
var (
	RunsAccepted = Def{"runs_accepted", Counter, "Count", "Runs accepted (a redelivered request is not counted again).", []string{"pool", "transform"}}
	RunsStarted  = Def{"runs_started", Counter, "Count", "Attempts whose step began running.", []string{"pool", "transform"}}
	RunsEnded    = Def{"runs_ended", Counter, "Count", "Runs that ended, by final status (SUCCEEDED, FAILED, CANCELLED, TIMED_OUT).", []string{"pool", "transform", "status"}}

	QueueDepth      = Def{"queue_depth", Gauge, "Count", "Runs waiting in the pool's FIFO for a slot.", []string{"pool"}}
	QueueOldestWait = Def{"queue_oldest_wait_seconds", Gauge, "Seconds", "How long the pool's oldest waiting run has waited (0 when none waits).", []string{"pool"}}
	QueueWait       = Def{"queue_wait_seconds", Distribution, "Seconds", "A run's wait for a slot, from accepted to reserved.", []string{"pool"}}
	RunDuration     = Def{"run_duration_seconds", Distribution, "Seconds", "A run's time from its step's start to its end, for runs that started.", []string{"pool", "transform"}}

	SlotsUsed     = Def{"slots_used", Gauge, "Count", "Slots held by runs on the pool's clusters.", []string{"pool"}}
	SlotsTotal    = Def{"slots_total", Gauge, "Count", "Slots of the pool's ready clusters.", []string{"pool"}}
	Clusters      = Def{"clusters", Gauge, "Count", "The pool's cluster records by state (STARTING … TERMINATED_WITH_ERRORS).", []string{"pool", "state"}}
	PoolDegraded  = Def{"pool_degraded", Gauge, "Count", "1 while the pool is DEGRADED (a cluster lost or failing to start), else 0.", []string{"pool"}}
	LaunchFailure = Def{"launch_failures", Counter, "Count", "Clusters of the pool that failed to launch or to start, by EMR's reason code.", []string{"pool", "reason"}}

	ReconcilerRepairs = Def{"reconciler_repairs", Counter, "Count", "Changes the reconciler applied because no event had delivered them, by kind (step, cluster, execution, slot, orphan_step, lost_cluster_run, wait).", []string{"kind"}}
	ResumeRetries     = Def{"resume_retries", Counter, "Count", "Workflow resumes (SendTaskSuccess) sent again because the first was lost.", nil}
	RequestsRejected  = Def{"requests_rejected", Counter, "Count", "Run requests refused, by reason (invalid, not_found, conflict): on AWS those the intake kept as rejected records (a redelivery counts again), locally those the engine refused.", []string{"reason"}}

	EMRCalls     = Def{"emr_api_calls", Counter, "Count", "EMR API calls made (each attempt of a retried call), by operation.", []string{"operation"}}
	EMRThrottles = Def{"emr_api_throttles", Counter, "Count", "EMR API calls refused with a throttling error, by operation.", []string{"operation"}}
)

// All is the vocabulary in the order the README lists it.
var All = []Def{RunsAccepted, RunsStarted, RunsEnded, QueueDepth, QueueOldestWait, QueueWait, RunDuration,
	SlotsUsed, SlotsTotal, Clusters, PoolDegraded, LaunchFailure, ReconcilerRepairs, ResumeRetries, RequestsRejected,
	EMRCalls, EMRThrottles}

// Sink receives measurements. labels are the values of d.Labels, in order.
type Sink interface {
	Record(d Def, value float64, labels ...string)
}

// Nop discards every measurement.
type Nop struct{}

// Record does nothing.
func (Nop) Record(Def, float64, ...string) {}

// Sample is one recorded measurement.
type Sample struct {
	Def    Def
	Value  float64
	Labels []string
}

// Label returns the value of the label named name ("" when d has none such).
func (s Sample) Label(name string) string {
	for i, l := range s.Def.Labels {
		if l == name && i < len(s.Labels) {
			return s.Labels[i]
		}
	}
	return ""
}

// Match reports whether s has every label value of want.
func Match(s Sample, want map[string]string) bool {
	for k, v := range want {
		if s.Label(k) != v {
			return false
		}
	}
	return true
}

// Series is one metric's value for one set of label values, as a monitoring system reads it: a
// counter's total, a gauge's latest value, a distribution's sum of samples with Count the number of
// samples.
type Series struct {
	Sample
	Count float64
}

// Reading is every series of a home's metrics at one time (GET /metrics scraped, or the EMF lines of
// the functions' logs added up).
type Reading struct {
	Series []Series
}

// Get adds up the values of d's series whose labels match want.
func (r Reading) Get(d Def, want map[string]string) float64 {
	return r.sum(d, want, func(s Series) float64 { return s.Value })
}

// Samples adds up the sample counts of distribution d's series whose labels match want.
func (r Reading) Samples(d Def, want map[string]string) float64 {
	return r.sum(d, want, func(s Series) float64 { return s.Count })
}

func (r Reading) sum(d Def, want map[string]string, of func(Series) float64) float64 {
	var t float64
	for _, s := range r.Series {
		if s.Def.Name == d.Name && Match(s.Sample, want) {
			t += of(s)
		}
	}
	return t
}

// Fold adds up measurements as a monitoring system does: counters summed, each gauge's last value
// kept, distributions' samples summed and counted (the AWS home's EMF lines, read back).
func Fold(samples []Sample) Reading {
	idx := map[string]int{}
	var r Reading
	for _, s := range samples {
		k := s.Def.Name + "\x00" + strings.Join(s.Labels, "\x00")
		i, ok := idx[k]
		if !ok {
			i = len(r.Series)
			idx[k] = i
			r.Series = append(r.Series, Series{Sample: Sample{Def: s.Def, Labels: s.Labels}})
		}
		switch s.Def.Kind {
		case Gauge:
			r.Series[i].Value = s.Value
		case Distribution:
			r.Series[i].Value += s.Value
			r.Series[i].Count++
		default:
			r.Series[i].Value += s.Value
		}
	}
	return r
}
