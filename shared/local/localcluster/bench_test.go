package localcluster

import (
	"context"
	"testing"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// BenchmarkAddStepThatFailsAtOnce is the local clusters' own cost of a step (journal lines, its log
// directory, the pending queue, the events), without a process: the program does not exist.
func BenchmarkAddStepThatFailsAtOnce(b *testing.B) {
	c := openAt(b, b.TempDir())
	defer c.Close()
	id, err := c.Launch(context.Background(), sparkflow.LaunchSpec{Name: "n", Pool: sparkflow.Pool{StepConcurrency: 4}})
	if err != nil {
		b.Fatal(err)
	}
	for {
		if info, _ := c.Describe(context.Background(), id); info.State.Ready() {
			break
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.AddStep(context.Background(), id, sparkflow.StepSpec{Name: "x", Args: []string{"/no/such/program"}}); err != nil {
			b.Fatal(err)
		}
	}
}
