// Package events holds SparkFlow's sample payloads (EMR events for every state, run, pool and transform
// requests) with their real shapes, embedded so that tests in any package use the very same files
// (events_test.go keeps them in step with the code).
package events

import (
	"embed"
	"io/fs"
	"sort"
)

//go:embed *.json
var files embed.FS

// Read returns the sample named name (e.g. "run-request.json").
func Read(name string) ([]byte, error) { return files.ReadFile(name) }

// Glob returns the names of the samples that match pattern (path.Match syntax), sorted.
func Glob(pattern string) ([]string, error) {
	names, err := fs.Glob(files, pattern)
	sort.Strings(names)
	return names, err
}
