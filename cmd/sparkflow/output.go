package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sparkflow/sparkflow/shared/httpapi"
)

type globals struct {
	server string
	output string
	target string
	stack  string
	b      httpapi.Backend
}

// backend is what the commands talk to, chosen by --target before any command runs.
func (g *globals) backend() httpapi.Backend {
	if g.b == nil {
		g.b = httpapi.NewClient(g.server)
	}
	return g.b
}

// emit prints v as JSON, or as a table built by table().
func (g *globals) emit(w io.Writer, v any, table func(tw *tabwriter.Writer)) error {
	switch g.output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "table", "":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	}
	return usagef("--output %q is not a format: use table or json", g.output)
}

func row(tw *tabwriter.Writer, cols ...any) {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(tw, strings.Join(parts, "\t"))
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return short(time.Since(t)) + " ago"
}

func short(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
