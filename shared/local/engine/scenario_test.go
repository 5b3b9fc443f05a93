package engine_test

import (
	"testing"

	"github.com/sparkflow/sparkflow/shared/contract/scenariotest"
	"github.com/sparkflow/sparkflow/shared/local/localtest"
)

// The scenario suite both homes run, on the local engine (the scenarios that need a runs queue or
// Step Functions executions run on the AWS twin).
func TestScenarios(t *testing.T) {
	scenariotest.Run(t, localtest.NewWorld(t), nil)
}
