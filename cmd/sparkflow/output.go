package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/sparkflow/sparkflow/shared/front/httpapi"
	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

type globals struct {
	server string
	output string
	target string
	stack  string
	b      sparkflow.Backend
}

// backend is what the commands talk to, chosen by --target before any command runs.
func (g *globals) backend() sparkflow.Backend {
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
	default:
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	}
}

func row(tw *tabwriter.Writer, cols ...any) {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(tw, strings.Join(parts, "\t"))
}
