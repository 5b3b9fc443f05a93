package engine

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"
)

// The backlog counts the events queued behind the one being handled, and dates the oldest.
func TestBusBacklog(t *testing.T) {
	b := newBus(nil, slog.New(slog.DiscardHandler))
	release := make(chan struct{})
	handling := make(chan struct{}, 10)
	b.start(context.Background(), func(context.Context, []byte) error {
		handling <- struct{}{}
		<-release
		return nil
	})
	defer b.close()
	if n, oldest := b.backlog(); n != 0 || !oldest.IsZero() {
		t.Fatalf("an idle bus has a backlog of %d since %v", n, oldest)
	}
	before := time.Now()
	// One step's events share a lane: the first is handled, the other four wait behind it.
	for i := 0; i < 5; i++ {
		b.publish([]byte(fmt.Sprintf(`{"source":"aws.emr","detail-type":"EMR Step Status Change","detail":{"stepId":"s-1","clusterId":"j-1","state":"RUNNING","n":%d}}`, i)))
	}
	<-handling
	n, oldest := b.backlog()
	if n != 4 || oldest.Before(before) || time.Since(oldest) > time.Second {
		t.Fatalf("backlog %d since %v, want 4 since just now", n, oldest)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if n, _ := b.backlog(); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the backlog never emptied")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
