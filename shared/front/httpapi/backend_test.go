package httpapi_test

import (
	"net/http/httptest"
	"testing"

	"github.com/sparkflow/sparkflow/shared/contract/backendtest"
	"github.com/sparkflow/sparkflow/shared/front/httpapi"
	"github.com/sparkflow/sparkflow/shared/local/localtest"
)

// The API's client against a server is a sparkflow.Backend: errors, codes and fields cross the wire
// intact, so it passes the contract every backend passes.
func TestBackendContract(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		srv := httptest.NewServer(httpapi.NewServer(localtest.New(t, nil), httpapi.Options{}))
		t.Cleanup(srv.Close)
		return backendtest.Harness{Backend: httpapi.NewClient(srv.URL), Logs: true}
	})
}
