package webui

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func fieldError(err error, errs map[string]string) bool {
	var e *sparkflow.Error
	if errors.As(err, &e) && e.Field != "" {
		errs[e.Field] = e.Message
		return true
	}
	return false
}

func intField(f url.Values, name string, dst *int, errs map[string]string) {
	v := strings.TrimSpace(f.Get(name))
	if v == "" {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		errs[name] = fmt.Sprintf("%q is not a whole number", v)
		return
	}
	*dst = n
}

func durField(v, name string, dst *int, errs map[string]string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		errs[name] = fmt.Sprintf("%q is not a duration of at least 1s (for example 45m or 2h)", v)
		return
	}
	*dst = int(d / time.Second)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == ' ' }) {
		out = append(out, strings.TrimSpace(p))
	}
	return out
}

func parseKV(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r", ""), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%q: write one NAME=VALUE per line", line)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
