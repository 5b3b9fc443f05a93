package tasks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/emrevent"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// endedClusters is EMR for clusters j-gone*: each has ended, and was ready at readyAt (nil: never).
// failFirst makes the first DescribeCluster of each fail.
type endedClusters struct {
	sparkflow.Clusters
	readyAt   *time.Time
	failFirst map[string]bool
}

func (e *endedClusters) Describe(ctx context.Context, id string) (sparkflow.ClusterInfo, error) {
	if !strings.HasPrefix(id, "j-gone") {
		return e.Clusters.Describe(ctx, id)
	}
	if e.failFirst[id] {
		delete(e.failFirst, id)
		return sparkflow.ClusterInfo{}, sparkflow.Errorf(sparkflow.Transient, "throttled")
	}
	return sparkflow.ClusterInfo{ID: id, State: sparkflow.ClusterTerminatedWithErrors, ReadyAt: e.readyAt}, nil
}

// loseStartingClusters records three clusters of pool p that EMR ends while SparkFlow still has them
// STARTING (their WAITING events came late or not at all), and hands each end to the service.
func loseStartingClusters(t *testing.T, readyAt *time.Time, failFirst bool) sparkflow.PoolView {
	t.Helper()
	e := openEngine(t, nil)
	readyPool(t, e, "p", 1)
	ctx := context.Background()
	emr := &endedClusters{Clusters: e.Service.Clusters, readyAt: readyAt, failFirst: map[string]bool{}}
	svc := *e.Service
	svc.Clusters = emr
	for i := range 3 {
		id := "j-gone" + string(rune('a'+i))
		if err := e.Store.CreateCluster(ctx, sparkflow.Cluster{ID: id, Pool: "p", State: sparkflow.ClusterStarting, Capacity: 2, CreatedAt: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
		emr.failFirst[id] = failFirst
		end := emrevent.ClusterChange{ClusterID: id, State: sparkflow.ClusterTerminatedWithErrors, Reason: sparkflow.StateReason{Code: "INSTANCE_FAILURE"}, Time: time.Now().UTC()}
		err := svc.HandleClusterChange(ctx, end)
		if failFirst {
			if err == nil {
				t.Fatalf("%s: EMR did not answer, and the handler said nothing: the event would not be redelivered", id)
			}
			err = svc.HandleClusterChange(ctx, end) // the redelivery
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	p, err := e.Service.GetPool(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Clusters that ran but whose WAITING event was lost or came after their end are no failed starts:
// the handler asks EMR for the ready time, and the pool keeps launching.
func TestClustersThatRanAreNoFailedStartsWhenTheirReadyEventIsLost(t *testing.T) {
	ready := time.Now().UTC().Add(-time.Minute)
	for _, failFirst := range []bool{false, true} {
		p := loseStartingClusters(t, &ready, failFirst)
		if p.LaunchesHeld || p.StartFailures != 0 {
			t.Fatalf("describe fails first=%v: the pool counts clusters that ran as failed starts: held=%v failures=%d", failFirst, p.LaunchesHeld, p.StartFailures)
		}
	}
	// The same ends with EMR saying the clusters were never ready are failed starts, and hold launches.
	p := loseStartingClusters(t, nil, false)
	if !p.LaunchesHeld || p.StartFailures != 3 {
		t.Fatalf("three clusters that never started: held=%v failures=%d", p.LaunchesHeld, p.StartFailures)
	}
}
