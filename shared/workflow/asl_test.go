package workflow

import (
	"encoding/json"
	"testing"
)

func TestRunStateMachine(t *testing.T) {
	raw, err := RunStateMachine(Functions{Reserve: "arn:r", Submit: "arn:s", Finish: "arn:f"})
	if err != nil {
		t.Fatal(err)
	}
	var def struct {
		StartAt        string
		TimeoutSeconds int
		States         map[string]map[string]any
	}
	if err := json.Unmarshal(raw, &def); err != nil {
		t.Fatal(err)
	}
	if def.StartAt != StateReserve || def.TimeoutSeconds == 0 {
		t.Fatalf("start %s timeout %d", def.StartAt, def.TimeoutSeconds)
	}
	waits := 0
	for name, st := range def.States {
		// Every Next names a state.
		for _, key := range []string{"Next", "Default"} {
			if n, ok := st[key].(string); ok {
				if _, ok := def.States[n]; !ok {
					t.Errorf("%s.%s = %q names no state", name, key, n)
				}
			}
		}
		if st["Type"] != "Task" {
			continue
		}
		retries := st["Retry"].([]any)
		errs := retries[0].(map[string]any)["ErrorEquals"].([]any)
		if len(errs) != len(LambdaErrors)+1 {
			t.Errorf("%s retries %v", name, errs)
		}
		if st["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken" {
			waits++
			if st["TimeoutSecondsPath"] == nil && st["TimeoutSeconds"] == nil {
				t.Errorf("%s waits for a task token with no timeout", name)
			}
			payload := st["Parameters"].(map[string]any)["Payload"].(map[string]any)
			if payload["token.$"] != "$$.Task.Token" {
				t.Errorf("%s does not pass its task token", name)
			}
			catches := st["Catch"].([]any)
			if catches[0].(map[string]any)["ErrorEquals"].([]any)[0] != ErrorTimeout {
				t.Errorf("%s does not catch its timeout first", name)
			}
		}
	}
	if waits != 2 {
		t.Fatalf("%d task-token waits, want Reserve and Submit", waits)
	}
	again := def.States["Again"]["Choices"].([]any)[0].(map[string]any)
	if again["Next"] != StateReserve {
		t.Fatal("a retry must loop back to Reserve")
	}
	if _, err := RunStateMachine(Functions{}); err == nil {
		t.Fatal("a definition without functions was accepted")
	}
}

func TestPoolStateMachine(t *testing.T) {
	raw, err := PoolStateMachine("arn:p")
	if err != nil {
		t.Fatal(err)
	}
	var def struct {
		States map[string]map[string]any
	}
	json.Unmarshal(raw, &def)
	if def.States["Pool"]["TimeoutSeconds"] == nil || def.States["Pool"]["Retry"] == nil || def.States["Pool"]["End"] != true {
		t.Fatalf("pool task: %+v", def.States["Pool"])
	}
	if _, err := PoolStateMachine(""); err == nil {
		t.Fatal("accepted no function")
	}
}
