package workflow

import (
	"encoding/json"
	"fmt"
)

// ASL renders d as an Amazon States Language definition, binding each logical task to the function
// (a Lambda ARN) given for it. It refuses a definition that names a state or task it does not define.
// The service integrations are in the standard partition; ASLIn names another.
func (d Definition) ASL(functions map[string]string) ([]byte, error) {
	return d.ASLIn("aws", functions)
}

// ASLIn is ASL in a partition (aws, aws-cn, aws-us-gov; or the CDK's token for the stack's partition).
func (d Definition) ASLIn(partition string, functions map[string]string) ([]byte, error) {
	if err := d.Check(); err != nil {
		return nil, err
	}
	states := map[string]any{}
	for _, s := range d.States {
		st := map[string]any{"Type": string(s.Type)}
		switch s.Type {
		case TypeTask:
			fn := functions[s.Task]
			if fn == "" {
				return nil, fmt.Errorf("state %s: no function given for task %q", s.Name, s.Task)
			}
			params := map[string]any{"FunctionName": fn}
			resource := "arn:" + partition + ":states:::lambda:invoke"
			if s.WaitForToken {
				resource += ".waitForTaskToken"
			}
			if whole, ok := s.Payload["$"]; ok && len(s.Payload) == 1 {
				params["Payload.$"] = whole
			} else {
				params["Payload"] = s.Payload
			}
			st["Resource"] = resource
			st["Parameters"] = params
			if s.TimeoutSeconds > 0 {
				st["TimeoutSeconds"] = s.TimeoutSeconds
			}
			if s.TimeoutSecondsPath != "" {
				st["TimeoutSecondsPath"] = s.TimeoutSecondsPath
			}
			if s.ResultSelector != nil {
				st["ResultSelector"] = s.ResultSelector
			}
			if len(s.Retry) > 0 {
				var rs []map[string]any
				for _, r := range s.Retry {
					rs = append(rs, map[string]any{"ErrorEquals": r.ErrorEquals, "IntervalSeconds": r.IntervalSeconds, "BackoffRate": r.BackoffRate, "MaxAttempts": r.MaxAttempts})
				}
				st["Retry"] = rs
			}
			if len(s.Catch) > 0 {
				var cs []map[string]any
				for _, c := range s.Catch {
					cs = append(cs, map[string]any{"ErrorEquals": c.ErrorEquals, "ResultPath": c.ResultPath, "Next": c.Next})
				}
				st["Catch"] = cs
			}
		case TypePass:
			if s.Result != nil {
				st["Result"] = s.Result
			}
			if s.Parameters != nil {
				st["Parameters"] = s.Parameters
			}
		case TypeChoice:
			var cs []map[string]any
			for _, c := range s.Choices {
				ch := map[string]any{"Variable": c.Variable, "Next": c.Next}
				if c.StringEquals != "" {
					ch["StringEquals"] = c.StringEquals
				} else {
					ch["BooleanEquals"] = c.BooleanEquals
				}
				cs = append(cs, ch)
			}
			st["Choices"] = cs
			st["Default"] = s.Default
		case TypeFail:
			st["Error"], st["Cause"] = s.Error, s.Cause
		}
		if s.Type == TypeTask || s.Type == TypePass {
			if s.ResultPath != "" {
				st["ResultPath"] = s.ResultPath
			}
			if s.OutputPath != "" {
				st["OutputPath"] = s.OutputPath
			}
			if s.End {
				st["End"] = true
			} else {
				st["Next"] = s.Next
			}
		}
		states[s.Name] = st
	}
	def := map[string]any{"Comment": d.Comment, "StartAt": d.StartAt, "States": states}
	if d.TimeoutSeconds > 0 {
		def["TimeoutSeconds"] = d.TimeoutSeconds
	}
	return json.MarshalIndent(def, "", "  ")
}

// Check reports a definition that could not run: a missing start, a transition to no state, a task
// with no name, a wait with no timeout (a task token can otherwise be waited on for a year).
func (d Definition) Check() error {
	known := map[string]bool{}
	for _, s := range d.States {
		if known[s.Name] {
			return fmt.Errorf("state %s is defined twice", s.Name)
		}
		known[s.Name] = true
	}
	if !known[d.StartAt] {
		return fmt.Errorf("StartAt %q names no state", d.StartAt)
	}
	for _, s := range d.States {
		var targets []string
		switch s.Type {
		case TypeTask, TypePass:
			if !s.End {
				targets = append(targets, s.Next)
			}
			if s.Type == TypeTask {
				if s.Task == "" {
					return fmt.Errorf("state %s: a task needs its task name", s.Name)
				}
				if s.WaitForToken && s.TimeoutSeconds == 0 && s.TimeoutSecondsPath == "" {
					return fmt.Errorf("state %s waits for a task token with no timeout", s.Name)
				}
				for _, c := range s.Catch {
					targets = append(targets, c.Next)
				}
			}
		case TypeChoice:
			targets = append(targets, s.Default)
			for _, c := range s.Choices {
				targets = append(targets, c.Next)
			}
		case TypeSucceed, TypeFail:
		default:
			return fmt.Errorf("state %s: type %q is not one the interpreter runs", s.Name, s.Type)
		}
		for _, t := range targets {
			if !known[t] {
				return fmt.Errorf("state %s goes to %q, which is no state", s.Name, t)
			}
		}
	}
	return nil
}
