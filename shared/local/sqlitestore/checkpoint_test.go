package sqlitestore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// The write-ahead log is copied into the database and started again from its beginning by the
// checkpointer, not by the writer's commits: under a stream of writes the log file stays the size of
// what is written between two of its turns, instead of growing with every write until the writer's
// backstop.
func TestTheCheckpointerKeepsTheLogSmall(t *testing.T) {
	checkpointEvery, walRestart = 20*time.Millisecond, 64
	defer func() { checkpointEvery, walRestart = 250*time.Millisecond, 32768 }()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pad := strings.Repeat("x", 2000)
	// Readers read all along, as the engine's do: a log a reader still reads from is not started
	// again by a commit.
	for i := 0; i < readers; i++ {
		go func() {
			for ctx.Err() == nil {
				s.ListRuns(ctx, sparkflow.RunFilter{Limit: 20})
			}
		}()
	}
	var sizes []int64
	for round := 0; round < 8; round++ {
		for i := 0; i < 200; i++ {
			now := time.Now().UTC()
			r := sparkflow.Run{ID: fmt.Sprintf("r-%d-%d", round, i), Transform: "t", Pool: "p", Attempt: 1, Reason: pad, CreatedAt: now, UpdatedAt: now}
			r.SetStatus(sparkflow.RunQueued, now, "")
			if _, err := s.CreateRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(60 * time.Millisecond) // the checkpointer's turns
		st, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, st.Size())
	}
	// Each round writes about 1,900 frames (7.6 MB: a log never started again ends past 70 MB); the
	// log started again holds what a few of the checkpointer's turns let in.
	if last := sizes[len(sizes)-1]; last > 24<<20 {
		t.Fatalf("the log grew to %d bytes over %d rounds: it is not started again (sizes %v)", last, len(sizes), sizes)
	}
}
