package logs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// RunFields are the fields a line that concerns a run must carry.
var RunFields = []string{"run_id", "attempt", "pool"}

// Check reads JSON log lines (other lines, and EMF metric lines, are skipped) and says what breaks
// the rule that every line concerning a run carries its fields: a line that mentions one of the runs'
// ids (pools maps each run id to its pool) must have run_id, attempt and pool, with the run's own
// pool; a line with a step_id must have its cluster_id. It also returns how many lines concerned each
// run, so that a caller can tell the check was not vacuous.
func Check(log []byte, pools map[string]string) (problems []string, perRun map[string]int) {
	perRun = map[string]int{}
	for _, line := range bytes.Split(log, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var rec map[string]any
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		if _, ok := rec["_aws"]; ok {
			continue
		}
		msg, _ := rec["msg"].(string)
		for id, pool := range pools {
			if !bytes.Contains(line, []byte(id)) {
				continue
			}
			perRun[id]++
			var missing []string
			for _, f := range RunFields {
				if v, ok := rec[f]; !ok || v == "" {
					missing = append(missing, f)
				}
			}
			if len(missing) > 0 {
				problems = append(problems, fmt.Sprintf("%q mentions run %s without %s: %s", msg, id, strings.Join(missing, ", "), line))
				continue
			}
			if rec["run_id"] == id && rec["pool"] != pool {
				problems = append(problems, fmt.Sprintf("%q: run %s is of pool %s, the line says %v", msg, id, pool, rec["pool"]))
			}
		}
		if s, ok := rec["step_id"].(string); ok && s != "" {
			if c, _ := rec["cluster_id"].(string); c == "" {
				problems = append(problems, fmt.Sprintf("%q names step %s without its cluster_id: %s", msg, s, line))
			}
		}
	}
	return problems, perRun
}
