package testenv

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

const raceSample = `level=INFO msg=listening
==================
WARNING: DATA RACE
Write at 0x00c000012345 by goroutine 7:
  main.main.func1()
      /src/main.go:10 +0x38
==================
level=INFO msg=after
`

func TestRaceReport(t *testing.T) {
	if r := raceReport("level=INFO msg=clean\n", 1000); r != "" {
		t.Fatalf("a clean log gave a report: %q", r)
	}
	r := raceReport(raceSample, 1000)
	if !strings.HasPrefix(r, "==================\nWARNING: DATA RACE") || !strings.Contains(r, "main.go:10") {
		t.Fatalf("report = %q", r)
	}
	if r := raceReport(raceSample, 40); !strings.HasSuffix(r, "[... cut]") || len(r) > 60 {
		t.Fatalf("report not cut to its limit: %q", r)
	}
}

// errorTB records Errorf instead of failing the real test.
type errorTB struct {
	testing.TB
	errors []string
}

func (e *errorTB) Errorf(format string, args ...any) { e.errors = append(e.errors, format) }
func (e *errorTB) Failed() bool                      { return len(e.errors) > 0 }
func (e *errorTB) Logf(string, ...any)               {}

func TestNodeFailsTheTestOnARaceReport(t *testing.T) {
	n := &Node{logs: &syncBuffer{}}
	n.noteRaces("level=INFO msg=clean run\n")
	clean := &errorTB{TB: t}
	n.finish(clean)
	if clean.Failed() {
		t.Fatalf("a clean run failed the test: %v", clean.errors)
	}
	// A race in an earlier run (before a restart) still counts.
	n.noteRaces(raceSample)
	n.noteRaces("level=INFO msg=clean second run\n")
	racy := &errorTB{TB: t}
	n.finish(racy)
	if len(racy.errors) != 1 || !strings.Contains(racy.errors[0], "data race") {
		t.Fatalf("errors = %v, want one data race failure", racy.errors)
	}
	if !strings.Contains(n.RaceReports(), "main.go:10") {
		t.Fatalf("RaceReports = %q", n.RaceReports())
	}
}

func TestPoll(t *testing.T) {
	n := 0
	if !Poll(time.Minute, func() bool { n++; return n == 3 }) || n != 3 {
		t.Fatalf("Poll stopped after %d calls", n)
	}
	if Poll(0, func() bool { return false }) {
		t.Fatal("Poll reported a condition that never held")
	}
}

func TestServerBinaryBuiltWithRaceUnderRaceEnv(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crypttalkd")
	}
	t.Setenv(RaceEnv, "1")
	bin := serverBinary(t)
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "-race=true") {
		t.Fatalf("%s was not built with -race:\n%s", bin, out)
	}
	t.Setenv(RaceEnv, "0")
	if serverBinary(t) == bin {
		t.Fatal("RaceEnv=0 still gives the -race server")
	}
}
