// Command sparkflow runs Spark jobs on pools of EMR clusters: the local engine (sparkflow local), the
// demo, and the commands that manage pools, transforms and runs through a server's JSON API.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// Exit codes, by error kind, so scripts can tell a typo from an outage.
const (
	exitInternal  = 1
	exitInvalid   = 2
	exitNotFound  = 3
	exitConflict  = 4
	exitTransient = 5
	exitRunFailed = 6
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "sparkflow:", err)
	var rf *runFailedError
	if errors.As(err, &rf) {
		return exitRunFailed
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return exitInvalid
	}
	switch sparkflow.ErrorCode(err) {
	case sparkflow.Invalid:
		return exitInvalid
	case sparkflow.NotFound:
		return exitNotFound
	case sparkflow.Conflict:
		return exitConflict
	case sparkflow.Transient:
		return exitTransient
	}
	return exitInternal
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

type runFailedError struct{ msg string }

func (e *runFailedError) Error() string { return e.msg }

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "sparkflow",
		Short: "Run Spark jobs on pools of EMR clusters — or, in local mode, on this machine",
		Long: `SparkFlow runs Spark jobs on pools of Amazon EMR clusters.

  pool       N clusters of one size tier, created, deleted and healed as a unit
  transform  a job profile (spark-submit or any command, arguments, retry and timeout policy) of a pool
  run        one execution of a transform: queued, placed on the least-loaded cluster with a free slot,
             followed by EMR's own state-change events

Start a local engine with 'sparkflow local', or see it all at work with 'sparkflow demo'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usagef("%v (see '%s --help')", err, c.CommandPath())
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.server, "server", envOr("SPARKFLOW_SERVER", "http://127.0.0.1:8080"), "SparkFlow server URL (env SPARKFLOW_SERVER)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format of listings: table or json")
	pf.StringVar(&g.target, "target", envOr("SPARKFLOW_TARGET", "local"), "local (a sparkflow local server at --server) or aws (a deployed stack, --stack) (env SPARKFLOW_TARGET)")
	pf.StringVar(&g.stack, "stack", envOr("SPARKFLOW_STACK", "SparkFlow"), "the deployed stack's name, with --target aws (env SPARKFLOW_STACK)")
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		switch g.target {
		case "local":
			return nil
		case "aws":
			b, err := awsBackend(c.Context(), g.stack)
			g.b = b
			return err
		}
		return usagef("--target %q: use local or aws", g.target)
	}
	root.AddCommand(newLocalCmd(), newDemoCmd(), newUICmd(g), newPoolCmd(g), newTransformCmd(g), newRunCmd(g), newTierCmd(g))
	return root
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
