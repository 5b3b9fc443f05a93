package tasks_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// lister answers ListInstances for every cluster with the same instances, failing the first fail
// calls, and counts the calls per cluster.
type lister struct {
	mu    sync.Mutex
	calls map[string]int
	fail  int
}

var listed = []sparkflow.InstanceCount{{Type: "m7g.xlarge", Count: 1}, {Type: "m7g.2xlarge", Count: 2, Spot: true}}

func (l *lister) Instances(ctx context.Context, id string) ([]sparkflow.InstanceCount, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[id]++
	if l.fail > 0 {
		l.fail--
		return nil, sparkflow.Errorf(sparkflow.Transient, "throttled")
	}
	return listed, nil
}

// TestAReadyClustersInstancesAreListedOnce: once a cluster is ready its instances are recorded
// from the home's lister, asked once per cluster however many state events follow; a listing that
// failed for now (throttled) fails its event, which comes back and asks again.
func TestAReadyClustersInstancesAreListedOnce(t *testing.T) {
	e := openEngine(t, nil)
	l := &lister{calls: map[string]int{}, fail: 1}
	e.Service.Instances = l
	ctx := context.Background()
	readyPool(t, e, "p", 1)
	if _, err := e.Service.CreateTransform(ctx, sparkflow.Transform{Name: "t", Pool: "p", Command: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	// Runs move the cluster RUNNING and WAITING again: events after the failed first listing.
	for i := 0; i < 3; i++ {
		r, err := e.Submit(ctx, sparkflow.RunRequest{ID: uuid.NewString(), Transform: "t"})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the run ends", func() bool { g, err := e.Store.GetRun(ctx, r.ID); return err == nil && g.Status.Terminal() })
	}
	var c sparkflow.Cluster
	eventually(t, "the cluster's instances recorded", func() bool {
		cs, err := e.Store.ListClusters(ctx, "p")
		if err != nil || len(cs) != 1 {
			return false
		}
		c = cs[0]
		return c.InstancesListed
	})
	if !reflect.DeepEqual(c.Instances, listed) {
		t.Fatalf("recorded instances %+v, want %+v", c.Instances, listed)
	}
	time.Sleep(100 * time.Millisecond) // events still in flight
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.calls[c.ID]; n != 2 {
		t.Fatalf("the instances were asked %d times; want twice (a failure, then once)", n)
	}
}
