package main

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/sparkflow/sparkflow/shared/aws/doctor"
)

// sparkflow doctor on a local server: a server that answers is fine (a missing spark-submit is only
// a warning), one that does not is a problem with its fix, and the exit code tells them apart.
func TestDoctorOnALocalServer(t *testing.T) {
	addr := freeAddr(t)
	startLocal(t, t.TempDir(), addr)
	r := cli(t, addr, "doctor", "-o", "json")
	var rep doctor.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 {
		t.Fatalf("doctor: exit %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if len(rep.Findings) == 0 || rep.Findings[0].Check != "server" || rep.Findings[0].Status != doctor.OK {
		t.Fatalf("doctor on a running server: %+v", rep.Findings)
	}
	down := freeAddr(t)
	r = cli(t, down, "doctor")
	if r.code != exitProblems || !strings.Contains(r.stdout, "FAIL  server") || !strings.Contains(r.stdout, "fix: start it (sparkflow local)") || !strings.Contains(r.stderr, "1 problem to fix") {
		t.Fatalf("doctor on no server: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// The README's exit-code table is the CLI's: every code the CLI returns is in it, and nothing else.
func TestREADMEListsTheExitCodes(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	start := strings.Index(text, "Exit codes")
	if start < 0 {
		t.Fatal("the README has no exit-code table")
	}
	end := strings.Index(text[start:], "\n\n|")
	table := text[start:]
	if end >= 0 {
		table = text[start : start+end+2+strings.Index(text[start+end+2:], "\n\n")]
	}
	var inREADME []int
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) \|`).FindAllStringSubmatch(table, -1) {
		n, _ := strconv.Atoi(m[1])
		inREADME = append(inREADME, n)
	}
	codes := []int{0, exitInternal, exitInvalid, exitNotFound, exitConflict, exitTransient, exitRunFailed, exitProblems, exitInterrupted}
	sort.Ints(codes)
	sort.Ints(inREADME)
	if fmtInts(codes) != fmtInts(inREADME) {
		t.Fatalf("README lists exit codes %v, the CLI returns %v", inREADME, codes)
	}
}

func fmtInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, " ")
}
