package awsdeps

import (
	"context"
	"strings"
	"testing"
)

func TestConfigurationErrorsNameTheVariable(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	for _, k := range []string{EnvTable, EnvStateMachine, EnvServiceRole, EnvInstanceProfile, EnvBudget} {
		t.Setenv(k, "")
	}
	if _, err := New(context.Background()); err == nil || !strings.Contains(err.Error(), EnvTable) {
		t.Fatalf("missing table: %v", err)
	}
	t.Setenv(EnvTable, "t")
	t.Setenv(EnvStateMachine, "arn:aws:states:us-east-1:123456789012:stateMachine:run")
	t.Setenv(EnvServiceRole, "svc")
	t.Setenv(EnvInstanceProfile, "steps")
	t.Setenv(EnvBudget, "lots")
	if _, err := New(context.Background()); err == nil || !strings.Contains(err.Error(), EnvBudget) {
		t.Fatalf("bad budget: %v", err)
	}
	t.Setenv(EnvBudget, "")
	h, err := New(context.Background())
	if err != nil || h.ReconcileBudget != DefaultReconcileBudget || h.Service == nil || h.Starter == nil {
		t.Fatalf("wiring: %+v %v", h, err)
	}
}
