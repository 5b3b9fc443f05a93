package sparkflow

import (
	"reflect"
	"testing"
	"time"
)

// Every field of a Run that refers to memory (a map, slice or pointer) is copied by Clone, not
// shared: a field added to Run and left out of Clone fails here.
func TestRunCloneSharesNothing(t *testing.T) {
	var r Run
	v := reflect.ValueOf(&r).Elem()
	for i := 0; i < v.NumField(); i++ {
		f, name := v.Field(i), v.Type().Field(i).Name
		switch f.Kind() {
		case reflect.Map:
			m := reflect.MakeMap(f.Type())
			m.SetMapIndex(reflect.ValueOf("k"), reflect.ValueOf("v"))
			f.Set(m)
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 4))
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.String, reflect.Int, reflect.Int64, reflect.Bool:
		case reflect.Struct:
			if f.Type() != reflect.TypeOf(time.Time{}) {
				t.Fatalf("field %s is a struct %s: say in Clone and here how it is copied", name, f.Type())
			}
		default:
			t.Fatalf("field %s is a %s: say in Clone and here how it is copied", name, f.Kind())
		}
	}
	c := r.Clone()
	cv := reflect.ValueOf(c)
	for i := 0; i < v.NumField(); i++ {
		f, g, name := v.Field(i), cv.Field(i), v.Type().Field(i).Name
		switch f.Kind() {
		case reflect.Map, reflect.Slice, reflect.Pointer:
			if g.IsNil() || f.UnsafePointer() == g.UnsafePointer() {
				t.Fatalf("Clone shares (or drops) field %s", name)
			}
		}
	}
	if !reflect.DeepEqual(r, c) {
		t.Fatalf("the clone differs:\n%+v\n%+v", r, c)
	}
	// And a clone of a run with nothing set is that run.
	if empty := (Run{}); !reflect.DeepEqual(empty.Clone(), empty) {
		t.Fatalf("the clone of an empty run: %+v", empty.Clone())
	}
}

// A ready cluster is shown RUNNING while runs hold its slots and WAITING otherwise, whatever EMR's
// last move between the two (not recorded); a cluster not ready is shown as it is.
func TestClusterShown(t *testing.T) {
	for _, tc := range []struct {
		state ClusterState
		held  []string
		want  ClusterState
	}{
		{ClusterWaiting, nil, ClusterWaiting},
		{ClusterWaiting, []string{"r"}, ClusterRunning},
		{ClusterRunning, nil, ClusterWaiting},
		{ClusterRunning, []string{"r"}, ClusterRunning},
		{ClusterStarting, nil, ClusterStarting},
		{ClusterTerminated, []string{"r"}, ClusterTerminated},
	} {
		if got := (Cluster{State: tc.state, Reservations: tc.held}).Shown(); got != tc.want {
			t.Errorf("%s holding %v is shown %s, want %s", tc.state, tc.held, got, tc.want)
		}
	}
}
