package sparkflow

import (
	"fmt"
	"strings"
)

// SplitCommand splits a command line into argv the way a POSIX shell would for words, single and
// double quotes and backslashes (no expansion of variables or globs).
func SplitCommand(line string) ([]string, error) {
	var (
		args    []string
		cur     strings.Builder
		inWord  bool
		quote   rune
		escaped bool
	)
	for _, r := range line {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped = true
			inWord = true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote = r
			inWord = true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c quote in command line", quote)
	}
	if escaped {
		return nil, fmt.Errorf("command line ends with a lone backslash")
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}

// QuoteCommand joins argv into one command line that SplitCommand reads back as the same argv.
func QuoteCommand(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n\"'$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
