package engine_test

import (
	"os"
	"testing"

	"github.com/sparkflow/sparkflow/shared/contract/scenariotest"
	"github.com/sparkflow/sparkflow/shared/local/localtest"
)

// The scenario suite both homes run, on the local engine (the scenarios that need a runs queue or
// Step Functions executions run on the AWS twin); then the engine's log file is checked: every line
// that concerns a run says which run, attempt and pool.
func TestScenarios(t *testing.T) {
	w := localtest.NewWorld(t)
	scenariotest.Run(t, w, nil)
	if t.Failed() {
		return
	}
	t.Run("log-fields", func(t *testing.T) {
		if w.E.LogFile() == "" {
			t.Fatal("the engine keeps no log file")
		}
		b, err := os.ReadFile(w.E.LogFile())
		if err != nil {
			t.Fatal(err)
		}
		scenariotest.CheckLogs(t, w.E, b)
	})
}
