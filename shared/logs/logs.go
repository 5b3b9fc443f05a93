// Package logs carries log fields in a context, so that every line logged about a run says which run,
// attempt, pool, cluster and step it concerns without each call repeating them: the task logic scopes
// a context to a run (With), and Handler adds the scope's fields to each record logged with it
// (slog's *Context methods).
package logs

import (
	"context"
	"log/slog"
)

type scopeKey struct{}

// scope is a stack of field groups, innermost last. A group's first field names what it is about
// (run_id, cluster_id): a record that names another value for it is about something else, and the
// group's fields are not added to it.
type scope struct {
	groups [][]slog.Attr
	parent *scope
}

// With returns ctx with a group of fields (key, value pairs; empty values are left out). The first
// pair names the group: a line logged with the context that names another value for that key keeps
// none of the group's fields.
func With(ctx context.Context, args ...any) context.Context {
	var g []slog.Attr
	for i := 0; i+1 < len(args); i += 2 {
		k, _ := args[i].(string)
		if k == "" || empty(args[i+1]) {
			continue
		}
		g = append(g, slog.Any(k, args[i+1]))
	}
	if len(g) == 0 {
		return ctx
	}
	parent, _ := ctx.Value(scopeKey{}).(*scope)
	return context.WithValue(ctx, scopeKey{}, &scope{groups: [][]slog.Attr{g}, parent: parent})
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case int:
		return x == 0
	}
	return false
}

// Fields returns the fields a record logged with ctx gets, innermost group first.
func Fields(ctx context.Context) [][]slog.Attr {
	var out [][]slog.Attr
	for s, _ := ctx.Value(scopeKey{}).(*scope); s != nil; s = s.parent {
		out = append(out, s.groups...)
	}
	return out
}

// Handler adds the context's fields to every record h handles.
func Handler(h slog.Handler) slog.Handler { return handler{h} }

type handler struct{ next slog.Handler }

func (h handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	groups := Fields(ctx)
	if len(groups) == 0 {
		return h.next.Handle(ctx, r)
	}
	have := map[string]slog.Value{}
	r.Attrs(func(a slog.Attr) bool {
		have[a.Key] = a.Value
		return true
	})
	var add []slog.Attr
	for _, g := range groups { // innermost first: an inner group's field wins
		if v, ok := have[g[0].Key]; ok && !v.Equal(g[0].Value) {
			continue // the record is about another run (cluster)
		}
		for _, a := range g {
			if _, ok := have[a.Key]; !ok {
				have[a.Key] = a.Value
				add = append(add, a)
			}
		}
	}
	r2 := r.Clone()
	r2.AddAttrs(add...)
	return h.next.Handle(ctx, r2)
}

func (h handler) WithAttrs(as []slog.Attr) slog.Handler { return handler{h.next.WithAttrs(as)} }
func (h handler) WithGroup(name string) slog.Handler    { return handler{h.next.WithGroup(name)} }
