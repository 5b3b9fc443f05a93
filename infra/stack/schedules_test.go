package stack_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sparkflow/sparkflow/shared/aws/names"
)

// The transforms' schedules: only the pool function keeps them (scheduler:*Schedule on this stack's
// schedules, passing only the schedule role, to EventBridge Scheduler only); the schedule role is
// assumed only by this account's schedules and may only send to the runs queue and the schedule DLQ.
func TestSchedulesAreKeptByThePoolFunctionAlone(t *testing.T) {
	_, doc := synth(t)
	var scheduleRole string
	for id, r := range resources(doc, "AWS::IAM::Role") {
		trust := fmt.Sprint(r["Properties"].(map[string]any)["AssumeRolePolicyDocument"])
		if strings.Contains(trust, "scheduler.amazonaws.com") {
			if scheduleRole != "" {
				t.Fatalf("two roles for EventBridge Scheduler: %s and %s", scheduleRole, id)
			}
			scheduleRole = id
			if !strings.Contains(trust, "aws:SourceAccount") {
				t.Errorf("the schedule role trusts any account's schedules: %s", trust)
			}
		}
	}
	if scheduleRole == "" {
		t.Fatal("no role EventBridge Scheduler may assume")
	}
	holders := 0
	for id, p := range resources(doc, "AWS::IAM::Policy") {
		props := p["Properties"].(map[string]any)
		roles := fmt.Sprint(props["Roles"])
		for _, s := range statements(p) {
			text := fmt.Sprint(s)
			if s["Sid"] == "PassTheScheduleRole" && (!strings.Contains(fmt.Sprint(s["Resource"]), scheduleRole) || !strings.Contains(fmt.Sprint(s["Condition"]), "scheduler.amazonaws.com")) {
				t.Errorf("%s: the schedule role's PassRole is not scoped: %v", id, s)
			}
			if strings.Contains(roles, scheduleRole) {
				if s["Action"] != "sqs:SendMessage" || !strings.Contains(text, "SparkflowRunsQueue") || !strings.Contains(text, "ScheduleDLQ") {
					t.Errorf("%s: the schedule role may do more than send to the runs queue and the schedule DLQ: %v", id, s)
				}
				continue
			}
			if !strings.Contains(text, "scheduler:") {
				continue
			}
			holders++
			if !strings.Contains(roles, "pool") {
				t.Errorf("%s: a function other than pool keeps schedules: %v", id, roles)
			}
			if !strings.Contains(text, "schedule/default/SparkFlowTest-*") {
				t.Errorf("%s: scheduler actions beyond this stack's schedules: %v", id, s)
			}
		}
	}
	if holders != 1 {
		t.Fatalf("%d statements grant scheduler actions, want the pool function's one", holders)
	}
	for id, f := range resources(doc, "AWS::Lambda::Function") {
		env := fmt.Sprint(f["Properties"].(map[string]any)["Environment"])
		has := strings.Contains(env, names.EnvScheduleRole) && strings.Contains(env, names.EnvRunsQueueARN) && strings.Contains(env, names.EnvScheduleDLQ)
		if has != strings.Contains(id, "pool") {
			t.Errorf("%s: schedule settings in its environment: %v", id, has)
		}
	}
}
