// Command sparkflow runs Spark jobs on pools of EMR clusters: the local engine (sparkflow local), the
// demo, and the commands that manage pools, transforms and runs through a server's JSON API.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // schedules name IANA zones: a machine without them still parses them

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
	// exitInterrupted is what a shell reports for Ctrl-C (128 + SIGINT).
	exitInterrupted = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cmd, err := newRoot().ExecuteContextC(ctx)
	stop()
	os.Exit(exitCode(flagNamed(cmd, err)))
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
	var pe *problemsError
	if errors.As(err, &pe) {
		return exitProblems
	}
	var ie *interruptedError
	if errors.As(err, &ie) {
		return exitInterrupted
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

// interruptedError is a command stopped by Ctrl-C (or SIGTERM) that says what goes on without it.
type interruptedError struct{ msg string }

func (e *interruptedError) Error() string { return e.msg }

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
		// Every flag is checked before a command does anything, so that a typo never half-runs one.
		if g.output != "table" && g.output != "json" {
			return usagef("--output %q is not a format: use table or json", g.output)
		}
		server, err := serverURL(g.server)
		if err != nil {
			return err
		}
		g.server = server
		switch g.target {
		case "local":
			return nil
		case "aws":
			if c.Annotations[ownTarget] != "" {
				return nil
			}
			b, err := awsBackend(c.Context(), g.stack)
			g.b = b
			return err
		}
		return usagef("--target %q: use local or aws", g.target)
	}
	root.AddCommand(newLocalCmd(), newDemoCmd(), newUICmd(g), newPoolCmd(g), newTransformCmd(g), newRunCmd(g), newTierCmd(g), newDoctorCmd(g), newCostCmd(g), newBenchCmd())
	for _, c := range root.Commands() {
		groupCommand(c)
	}
	return root
}

// groupCommand makes a command that only holds subcommands refuse an unknown one (exit 2, with the
// nearest names), instead of printing its help and succeeding.
func groupCommand(c *cobra.Command) {
	if !c.HasSubCommands() || c.RunE != nil || c.Run != nil {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if c.SuggestionsMinimumDistance <= 0 {
			c.SuggestionsMinimumDistance = 2
		}
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf("; did you mean %s?", strings.Join(s, " or "))
		}
		return usagef("%s (see '%s --help')", msg, c.CommandPath())
	}
	for _, sub := range c.Commands() {
		groupCommand(sub)
	}
}

// fieldFlags is the annotation of a command that maps the request fields its flags set to the flags,
// "field=--flag,..." , so that an error about a field names the flag the user typed.
const fieldFlags = "sparkflow/field-flags"

// flagNamed rewrites an error about a request field ("idleTimeoutSeconds: ...") to name the flag
// instead ("--idle-timeout: ...").
func flagNamed(c *cobra.Command, err error) error {
	var e *sparkflow.Error
	if err == nil || c == nil || !errors.As(err, &e) || e.Field == "" {
		return err
	}
	for _, pair := range strings.Split(c.Annotations[fieldFlags], ",") {
		field, flag, _ := strings.Cut(pair, "=")
		if field == e.Field {
			return &sparkflow.Error{Code: e.Code, Field: flag, Message: e.Message, Err: e.Err}
		}
	}
	return err
}

// serverURL accepts a server address with or without its scheme (127.0.0.1:8080 means http://).
func serverURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", usagef("--server %q: write it as http://HOST:PORT (for example http://127.0.0.1:8080)", s)
	}
	return strings.TrimRight(s, "/"), nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
