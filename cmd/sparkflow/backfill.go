package main

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/front/backfill"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func newRunBackfillCmd(g *globals) *cobra.Command {
	var (
		args              []string
		step              string
		maxActive         int
		wait, stat, abort bool
		priority          string
	)
	cmd := &cobra.Command{
		Use:   "backfill TRANSFORM --arg NAME=FROM..TO [--step 1d] [--max-active N] [--wait | --status | --cancel]",
		Short: "Run a transform once per value of a range (dates, integers or a list); again, it creates nothing new",
		Long: `Submits one run of TRANSFORM per value of each ranged --arg: dates (day=2026-01-01..2026-03-31, by
--step Nd or Nw, default 1d), integers (shard=1..16, by --step N) or a list (region=eu,us). Several
ranged arguments give every combination; a plain --arg NAME=VALUE is the same for every run.

Each run's id is derived from the transform and its parameters, so the same backfill (or an
overlapping one) submitted again creates nothing new: it goes on where an interrupted one stopped.
--max-active keeps at most N of its runs active at once (the command waits for one to end before it
submits the next; interrupted, the runs it submitted go on). --status counts its runs by status;
--cancel cancels its active ones (stop a submit under way first).`,
		Example: `  sparkflow run backfill daily-sales --arg day=2026-01-01..2026-03-31 --max-active 4
  sparkflow run backfill daily-sales --arg day=2026-01-01..2026-03-31 --status
  sparkflow run backfill shard-job --arg shard=1..16 --arg env=prod --wait`,
		Args: exactArgs(1, "TRANSFORM"),
		RunE: func(c *cobra.Command, a []string) error {
			if maxActive < 0 {
				return usagef("--max-active %d: give the most runs active at once, or 0 for no limit", maxActive)
			}
			if !sparkflow.Priority(priority).Valid() {
				return usagef("--priority %s: use high, normal or low", priority)
			}
			if (stat && abort) || (wait && (stat || abort)) {
				return usagef("--wait, --status and --cancel go one at a time")
			}
			p, err := parseKV(args, "arg")
			if err != nil {
				return err
			}
			plan, err := core.PlanBackfill(a[0], p, step)
			if err != nil {
				return err
			}
			b := g.backend()
			if _, err := b.GetTransform(c.Context(), a[0]); err != nil {
				return err
			}
			w := c.ErrOrStderr()
			switch {
			case stat:
				s, err := backfill.Read(c.Context(), b, plan)
				if err != nil {
					return err
				}
				return g.emit(c.OutOrStdout(), s, func(tw *tabwriter.Writer) { backfillTable(tw, s) })
			case abort:
				n, err := backfill.Cancel(c.Context(), b, plan)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "backfill %s: %d active runs cancelled\n", plan.ID, n)
				return nil
			}
			first, last := plan.Runs[0].Params, plan.Runs[len(plan.Runs)-1].Params
			fmt.Fprintf(w, "backfill %s: %d runs of %s, from %v to %v\n", plan.ID, len(plan.Runs), a[0], first, last)
			opt := backfill.Options{MaxActive: maxActive, Priority: sparkflow.Priority(priority), Progress: backfillProgress(w, len(plan.Runs))}
			rep, err := backfill.Submit(c.Context(), b, plan, opt)
			if c.Context().Err() != nil {
				return &interruptedError{fmt.Sprintf("stopped after %d of %d runs; what was submitted goes on, and the same command goes on from there", rep.Submitted+rep.Existing, rep.Runs)}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "backfill %s: %d runs submitted, %d there already\n", plan.ID, rep.Submitted, rep.Existing)
			if g.target == "local" {
				q := url.Values{"transform": {plan.Transform}, "arg": args}
				if step != "" {
					q.Set("step", step)
				}
				fmt.Fprintf(w, "its page in the web UI: %s/backfill?%s\n", strings.TrimSuffix(g.server, "/"), q.Encode())
			}
			if !wait {
				return g.emit(c.OutOrStdout(), rep, func(tw *tabwriter.Writer) {
					row(tw, "backfill", rep.ID, fmt.Sprintf("%d runs (%d new)", rep.Runs, rep.Submitted))
				})
			}
			for {
				s, err := backfill.Read(c.Context(), b, plan)
				if err != nil {
					return err
				}
				if s.Done() {
					if err := g.emit(c.OutOrStdout(), s, func(tw *tabwriter.Writer) { backfillTable(tw, s) }); err != nil {
						return err
					}
					if n := s.ByStatus[sparkflow.RunSucceeded]; n != s.Runs {
						return &runFailedError{fmt.Sprintf("backfill %s: %d of %d runs did not succeed (sparkflow run list --transform %s)", plan.ID, s.Runs-n, s.Runs, plan.Transform)}
					}
					return nil
				}
				select {
				case <-c.Context().Done():
					return &interruptedError{fmt.Sprintf("stopped waiting; backfill %s goes on (--status shows it)", plan.ID)}
				case <-time.After(time.Second):
				}
			}
		},
	}
	cmd.Annotations = map[string]string{fieldFlags: "arg=--arg,step=--step,transform="}
	f := cmd.Flags()
	f.StringArrayVar(&args, "arg", nil, "NAME=FROM..TO (dates or integers), NAME=A,B,C or NAME=VALUE (repeatable)")
	f.StringVar(&step, "step", "", "a range's step: Nd or Nw for dates (default 1d), N for integers (default 1)")
	f.IntVar(&maxActive, "max-active", 0, "most runs of the backfill active at once (0: no limit)")
	f.StringVar(&priority, "priority", string(sparkflow.PriorityLow), "the runs' priority in the pool's queue: high, normal or low (a backfill yields to daily runs)")
	f.BoolVar(&wait, "wait", false, "wait for every run to end; exit 6 unless all SUCCEEDED")
	f.BoolVar(&stat, "status", false, "count the backfill's runs by status instead of submitting")
	f.BoolVar(&abort, "cancel", false, "cancel the backfill's active runs instead of submitting")
	return cmd
}

// progress draws a bar on a terminal, and a line at every tenth otherwise (logs, CI).
func backfillProgress(w interface{ Write([]byte) (int, error) }, total int) backfill.Progress {
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		bar := progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("submitting"),
			progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
		return func(done, _ int) { bar.Set(done) }
	}
	next := 0
	return func(done, total int) {
		if done*10/total >= next || done == total {
			fmt.Fprintf(w, "submitted %d/%d\n", done, total)
			next = done*10/total + 1
		}
	}
}

func backfillTable(tw *tabwriter.Writer, s backfill.Status) {
	row(tw, "Backfill:", s.ID)
	row(tw, "Transform:", s.Transform)
	row(tw, "Runs:", s.Runs)
	for _, st := range s.Statuses() {
		row(tw, string(st)+":", s.ByStatus[st])
	}
	if s.NotSubmitted > 0 {
		row(tw, "NOT SUBMITTED:", s.NotSubmitted)
	}
}
