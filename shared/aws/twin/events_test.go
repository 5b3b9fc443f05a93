package twin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// testEventHandlingFailsThenRedelivered: the events function cannot read the table for a while (its
// DynamoDB calls are throttled beyond the SDK's retries), so it reports the event it was handling
// failed; the events queue hands it over again and the run ends as it should. The event is neither
// lost nor handled twice.
func testEventHandlingFailsThenRedelivered(t *testing.T) {
	ctx := context.Background()
	b, err := tw.Backend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pool := "redeliver"
	backendtest.ReadyPool(t, b, pool, 1, 1, 2*time.Minute)
	if _, err := b.CreateTransform(ctx, sparkflow.Transform{Name: pool + "-ok", Pool: pool, Kind: sparkflow.KindCommand, Command: []string{"true"}, MaxAttempts: 1}); err != nil {
		t.Fatal(err)
	}
	since := float64(time.Now().UnixNano()) / 1e9
	// Three throttled reads in a row: the SDK's own retries (3 attempts) give up.
	if err := tw.Post("/fail-next", map[string]any{"function": "emrevents", "action": "GetItem", "count": 3}, nil); err != nil {
		t.Fatal(err)
	}
	run, err := b.SubmitRun(ctx, sparkflow.RunRequest{Transform: pool + "-ok"})
	if err != nil {
		t.Fatal(err)
	}
	r := backendtest.WaitRun(t, b, run.ID, 2*time.Minute)
	if r.Status != sparkflow.RunSucceeded || r.Attempt != 1 {
		t.Fatalf("run after its event handling failed once: %s attempt %d: %s", r.Status, r.Attempt, r.Reason)
	}
	// The failed event's message is handed back when the invocation that failed it returns, which
	// may be after the run ended (the batch goes on with the run's own events): look for a while.
	throttled, redelivered := 0, 0
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		calls, err := tw.Calls(since)
		if err != nil {
			t.Fatal(err)
		}
		throttled, redelivered = 0, 0
		for _, c := range calls {
			if !strings.Contains(c.Function, "emrevents") {
				continue
			}
			switch c.Action {
			case "GetItem:Throttled":
				throttled++
			case "ChangeMessageVisibility":
				redelivered++
			}
		}
		if (throttled == 3 && redelivered >= 1) || time.Now().After(deadline) {
			break
		}
	}
	if throttled != 3 || redelivered < 1 {
		t.Fatalf("events function: %d throttled reads, %d events handed back to the queue; want 3 and at least 1", throttled, redelivered)
	}
	if err := b.DeletePool(ctx, pool, true); err != nil {
		t.Fatal(err)
	}
}
