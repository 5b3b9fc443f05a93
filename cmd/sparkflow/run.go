package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sparkflow/sparkflow/shared/front/display"
	"github.com/sparkflow/sparkflow/shared/front/lineage"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func newRunCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "run", Short: "Submit, list, follow and cancel runs"}
	cmd.AddCommand(newRunSubmitCmd(g), newRunListCmd(g), newRunRejectedCmd(g), &cobra.Command{
		Use: "show ID", Short: "Show a run with its timeline", Args: exactArgs(1, "ID"),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := sparkflow.ResolveRunID(c.Context(), g.backend(), args[0])
			if err != nil {
				return err
			}
			r, err := g.backend().GetRun(c.Context(), id)
			if err != nil {
				return err
			}
			var trace *sparkflow.RunTrace
			if tf, ok := g.backend().(sparkflow.TraceFinder); ok {
				if t, err := tf.RunTrace(c.Context(), id); err == nil {
					trace = &t
				}
			}
			var lin *lineage.Lineage
			if l, err := lineage.Of(c.Context(), g.backend(), r); err == nil {
				lin = &l
			}
			costLine := g.runCost(c.Context(), r)
			return g.emit(c.OutOrStdout(), r, func(tw *tabwriter.Writer) { runTable(tw, r, trace, lin, costLine) })
		},
	}, &cobra.Command{
		Use: "cancel ID", Short: "Cancel a run (its step is cancelled; it ends CANCELLED)", Args: exactArgs(1, "ID"),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := sparkflow.ResolveRunID(c.Context(), g.backend(), args[0])
			if err != nil {
				return err
			}
			r, err := g.backend().CancelRun(c.Context(), id)
			if err != nil {
				return err
			}
			if r.Status.Terminal() {
				fmt.Fprintf(c.OutOrStdout(), "run %s %s\n", r.ID, r.Status)
			} else {
				fmt.Fprintf(c.OutOrStdout(), "run %s: cancel requested; its step is being cancelled\n", r.ID)
			}
			return nil
		},
	}, newRunLogsCmd(g), newRunWatchCmd(g), newRunBackfillCmd(g))
	return cmd
}

func newRunSubmitCmd(g *globals) *cobra.Command {
	var (
		params   []string
		wait     bool
		id       string
		priority string
		after    []string
	)
	cmd := &cobra.Command{
		Use:   "submit TRANSFORM [--arg NAME=VALUE]... [--after RUN]... [--wait]",
		Short: "Submit a run of a transform",
		Example: `  sparkflow run submit daily-sales --arg day=2026-11-22 --wait
  sparkflow run submit report -o json
  sparkflow run submit publish --after 1c2e4f60-…   # starts once that run has SUCCEEDED`,
		Args: exactArgs(1, "TRANSFORM"),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := parseKV(params, "arg")
			if err != nil {
				return err
			}
			b := g.backend()
			var ids []string
			for _, a := range after {
				full, err := sparkflow.ResolveRunID(c.Context(), b, a)
				if err != nil {
					return fmt.Errorf("--after %s: %w", a, err)
				}
				ids = append(ids, full)
			}
			r, err := b.SubmitRun(c.Context(), sparkflow.RunRequest{ID: id, Transform: args[0], Params: p, Priority: sparkflow.Priority(priority), After: ids})
			if err != nil {
				return err
			}
			if !wait {
				return g.emit(c.OutOrStdout(), r, func(tw *tabwriter.Writer) { row(tw, "run", r.ID, r.Status) })
			}
			fmt.Fprintf(c.ErrOrStderr(), "run %s %s\n", r.ID, r.Status)
			last := r.Status
			submitted := time.Now()
			for !r.Status.Terminal() {
				select {
				case <-c.Context().Done():
					return &interruptedError{fmt.Sprintf("stopped waiting; run %s goes on (sparkflow run show %s)", r.ID, r.ID)}
				case <-time.After(300 * time.Millisecond):
				}
				next, err := b.GetRun(c.Context(), r.ID)
				if sparkflow.IsCode(err, sparkflow.NotFound) && time.Since(submitted) < queueGrace {
					continue // on AWS the request may still be on the queue, not yet recorded
				}
				if err != nil {
					return err
				}
				r = next
				if r.Status != last {
					where := ""
					if r.ClusterID != "" {
						where = " on " + r.ClusterID
					}
					fmt.Fprintf(c.ErrOrStderr(), "run %s %s (attempt %d)%s\n", r.ID, r.Status, r.Attempt, where)
					last = r.Status
				}
			}
			if err := g.emit(c.OutOrStdout(), r, func(tw *tabwriter.Writer) { runTable(tw, r, nil, nil, "") }); err != nil {
				return err
			}
			if r.Status != sparkflow.RunSucceeded {
				return &runFailedError{fmt.Sprintf("run %s ended %s: %s", r.ID, r.Status, r.Reason)}
			}
			return nil
		},
	}
	cmd.Annotations = map[string]string{fieldFlags: "params=--arg,id=--id,transform=,priority=--priority,after=--after"}
	cmd.Flags().StringArrayVar(&after, "after", nil, "a run (id, or its first characters) that must SUCCEED before this one starts; it ends UPSTREAM_FAILED if that run ends otherwise (repeatable)")
	cmd.Flags().StringVar(&priority, "priority", "", "high, normal or low: its place in the pool's queue (default: the transform's)")
	cmd.Flags().StringArrayVar(&params, "arg", nil, "override the transform's parameter NAME=VALUE (repeatable)")
	cmd.Flags().StringArrayVar(&params, "param", nil, "same as --arg")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the run to end; exit 6 unless it SUCCEEDED")
	cmd.Flags().StringVar(&id, "id", "", "run id (a UUID) to make the submit idempotent; default: a new one")
	return cmd
}

// queueGrace is how long `run submit --wait` accepts "not found" for a run still on the AWS queue.
const queueGrace = 2 * time.Minute

func newRunListCmd(g *globals) *cobra.Command {
	var (
		f      sparkflow.RunFilter
		status string
	)
	cmd := &cobra.Command{
		Use: "list", Short: "List runs, newest first", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			f.Status = sparkflow.RunStatus(strings.ToUpper(status))
			if f.Status != "" && !f.Status.Valid() {
				return usagef("--status %q is not a run status; use one of %v", status, sparkflow.RunStatuses)
			}
			runs, err := g.backend().ListRuns(c.Context(), f)
			if err != nil {
				return err
			}
			return g.emit(c.OutOrStdout(), runs, func(tw *tabwriter.Writer) { runsTable(tw, runs) })
		},
	}
	cmd.Flags().StringVar(&f.Transform, "transform", "", "only this transform's runs")
	cmd.Flags().StringVar(&f.Pool, "pool", "", "only this pool's runs")
	cmd.Flags().StringVar(&status, "status", "", "only runs in this status")
	cmd.Flags().BoolVar(&f.Active, "active", false, "only runs that have not ended")
	cmd.Flags().IntVar(&f.Limit, "limit", 50, "at most this many runs (0: all)")
	return cmd
}

func newRunRejectedCmd(g *globals) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use: "rejected", Short: "List the run requests that could not be accepted, newest first, with their reasons (AWS: the intake's; the local API refuses them at once)",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if limit < 1 || limit > 1000 {
				return usagef("--limit %d: give 1 to 1000", limit)
			}
			rs, err := g.backend().ListRejected(c.Context(), limit)
			if err != nil {
				return err
			}
			return g.emit(c.OutOrStdout(), rs, func(tw *tabwriter.Writer) {
				row(tw, "MESSAGE", "WHEN", "REASON", "BODY")
				for _, r := range rs {
					row(tw, r.ID, display.Ago(time.Now(), r.At), display.Truncate(r.Reason, 70), display.Truncate(strings.ReplaceAll(r.Body, "\n", " "), 60))
				}
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many (1 to 1000)")
	return cmd
}

func runsTable(tw *tabwriter.Writer, runs []sparkflow.Run) {
	row(tw, "RUN", "TRANSFORM", "STATUS", "ATTEMPT", "CLUSTER", "CREATED", "DURATION", "REASON")
	for _, r := range runs {
		row(tw, r.ID, r.Transform, r.Status, fmt.Sprintf("%d/%d", r.Attempt, r.MaxAttempts), display.OrDash(r.ClusterID), display.Ago(time.Now(), r.CreatedAt), display.RunTime(time.Now(), r), display.Truncate(r.Reason, 60))
	}
}

// traceTable says where the run's SparkFlow log lines are (every line carries its run_id).
func traceTable(tw *tabwriter.Writer, t sparkflow.RunTrace) {
	row(tw, "SparkFlow log:", t.Where)
	if t.Query != "" {
		row(tw, "Logs Insights:", t.Query)
	}
	if t.Command != "" {
		row(tw, "Its lines:", t.Command)
	}
}

// runTable shows a run; trace, when known, says where its SparkFlow log lines are.
func runTable(tw *tabwriter.Writer, r sparkflow.Run, trace *sparkflow.RunTrace, lin *lineage.Lineage, costLine string) {
	row(tw, "Run:", r.ID)
	row(tw, "Transform:", r.Transform+" (pool "+r.Pool+")")
	row(tw, "Status:", r.Status)
	row(tw, "Attempt:", fmt.Sprintf("%d of %d", r.Attempt, r.MaxAttempts))
	row(tw, "Priority:", r.Priority.Or(sparkflow.PriorityNormal))
	row(tw, "Cluster:", display.OrDash(r.ClusterID))
	row(tw, "Step:", display.OrDash(r.StepID)+" "+display.StepState(r))
	keys := make([]string, 0, len(r.Params))
	for k := range r.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		row(tw, "Argument:", k+" = "+r.Params[k])
	}
	if r.Reason != "" {
		row(tw, "Reason:", r.Reason)
	}
	for _, w := range r.WaitsFor {
		row(tw, "Waits for:", w)
	}
	for _, a := range r.After {
		row(tw, "After run:", a)
	}
	if lin != nil {
		for _, u := range lin.Upstream {
			row(tw, "Upstream run:", u.ID+" "+u.Transform+" "+string(u.Status))
		}
		for _, d := range lin.Downstream {
			row(tw, "Downstream run:", d.ID+" "+d.Transform+" "+string(d.Status))
		}
	}
	if r.LogURI != "" {
		row(tw, "Step logs:", r.LogURI)
	}
	if costLine != "" {
		row(tw, "Cost:", costLine)
	}
	if trace != nil {
		traceTable(tw, *trace)
	}
	fmt.Fprintln(tw)
	row(tw, "TIME", "STATUS", "ATTEMPT", "NOTE")
	for _, h := range r.History {
		row(tw, h.At.Local().Format("15:04:05.000"), h.Label(), h.Attempt, h.Note)
	}
}

func newRunLogsCmd(g *globals) *cobra.Command {
	var (
		q      sparkflow.LogQuery
		follow bool
	)
	cmd := &cobra.Command{
		Use: "logs ID", Short: "Print a run's step output (local mode); ID may be its first 6+ characters", Args: exactArgs(1, "ID"),
		RunE: func(c *cobra.Command, args []string) error {
			if q.Stream != "stdout" && q.Stream != "stderr" {
				return usagef("--stream %q: use stdout or stderr", q.Stream)
			}
			if q.Attempt < 0 {
				return usagef("--attempt %d: attempts count from 1", q.Attempt)
			}
			if follow && q.Tail > 0 {
				return usagef("--tail and --follow do not go together")
			}
			b := g.backend()
			id, err := sparkflow.ResolveRunID(c.Context(), b, args[0])
			if err != nil {
				return err
			}
			printed := 0
			for {
				text, err := b.RunLogs(c.Context(), id, q)
				if err != nil && !(follow && sparkflow.IsCode(err, sparkflow.NotFound)) {
					return err
				}
				if len(text) > printed {
					io.WriteString(c.OutOrStdout(), text[printed:])
					printed = len(text)
				}
				if !follow {
					return nil
				}
				r, err := b.GetRun(c.Context(), id)
				if err != nil {
					return err
				}
				if r.Status.Terminal() {
					if text, err := b.RunLogs(c.Context(), id, q); err == nil && len(text) > printed {
						io.WriteString(c.OutOrStdout(), text[printed:])
					}
					return nil
				}
				select {
				case <-c.Context().Done():
					return nil
				case <-time.After(500 * time.Millisecond):
				}
			}
		},
	}
	cmd.Flags().StringVar(&q.Stream, "stream", "stdout", "stdout or stderr")
	cmd.Flags().Int64Var(&q.Tail, "tail", 0, "only the last N bytes (0: all; not with --follow)")
	cmd.Flags().IntVar(&q.Attempt, "attempt", 0, "the attempt whose logs to print (default: the latest)")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep printing until the run ends")
	return cmd
}

func newRunWatchCmd(g *globals) *cobra.Command {
	var (
		f        sparkflow.RunFilter
		interval time.Duration
		once     bool
	)
	cmd := &cobra.Command{
		Use: "watch", Short: "Follow runs live: counts by status and the newest runs, refreshed", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			b := g.backend()
			if f.Limit == 0 {
				f.Limit = 20
			}
			for {
				runs, err := b.ListRuns(c.Context(), f)
				if err != nil {
					return err
				}
				active, err := b.ListRuns(c.Context(), sparkflow.RunFilter{Transform: f.Transform, Pool: f.Pool, Active: true})
				if err != nil {
					return err
				}
				counts := map[sparkflow.RunStatus]int{}
				for _, r := range active {
					counts[r.Status]++
				}
				w := c.OutOrStdout()
				if !once {
					fmt.Fprint(w, "\033[H\033[2J")
				}
				fmt.Fprintf(w, "%s  queued %d  waiting %d  submitted %d  running %d   (Ctrl-C to stop)\n\n", time.Now().Format("15:04:05"),
					counts[sparkflow.RunQueued], counts[sparkflow.RunWaiting], counts[sparkflow.RunSubmitted], counts[sparkflow.RunRunning])
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				runsTable(tw, runs)
				tw.Flush()
				if once {
					return nil
				}
				select {
				case <-c.Context().Done():
					return nil
				case <-time.After(interval):
				}
			}
		},
	}
	cmd.Flags().StringVar(&f.Transform, "transform", "", "only this transform's runs")
	cmd.Flags().StringVar(&f.Pool, "pool", "", "only this pool's runs")
	cmd.Flags().IntVar(&f.Limit, "limit", 20, "newest runs shown")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "refresh interval")
	cmd.Flags().BoolVar(&once, "once", false, "print once and exit")
	return cmd
}
