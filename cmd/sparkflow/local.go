package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sparkflow/sparkflow/shared/front/httpapi"
	"github.com/sparkflow/sparkflow/shared/front/webui"
	"github.com/sparkflow/sparkflow/shared/local/engine"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

var _ sparkflow.Backend = (*engine.Engine)(nil)

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "sparkflow")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "sparkflow")
	}
	return ".sparkflow"
}

func newLocalCmd() *cobra.Command {
	var (
		cfg         engine.Config
		addr        string
		allowRemote bool
		verbose     bool
		grace       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run the embedded engine with its web UI and JSON API (no AWS account needed)",
		Long: `Runs SparkFlow on this machine: a SQLite database in the data directory, local clusters that
run each step's command as a process (logs under DATA/emr/logs), the JSON API on --addr, and the
engine's metrics for Prometheus at GET /metrics.
Stop it with Ctrl-C: it takes no new runs and starts no new step, lets the steps under way finish
(at most --grace; Ctrl-C again stops at once), then stops. Start it again on the same data directory and
every run it had accepted goes on; a step cut off by the stop counts as a failed attempt of its run,
which is retried as its transform allows.

It serves loopback only unless --allow-remote is given: transforms run commands on this machine.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return usagef("--addr %q: expected HOST:PORT, e.g. 127.0.0.1:8080", addr)
			}
			ip := net.ParseIP(host)
			loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
			if !loopback && !allowRemote {
				return usagef("--addr %s is not a loopback address; transforms run commands on this machine, so serving other hosts needs --allow-remote", addr)
			}
			level := slog.LevelInfo
			if !verbose {
				level = slog.LevelWarn
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			cfg.Log = log
			e, err := engine.Open(cfg)
			if err != nil {
				return err
			}
			defer e.Close()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w (is another sparkflow local running? choose another --addr)", addr, err)
			}
			opt := httpapi.Options{Log: log}
			if !loopback {
				opt.AllowedHosts = []string{host}
			}
			mux := http.NewServeMux()
			mux.Handle("/api/", httpapi.NewServer(e, opt))
			mux.Handle("GET /metrics", e.MetricsHandler())
			mux.Handle("/", webui.New(e, webui.Options{AllowedHosts: opt.AllowedHosts, Logs: true, Log: log, Importer: &accountImporter{}}))
			fmt.Fprintf(c.ErrOrStderr(), "sparkflow local: web UI and API on http://%s (data in %s); Ctrl-C to stop\n", ln.Addr(), cfg.DataDir)
			err = serve(c.Context(), ln, mux)
			if c.Context().Err() != nil {
				stopGracefully(c.ErrOrStderr(), e, grace)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", defaultDataDir(), "data directory (database, cluster state, logs)")
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "address of the JSON API")
	f.StringVar(&cfg.TierFile, "tiers", "", "JSON file of extra or overriding tiers")
	f.DurationVar(&cfg.ProvisionDelay, "provision-delay", 2*time.Second, "how long a local cluster takes to start")
	f.DurationVar(&cfg.ReconcileInterval, "reconcile-interval", 30*time.Second, "how often records are checked against the clusters")
	f.BoolVar(&allowRemote, "allow-remote", false, "allow a non-loopback --addr")
	f.BoolVarP(&verbose, "verbose", "v", false, "log every state change")
	f.DurationVar(&grace, "grace", 30*time.Second, "on Ctrl-C, how long running steps may take to finish")
	return cmd
}

// stopGracefully drains the engine after a Ctrl-C, saying what it waits for and what becomes of the
// runs; a second Ctrl-C stops the wait.
func stopGracefully(w io.Writer, e *engine.Engine, grace time.Duration) {
	n := e.Clusters.Running()
	if n > 0 {
		fmt.Fprintf(w, "sparkflow local: stopping: no new runs or steps; waiting up to %s for %d running step(s) to finish (Ctrl-C again to stop now)\n", grace, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	go func() {
		select {
		case <-again:
			cancel()
		case <-ctx.Done():
		}
	}()
	rep := e.Drain(ctx)
	msg := "sparkflow local: stopped"
	if rep.Finished > 0 {
		msg += fmt.Sprintf("; %d step(s) finished first", rep.Finished)
	}
	if rep.Interrupted > 0 {
		msg += fmt.Sprintf("; %d step(s) still running were cut off: each counts as a failed attempt, retried as its transform allows at the next start", rep.Interrupted)
	}
	fmt.Fprintln(w, msg+"; queued and waiting runs go on at the next start")
}
