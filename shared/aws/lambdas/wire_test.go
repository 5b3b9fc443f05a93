package lambdas

import (
	"context"
	"strings"
	"testing"

	"github.com/sparkflow/sparkflow/shared/aws/names"
)

func TestConfigurationErrorsNameTheVariable(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	for _, k := range []string{names.EnvTable, names.EnvStateMachine, names.EnvServiceRole, names.EnvInstanceProfile, names.EnvBudget, names.EnvStack} {
		t.Setenv(k, "")
	}
	if _, err := New(context.Background()); err == nil || !strings.Contains(err.Error(), names.EnvTable) {
		t.Fatalf("missing table: %v", err)
	}
	t.Setenv(names.EnvTable, "t")
	t.Setenv(names.EnvStateMachine, "arn:aws:states:us-east-1:123456789012:stateMachine:run")
	t.Setenv(names.EnvServiceRole, "svc")
	t.Setenv(names.EnvInstanceProfile, "steps")
	if _, err := New(context.Background()); err == nil || !strings.Contains(err.Error(), names.EnvStack) {
		t.Fatalf("missing stack: %v", err)
	}
	t.Setenv(names.EnvStack, "prod")
	t.Setenv(names.EnvBudget, "lots")
	if _, err := New(context.Background()); err == nil || !strings.Contains(err.Error(), names.EnvBudget) {
		t.Fatalf("bad budget: %v", err)
	}
	t.Setenv(names.EnvBudget, "")
	h, err := New(context.Background())
	if err != nil || h.ReconcileBudget != DefaultReconcileBudget || h.Service == nil || h.Starter == nil {
		t.Fatalf("wiring: %+v %v", h, err)
	}
}
