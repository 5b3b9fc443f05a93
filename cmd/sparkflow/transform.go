package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sparkflow/sparkflow/shared/core"
	"github.com/sparkflow/sparkflow/shared/front/display"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// transformFlags are the flags shared by create and edit.
type transformFlags struct {
	priority                                string
	pool, command, main, class, description string
	jar, script                             string
	sparkOpts, confs, args, params          []string
	addParams, removeParams                 []string
	maxAttempts, maxConcurrent              int
	upstream                                []string
	timeout, queueTimeout                   time.Duration
	schedule, timezone, catchUp             string
}

func (tf *transformFlags) register(f *pflag.FlagSet, edit bool) {
	def := func(create string) string {
		if edit {
			return " (unchanged unless given)"
		}
		return create
	}
	f.StringVar(&tf.pool, "pool", "", "pool the transform runs on"+def(""))
	f.StringVar(&tf.command, "command", "", `command line to run (kind command), e.g. "python3 etl.py --day ${day}"`+def(""))
	f.StringVar(&tf.jar, "jar", "", "main jar for spark-submit (kind spark)"+def(""))
	f.StringVar(&tf.script, "script", "", "main Python/R script for spark-submit (kind spark)"+def(""))
	f.StringVar(&tf.class, "class", "", "main class of the jar"+def(""))
	f.StringArrayVar(&tf.confs, "conf", nil, "Spark configuration KEY=VALUE, passed as --conf (repeatable)"+def(""))
	f.StringArrayVar(&tf.sparkOpts, "spark-opt", nil, `other spark-submit options, e.g. "--num-executors 4" (repeatable)`+def(""))
	if edit {
		f.StringArrayVar(&tf.args, "arg", nil, "job arguments, in order: the list given replaces all of them (repeatable)")
		f.StringArrayVar(&tf.params, "param", nil, "parameter defaults NAME=VALUE: the set given replaces all of them (repeatable; see --add-param)")
		f.StringArrayVar(&tf.addParams, "add-param", nil, "add or change one parameter default NAME=VALUE, keeping the others (repeatable)")
		f.StringArrayVar(&tf.removeParams, "remove-param", nil, "remove one parameter NAME, keeping the others (repeatable)")
	} else {
		f.StringArrayVar(&tf.args, "arg", nil, "job argument, in order; ${name} stands for a parameter (repeatable)")
		f.StringArrayVar(&tf.params, "param", nil, "parameter default NAME=VALUE, overridable per run (repeatable)")
	}
	f.IntVar(&tf.maxAttempts, "max-attempts", 0, "attempts before a run fails, 1 to 10"+def(fmt.Sprintf(" (default %d)", sparkflow.DefaultMaxAttempts)))
	f.DurationVar(&tf.timeout, "timeout", 0, "time limit of one attempt"+def(fmt.Sprintf(" (default %s)", time.Duration(sparkflow.DefaultTimeoutSeconds)*time.Second)))
	f.DurationVar(&tf.queueTimeout, "queue-timeout", 0, "longest wait for a free slot"+def(fmt.Sprintf(" (default %s)", time.Duration(sparkflow.DefaultQueueTimeoutSeconds)*time.Second)))
	f.StringVar(&tf.description, "description", "", "what the transform does"+def(""))
	f.StringVar(&tf.priority, "priority", "", "its runs' priority in the pool's queue: high, normal or low (a run may say otherwise)"+def(" (default normal)"))
	f.StringSliceVar(&tf.upstream, "upstream", nil, "transforms whose run with the same shared parameter values must SUCCEED before a run of this one starts (repeatable or comma-separated"+map[bool]string{true: "; the list given replaces the old one, --upstream '' clears it)", false: ")"}[edit])
	f.IntVar(&tf.maxConcurrent, "max-concurrent", 0, "most runs of this transform under way at once; the others wait BLOCKED, in order (0: no limit)"+def(""))
	f.StringVar(&tf.schedule, "schedule", "", `fire runs on a schedule, EventBridge syntax: "cron(0 2 * * ? *)" or "rate(15 minutes)"; a firing fills the parameters day, prev_day, month, hour and scheduled_time the transform declares`+map[bool]string{true: " (--schedule '' removes it)", false: ""}[edit])
	f.StringVar(&tf.timezone, "timezone", "", "IANA time zone of the schedule, e.g. Europe/Paris"+def(" (default UTC)"))
	f.StringVar(&tf.catchUp, "catch-up", "", "what a local engine that was stopped submits of the firings it missed: none, latest or all"+def(" (default latest)"))
}

// apply sets on t what the flags say; on edit only the flags given.
func (tf *transformFlags) apply(f *pflag.FlagSet, t *sparkflow.Transform, edit bool) error {
	set := func(name string) bool { return !edit || f.Changed(name) }
	if tf.jar != "" && tf.script != "" {
		return usagef("give --jar or --script, not both")
	}
	if tf.command != "" && (tf.jar != "" || tf.script != "") {
		return usagef("give --command (any command line) or --jar/--script (spark-submit), not both")
	}
	if set("pool") {
		t.Pool = tf.pool
	}
	if set("description") {
		t.Description = tf.description
	}
	if f.Changed("command") || (!edit && tf.command != "") {
		argv, err := sparkflow.SplitCommand(tf.command)
		if err != nil {
			return usagef("--command: %v", err)
		}
		t.Kind, t.Command, t.MainResource, t.MainClass, t.SparkOptions = sparkflow.KindCommand, argv, "", "", nil
	}
	if tf.jar != "" || tf.script != "" {
		t.Kind, t.Command = sparkflow.KindSpark, nil
		t.MainResource = tf.jar + tf.script
	}
	if set("class") {
		t.MainClass = tf.class
	}
	if set("conf") || set("spark-opt") {
		var opts []string
		for _, c := range tf.confs {
			if !strings.Contains(c, "=") {
				return usagef("--conf %q: expected KEY=VALUE", c)
			}
			opts = append(opts, "--conf", c)
		}
		for _, o := range tf.sparkOpts {
			argv, err := sparkflow.SplitCommand(o)
			if err != nil {
				return usagef("--spark-opt %q: %v", o, err)
			}
			opts = append(opts, argv...)
		}
		if !edit || len(opts) > 0 || f.Changed("conf") || f.Changed("spark-opt") {
			t.SparkOptions = opts
		}
	}
	if set("arg") {
		t.Args = tf.args
	}
	if set("param") {
		p, err := parseKV(tf.params, "param")
		if err != nil {
			return err
		}
		t.Params = p
	}
	if edit {
		add, err := parseKV(tf.addParams, "add-param")
		if err != nil {
			return err
		}
		for k, v := range add {
			if t.Params == nil {
				t.Params = map[string]string{}
			}
			t.Params[k] = v
		}
		for _, k := range tf.removeParams {
			if _, ok := t.Params[k]; !ok {
				return usagef("--remove-param %s: the transform has no parameter %q", k, k)
			}
			delete(t.Params, k)
		}
	}
	if f.Changed("max-attempts") && (tf.maxAttempts < 1 || tf.maxAttempts > sparkflow.MaxAttempts) {
		return usagef("--max-attempts %d: give 1 to %d", tf.maxAttempts, sparkflow.MaxAttempts)
	}
	if set("max-attempts") {
		t.MaxAttempts = tf.maxAttempts
	}
	if set("timeout") {
		t.TimeoutSeconds = int(tf.timeout / time.Second)
		if tf.timeout > 0 && t.TimeoutSeconds == 0 {
			return usagef("--timeout %s: the smallest timeout is 1s", tf.timeout)
		}
	}
	if set("queue-timeout") {
		t.QueueTimeoutSeconds = int(tf.queueTimeout / time.Second)
		if tf.queueTimeout > 0 && t.QueueTimeoutSeconds == 0 {
			return usagef("--queue-timeout %s: the smallest timeout is 1s", tf.queueTimeout)
		}
	}
	if set("priority") {
		if t.Priority = sparkflow.Priority(tf.priority); !t.Priority.Valid() {
			return usagef("--priority %s: use high, normal or low", tf.priority)
		}
	}
	if set("upstream") {
		t.Upstream = nil
		for _, u := range tf.upstream {
			if u = strings.TrimSpace(u); u != "" {
				t.Upstream = append(t.Upstream, u)
			}
		}
	}
	if set("max-concurrent") {
		if tf.maxConcurrent < 0 {
			return usagef("--max-concurrent %d: give 0 (no limit) or more", tf.maxConcurrent)
		}
		t.MaxConcurrent = tf.maxConcurrent
	}
	if set("schedule") {
		t.Schedule = tf.schedule
		if t.Schedule == "" {
			t.Timezone, t.CatchUp, t.Paused = "", "", false
		}
	}
	if set("timezone") {
		t.Timezone = tf.timezone
	}
	if set("catch-up") {
		t.CatchUp = tf.catchUp
	}
	return nil
}

// newPauseCmd is transform pause (paused) or resume: the schedule is held, or fires again from now
// (a resumed schedule does not catch up the firings of its pause).
func newPauseCmd(g *globals, paused bool) *cobra.Command {
	use, short := "resume NAME", "Resume a transform's paused schedule: it fires again from now on"
	if paused {
		use, short = "pause NAME", "Pause a transform's schedule: it fires nothing until resumed (runs under way go on)"
	}
	return &cobra.Command{
		Use: use, Short: short, Args: exactArgs(1, "NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			b := g.backend()
			t, err := b.GetTransform(c.Context(), args[0])
			if err != nil {
				return err
			}
			if t.Schedule == "" {
				return usagef("transform %s has no schedule to %s; give it one with sparkflow transform edit %s --schedule \"cron(…)\"", t.Name, strings.Fields(use)[0], t.Name)
			}
			t.Paused = paused
			out, err := b.UpdateTransform(c.Context(), t)
			if err != nil {
				return err
			}
			return g.emit(c.OutOrStdout(), out, func(tw *tabwriter.Writer) { transformTable(tw, out) })
		},
	}
}

func newTransformCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "transform", Short: "Create, list, show, edit and delete transforms (job profiles)"}
	var tf transformFlags
	create := &cobra.Command{
		Use:   "create NAME --pool POOL (--command \"…\" | --jar JAR --class CLASS | --script FILE)",
		Short: "Create a transform",
		Example: `  sparkflow transform create daily-sales --pool etl --jar s3://jobs/sales.jar --class com.acme.Sales \
      --conf spark.executor.memory=4g --arg --day --arg '${day}' --param day=2026-11-01 --max-attempts 2
  sparkflow transform create nightly --pool etl --script s3://jobs/nightly.py --arg '${day}' --param day= \
      --schedule "cron(0 2 * * ? *)" --timezone Europe/Paris
  sparkflow transform create report --pool etl --script s3://jobs/report.py --timeout 30m
  sparkflow transform create hello --pool local --command "echo hello \${who}" --param who=world`,
		Args: exactArgs(1, "NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			t := sparkflow.Transform{Name: args[0]}
			if err := tf.apply(c.Flags(), &t, false); err != nil {
				return err
			}
			if t.Pool == "" {
				return usagef("--pool is required: the pool the transform runs on")
			}
			if len(t.Command) == 0 && t.MainResource == "" {
				return usagef("give what to run: --command \"…\", or --jar JAR (with --class) or --script FILE for spark-submit")
			}
			out, err := g.backend().CreateTransform(c.Context(), t)
			if err != nil {
				return err
			}
			return g.emit(c.OutOrStdout(), out, func(tw *tabwriter.Writer) { transformTable(tw, out) })
		},
	}
	tf.register(create.Flags(), false)
	create.Annotations = map[string]string{fieldFlags: transformFieldFlags}
	var ef transformFlags
	edit := &cobra.Command{
		Use: "edit NAME [flags]", Short: "Change a transform (only the flags given); runs under way keep their policy",
		Args: exactArgs(1, "NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			b := g.backend()
			t, err := b.GetTransform(c.Context(), args[0])
			if err != nil {
				return err
			}
			if err := ef.apply(c.Flags(), &t, true); err != nil {
				return err
			}
			out, err := b.UpdateTransform(c.Context(), t)
			if err != nil {
				return err
			}
			return g.emit(c.OutOrStdout(), out, func(tw *tabwriter.Writer) { transformTable(tw, out) })
		},
	}
	ef.register(edit.Flags(), true)
	edit.Annotations = map[string]string{fieldFlags: transformFieldFlags}
	var pool string
	list := &cobra.Command{
		Use: "list", Short: "List transforms", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ts, err := g.backend().ListTransforms(c.Context(), pool)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return g.emit(c.OutOrStdout(), ts, nil)
			}
			return g.emit(c.OutOrStdout(), ts, func(tw *tabwriter.Writer) {
				row(tw, "NAME", "POOL", "KIND", "LAST RUN", "COMMAND")
				for _, t := range ts {
					last := "never"
					if runs, err := g.backend().ListRuns(c.Context(), sparkflow.RunFilter{Transform: t.Name, Limit: 1}); err == nil && len(runs) == 1 {
						last = fmt.Sprintf("%s %s", runs[0].Status, display.Ago(time.Now(), runs[0].CreatedAt))
					}
					row(tw, t.Name, t.Pool, t.Kind, last, display.Truncate(commandLine(t), 70))
				}
			})
		},
	}
	list.Flags().StringVar(&pool, "pool", "", "only this pool's transforms")
	cmd.AddCommand(newPauseCmd(g, true), newPauseCmd(g, false))
	cmd.AddCommand(create, list, &cobra.Command{
		Use: "show NAME", Short: "Show a transform and the EMR step it produces", Args: exactArgs(1, "NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			t, err := g.backend().GetTransform(c.Context(), args[0])
			if err != nil {
				return err
			}
			return g.emit(c.OutOrStdout(), t, func(tw *tabwriter.Writer) { transformTable(tw, t) })
		},
	}, edit, &cobra.Command{
		Use: "delete NAME", Short: "Delete a transform (refused while it has active runs)", Args: exactArgs(1, "NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			if err := g.backend().DeleteTransform(c.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "transform %s deleted\n", args[0])
			return nil
		},
	})
	return cmd
}

func transformTable(tw *tabwriter.Writer, t sparkflow.Transform) {
	row(tw, "Transform:", t.Name)
	row(tw, "Pool:", t.Pool)
	row(tw, "Kind:", t.Kind)
	if t.Description != "" {
		row(tw, "Description:", t.Description)
	}
	for k, v := range t.Params {
		row(tw, "Parameter:", k+" = "+v)
	}
	row(tw, "Max attempts:", t.MaxAttempts)
	row(tw, "Timeout:", time.Duration(t.TimeoutSeconds)*time.Second)
	row(tw, "Queue timeout:", time.Duration(t.QueueTimeoutSeconds)*time.Second)
	row(tw, "Priority:", t.Priority.Or(sparkflow.PriorityNormal))
	if len(t.Upstream) > 0 {
		row(tw, "Upstream:", strings.Join(t.Upstream, ", "))
	}
	if t.MaxConcurrent > 0 {
		row(tw, "Max concurrent:", t.MaxConcurrent)
	}
	if t.Schedule != "" {
		zone := t.Timezone
		if zone == "" {
			zone = "UTC"
		}
		state := ""
		if t.Paused {
			state = " (PAUSED: sparkflow transform resume " + t.Name + ")"
		}
		row(tw, "Schedule:", t.Schedule+" in "+zone+state)
		row(tw, "Catch-up:", t.CatchUp)
		if sch, err := core.ParseSchedule(t.Schedule, t.Timezone); err == nil && !t.Paused {
			for i, at := range sch.NextN(time.Now(), 5) {
				label := ""
				if i == 0 {
					label = "Next firings:"
				}
				row(tw, label, at.In(sch.Location()).Format("2006-01-02 15:04 MST")+"  ("+at.UTC().Format("15:04 UTC")+")")
			}
		}
	}
	if step, err := core.Step(t, sparkflow.Run{ID: "RUN_ID", Attempt: 1}); err == nil {
		row(tw, "EMR step:", step.Jar+" "+sparkflow.QuoteCommand(step.Args))
	}
}

// transformFieldFlags names the flags that set a transform's fields, for error messages.
const transformFieldFlags = "pool=--pool,command=--command,mainResource=--jar/--script,mainClass=--class,sparkOptions=--conf/--spark-opt,args=--arg,params=--param,maxAttempts=--max-attempts,timeoutSeconds=--timeout,queueTimeoutSeconds=--queue-timeout,description=--description,priority=--priority,upstream=--upstream,maxConcurrent=--max-concurrent,schedule=--schedule,timezone=--timezone,catchUp=--catch-up"

// commandLine is what a transform runs, quoted as a shell would read it back.
func commandLine(t sparkflow.Transform) string {
	argv := append([]string{}, t.Command...)
	if t.Kind == sparkflow.KindSpark {
		argv = append(append([]string{"spark-submit"}, t.SparkOptions...), t.MainResource)
	}
	return sparkflow.QuoteCommand(append(argv, t.Args...))
}
