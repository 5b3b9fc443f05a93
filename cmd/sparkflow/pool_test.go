package main

import (
	"bytes"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// pool show says why a pool launches nothing: held (with EMR's reason and the command that resumes
// it), backing off (until when), or waiting for work after idle endings.
func TestPoolShowSaysWhyNothingLaunches(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	next := at.Add(4 * time.Minute)
	failure := &sparkflow.StartFailure{ClusterID: "j-1", Reason: sparkflow.StateReason{Code: "VALIDATION_ERROR", Message: "The subnet is not tagged"}, At: at}
	show := func(v sparkflow.PoolView) string {
		var b bytes.Buffer
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		poolTable(tw, v, "", nil)
		tw.Flush()
		return b.String()
	}
	base := sparkflow.PoolView{Pool: sparkflow.Pool{Name: "etl", Clusters: 2, Status: sparkflow.PoolDegraded}}
	held := base
	held.LaunchesHeld, held.StartFailures, held.LastStartFailure = true, 3, failure
	for _, want := range []string{"HELD after 3 clusters", "VALIDATION_ERROR: The subnet is not tagged", "j-1", "sparkflow pool heal etl"} {
		if out := show(held); !strings.Contains(out, want) {
			t.Fatalf("held pool lacks %q:\n%s", want, out)
		}
	}
	backoff := base
	backoff.StartFailures, backoff.LastStartFailure, backoff.NextLaunchAt = 1, failure, &next
	if out := show(backoff); !strings.Contains(out, "next after 2026-11-24T10:04:00Z") || !strings.Contains(out, "1 failed starts") {
		t.Fatalf("backing-off pool:\n%s", out)
	}
	idle := base
	idle.Status, idle.IdleEnded = sparkflow.PoolIdle, 2
	if out := show(idle); !strings.Contains(out, "2 of 2 clusters ended for idleness") {
		t.Fatalf("idle pool:\n%s", out)
	}
	if out := show(base); strings.Contains(out, "Launches:") {
		t.Fatalf("a pool launching normally says Launches:\n%s", out)
	}
}
