package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"sync"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/sparkflow/sparkflow/shared/aws/backend"
	"github.com/sparkflow/sparkflow/shared/aws/doctor"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
	"github.com/sparkflow/sparkflow/shared/tiers"
)

// exitProblems is sparkflow doctor's exit code when it found a problem.
const exitProblems = 7

type problemsError struct{ msg string }

func (e *problemsError) Error() string { return e.msg }

// ownTarget marks a command that reaches its target itself (the doctor reports a missing stack as a
// finding, rather than failing before it starts).
const ownTarget = "sparkflow/own-target"

func newDoctorCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check, read-only, that the target can run jobs: for --target aws, the stack, roles, network tags, buckets and EMR release",
		Long: `sparkflow doctor checks, without changing anything, what the target needs before its first run.

With --target aws --stack NAME it checks your credentials, the stack and its alarms, the EMR service role
(trusted by EMR, may pass the instance profile's role to EC2) and EMR's service-linked role, the instance
profile (one role, trusted by EC2, denied SparkFlow's own table and queues, may write the log location and
read each transform's code), the subnets, security groups and VPC tags that AWS's v2 EMR policy requires
(for-use-with-amazon-emr-managed-policies=true), the log, code and data buckets, the EMR release and the
tiers' instance types in the region, and the pools whose launches are held after failed starts. Each
problem comes with its fix. Your credentials need read access (Describe*, Get*, List*,
iam:SimulatePrincipalPolicy); a check they may not make is a warning that says which permission it needs.

With --target local it checks the server and what local runs need on this machine.

It exits 0 when nothing needs fixing (warnings included), 7 when something does.`,
		Example: `  sparkflow doctor --target aws --stack SparkFlow
  sparkflow doctor --target aws --stack SparkFlow -o json`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{ownTarget: "yes"},
		RunE: func(c *cobra.Command, _ []string) error {
			var rep doctor.Report
			if g.target == "aws" {
				r, err := awsDoctor(c.Context(), g.stack)
				if err != nil {
					return err
				}
				rep = r
			} else {
				rep = localDoctor(c.Context(), g)
			}
			if g.output == "json" {
				if err := g.emit(c.OutOrStdout(), rep, nil); err != nil {
					return err
				}
			} else {
				printReport(c.OutOrStdout(), rep)
			}
			if n := rep.Count(doctor.Fail); n > 0 {
				return &problemsError{fmt.Sprintf("%d %s to fix (each with its fix above)", n, plural(n, "problem", "problems"))}
			}
			return nil
		},
	}
}

func awsDoctor(ctx context.Context, stack string) (doctor.Report, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return doctor.Report{}, sparkflow.Wrap(sparkflow.Invalid, err, "AWS configuration")
	}
	d := doctor.Doctor{Clients: doctor.NewClients(cfg), Region: cfg.Region, Stack: stack, Tiers: tiers.Default(),
		Records: &lazyRecords{open: func() (doctor.Records, error) {
			out, err := backend.StackOutputs(ctx, cfg, stack)
			if err != nil {
				return nil, err
			}
			return backend.New(cfg, out, tiers.Default()), nil
		}}}
	return d.Run(ctx), nil
}

// lazyRecords opens the stack's backend only once the doctor has found the stack.
type lazyRecords struct {
	open func() (doctor.Records, error)
	once sync.Once
	r    doctor.Records
	err  error
}

func (l *lazyRecords) get() (doctor.Records, error) {
	l.once.Do(func() { l.r, l.err = l.open() })
	return l.r, l.err
}

func (l *lazyRecords) ListPools(ctx context.Context) ([]sparkflow.PoolView, error) {
	r, err := l.get()
	if err != nil {
		return nil, err
	}
	return r.ListPools(ctx)
}

func (l *lazyRecords) ListTransforms(ctx context.Context, pool string) ([]sparkflow.Transform, error) {
	r, err := l.get()
	if err != nil {
		return nil, err
	}
	return r.ListTransforms(ctx, pool)
}

// localDoctor checks a local server and this machine.
func localDoctor(ctx context.Context, g *globals) doctor.Report {
	rep := doctor.Report{Stack: "local " + g.server}
	add := func(f ...doctor.Finding) { rep.Findings = append(rep.Findings, f...) }
	pools, err := g.backend().ListPools(ctx)
	if err != nil {
		add(doctor.Finding{Check: "server", Status: doctor.Fail, Detail: fmt.Sprintf("%s does not answer: %v", g.server, err),
			Fix: "start it (sparkflow local), or name yours with --server"})
	} else {
		add(doctor.Finding{Check: "server", Status: doctor.OK, Detail: fmt.Sprintf("%s answers, %d pools", g.server, len(pools))})
		add(doctor.PoolFindings("sparkflow", pools)...)
	}
	if p, err := exec.LookPath("spark-submit"); err != nil {
		add(doctor.Finding{Check: "spark-submit", Status: doctor.Warn, Detail: "spark-submit is not on this machine's PATH: spark transforms run locally fail (command transforms work)",
			Fix: "install Spark and put its bin/ on the PATH of sparkflow local"})
	} else {
		add(doctor.Finding{Check: "spark-submit", Status: doctor.OK, Detail: p})
	}
	return rep
}

func printReport(w io.Writer, rep doctor.Report) {
	where := rep.Stack
	if rep.Region != "" {
		where = fmt.Sprintf("stack %s in %s", rep.Stack, rep.Region)
		if rep.Account != "" {
			where += ", account " + rep.Account
		}
	}
	fmt.Fprintf(w, "sparkflow doctor: %s\n", where)
	width := 0
	for _, f := range rep.Findings {
		width = max(width, len(f.Check))
	}
	for _, f := range rep.Findings {
		fmt.Fprintf(w, "%-4s  %-*s  %s\n", f.Status, width, f.Check, f.Detail)
		if f.Fix != "" && f.Status != doctor.OK {
			fmt.Fprintf(w, "      %-*s  fix: %s\n", width, "", f.Fix)
		}
	}
	fails, warns := rep.Count(doctor.Fail), rep.Count(doctor.Warn)
	switch {
	case fails > 0:
		fmt.Fprintf(w, "%d %s, %d %s\n", fails, plural(fails, "problem", "problems"), warns, plural(warns, "warning", "warnings"))
	case warns > 0:
		fmt.Fprintf(w, "no problems, %d %s\n", warns, plural(warns, "warning", "warnings"))
	default:
		fmt.Fprintln(w, "no problems")
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
