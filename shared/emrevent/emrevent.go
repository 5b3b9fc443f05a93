// Package emrevent owns the JSON shapes of the EMR state-change events that EventBridge delivers
// (source aws.emr): the envelope, the cluster and step details, parsing and building. The local
// clusters emit exactly these bytes, so both homes feed one event handler.
package emrevent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Source and detail types, as EMR sends them.
const (
	Source            = "aws.emr"
	ClusterDetailType = "EMR Cluster State Change"
	StepDetailType    = "EMR Step Status Change"
)

// HandledStepStates are the step states whose events change a run: a PENDING event changes nothing
// (Submit records its step PENDING), so the AWS home's rule does not deliver it.
var HandledStepStates = []sparkflow.StepState{sparkflow.StepRunning, sparkflow.StepCancelPending, sparkflow.StepCompleted,
	sparkflow.StepCancelled, sparkflow.StepFailed, sparkflow.StepInterrupted}

// Event is the EventBridge envelope.
type Event struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// ClusterDetail is the detail of an "EMR Cluster State Change" event. StateChangeReason is itself a
// JSON string.
type ClusterDetail struct {
	Severity          string `json:"severity"`
	StateChangeReason string `json:"stateChangeReason"`
	Name              string `json:"name"`
	ClusterID         string `json:"clusterId"`
	State             string `json:"state"`
	Message           string `json:"message"`
}

// StepDetail is the detail of an "EMR Step Status Change" event.
type StepDetail struct {
	Severity        string `json:"severity"`
	ActionOnFailure string `json:"actionOnFailure"`
	StepID          string `json:"stepId"`
	Name            string `json:"name"`
	ClusterID       string `json:"clusterId"`
	State           string `json:"state"`
	Message         string `json:"message"`
}

// ClusterChange is a parsed cluster event in domain terms.
type ClusterChange struct {
	ClusterID string
	Name      string
	State     sparkflow.ClusterState
	Reason    sparkflow.StateReason
	Time      time.Time
}

// StepChange is a parsed step event in domain terms.
type StepChange struct {
	ClusterID string
	StepID    string
	Name      string
	State     sparkflow.StepState
	Message   string
	Time      time.Time
}

// Parse decodes an event. With strict, unknown fields are an error (used on fixtures, so a sample
// that drifts from the code fails); live events are parsed leniently because AWS may add fields.
func Parse(data []byte, strict bool) (Event, error) {
	var ev Event
	if err := decode(data, &ev, strict); err != nil {
		return Event{}, sparkflow.Wrap(sparkflow.Invalid, err, "not an EventBridge event")
	}
	if ev.Source != Source {
		return Event{}, sparkflow.Errorf(sparkflow.Invalid, "event source %q is not %s", ev.Source, Source)
	}
	return ev, nil
}

func decode(data []byte, v any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	return dec.Decode(v)
}

// Cluster returns the cluster change of a cluster event.
func (ev Event) Cluster(strict bool) (ClusterChange, error) {
	if ev.DetailType != ClusterDetailType {
		return ClusterChange{}, sparkflow.Errorf(sparkflow.Invalid, "event %s is a %q, not a cluster state change", ev.ID, ev.DetailType)
	}
	var d ClusterDetail
	if err := decode(ev.Detail, &d, strict); err != nil {
		return ClusterChange{}, sparkflow.Wrap(sparkflow.Invalid, err, "cluster event %s detail", ev.ID)
	}
	state := sparkflow.ClusterState(d.State)
	if state.Rank() < 0 {
		return ClusterChange{}, sparkflow.Errorf(sparkflow.Invalid, "cluster event %s: unknown state %q", ev.ID, d.State)
	}
	if d.ClusterID == "" {
		return ClusterChange{}, sparkflow.Errorf(sparkflow.Invalid, "cluster event %s has no clusterId", ev.ID)
	}
	reason := sparkflow.StateReason{Message: d.Message}
	if d.StateChangeReason != "" {
		var r sparkflow.StateReason
		if err := json.Unmarshal([]byte(d.StateChangeReason), &r); err != nil {
			return ClusterChange{}, sparkflow.Wrap(sparkflow.Invalid, err, "cluster event %s: stateChangeReason is not a JSON string", ev.ID)
		}
		reason.Code = r.Code
		if r.Message != "" {
			reason.Message = r.Message
		}
	}
	return ClusterChange{ClusterID: d.ClusterID, Name: d.Name, State: state, Reason: reason, Time: ev.Time}, nil
}

// Step returns the step change of a step event.
func (ev Event) Step(strict bool) (StepChange, error) {
	if ev.DetailType != StepDetailType {
		return StepChange{}, sparkflow.Errorf(sparkflow.Invalid, "event %s is a %q, not a step status change", ev.ID, ev.DetailType)
	}
	var d StepDetail
	if err := decode(ev.Detail, &d, strict); err != nil {
		return StepChange{}, sparkflow.Wrap(sparkflow.Invalid, err, "step event %s detail", ev.ID)
	}
	state := sparkflow.StepState(d.State)
	if state.Rank() < 0 {
		return StepChange{}, sparkflow.Errorf(sparkflow.Invalid, "step event %s: unknown state %q", ev.ID, d.State)
	}
	if d.StepID == "" || d.ClusterID == "" {
		return StepChange{}, sparkflow.Errorf(sparkflow.Invalid, "step event %s needs stepId and clusterId", ev.ID)
	}
	return StepChange{ClusterID: d.ClusterID, StepID: d.StepID, Name: d.Name, State: state, Message: d.Message, Time: ev.Time}, nil
}

// Builder makes events as EMR would, for the local clusters and for tests.
type Builder struct {
	Account string
	Region  string
}

// DefaultBuilder is what the local clusters use.
var DefaultBuilder = Builder{Account: "000000000000", Region: "local"}

func (b Builder) envelope(detailType string, at time.Time, detail any) ([]byte, error) {
	raw, err := json.Marshal(detail)
	if err != nil {
		return nil, err
	}
	return json.Marshal(Event{
		Version: "0", ID: uuid.NewString(), DetailType: detailType, Source: Source,
		Account: b.Account, Time: at.UTC().Truncate(time.Second), Region: b.Region,
		Resources: []string{}, Detail: raw,
	})
}

// ClusterEvent builds an "EMR Cluster State Change" event.
func (b Builder) ClusterEvent(at time.Time, clusterID, name string, state sparkflow.ClusterState, reason sparkflow.StateReason) ([]byte, error) {
	r, err := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message,omitempty"`
	}{reason.Code, reason.Message})
	if err != nil {
		return nil, err
	}
	severity := "INFO"
	if state == sparkflow.ClusterTerminatedWithErrors {
		severity = "CRITICAL"
	}
	msg := fmt.Sprintf("Amazon EMR cluster %s (%s) is %s", clusterID, name, state)
	if reason.Message != "" {
		msg += ": " + reason.Message
	}
	return b.envelope(ClusterDetailType, at, ClusterDetail{
		Severity: severity, StateChangeReason: string(r), Name: name, ClusterID: clusterID,
		State: string(state), Message: msg,
	})
}

// StepEvent builds an "EMR Step Status Change" event.
func (b Builder) StepEvent(at time.Time, clusterID, stepID, name string, state sparkflow.StepState, message string) ([]byte, error) {
	severity := "INFO"
	switch state {
	case sparkflow.StepFailed:
		severity = "ERROR"
	case sparkflow.StepCancelled, sparkflow.StepInterrupted:
		severity = "WARN"
	}
	if message == "" {
		message = fmt.Sprintf("Step %s (%s) in Amazon EMR cluster %s is %s at %s.", stepID, name, clusterID, state, at.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return b.envelope(StepDetailType, at, StepDetail{
		Severity: severity, ActionOnFailure: "CONTINUE", StepID: stepID, Name: name,
		ClusterID: clusterID, State: string(state), Message: message,
	})
}

// OrderKey is what an event's order is kept by where it is kept (the local bus): its step's id for a
// step event, its cluster's id for a cluster event, the detail's name otherwise ("" when the event
// does not parse).
func OrderKey(raw []byte) string {
	key, _, _ := Order(raw)
	return key
}

// Order is OrderKey, whether the event is a cluster's (its key a cluster id), and whether it is a
// cluster's move to RUNNING or WAITING (busy or idle): the next such event of the same cluster says
// all it says, so a queue that holds it unhandled may keep the later one in its place.
func Order(raw []byte) (key string, cluster, busyOrIdle bool) {
	var head struct {
		DetailType string `json:"detail-type"`
		Detail     struct {
			ClusterID string `json:"clusterId"`
			StepID    string `json:"stepId"`
			Name      string `json:"name"`
			State     string `json:"state"`
		} `json:"detail"`
	}
	_ = json.Unmarshal(raw, &head)
	switch {
	case head.Detail.StepID != "":
		return head.Detail.StepID, false, false
	case head.Detail.ClusterID != "":
		s := sparkflow.ClusterState(head.Detail.State)
		return head.Detail.ClusterID, true, head.DetailType == ClusterDetailType && (s == sparkflow.ClusterRunning || s == sparkflow.ClusterWaiting)
	}
	return head.Detail.Name, false, false
}
