package engine_test

import (
	"testing"

	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/local/localtest"
)

// The engine is a sparkflow.Backend: it passes the contract every backend passes.
func TestBackendContract(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		return backendtest.Harness{Backend: localtest.New(t, nil), Logs: true}
	})
}
