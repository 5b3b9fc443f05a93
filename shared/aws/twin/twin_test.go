package twin_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/aws/awstest"
	"github.com/sparkflow/sparkflow/shared/aws/twin"
	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
)

var tw *twin.Twin

// TestMain starts one twin with the stack deployed for the whole package: a deploy takes seconds, and
// every test names its pools and transforms uniquely.
func TestMain(m *testing.M) {
	code := func() int {
		root, err := repoRoot()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		dir, err := os.MkdirTemp("", "sparkflow-twin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		tw, err = twin.Start(ctx, root, dir, "SparkFlow")
		if err != nil {
			fmt.Fprintln(os.Stderr, "twin:", err)
			return 1
		}
		defer tw.Stop()
		return m.Run()
	}()
	os.Exit(code)
}

func repoRoot() (string, error) {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		dir = filepath.Dir(dir)
	}
}

var _ = awstest.Config

// The deployed stack, through the AWS backend the CLI and UI use, passes the contract every backend
// passes.
func TestBackendContract(t *testing.T) {
	b, err := tw.Backend(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		return backendtest.Harness{Backend: b, Logs: false, Wait: 60 * time.Second}
	})
}
