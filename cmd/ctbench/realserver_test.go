package main

import (
	"testing"

	"github.com/crypttalk/crypttalk/internal/testenv"
)

// TestAgainstCrypttalkd runs short scenarios against the real server that
// ctbench starts itself, as the benchmarks do; it checks correctness (no
// loss, no duplicate, no error, server measured), never speed.
func TestAgainstCrypttalkd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts crypttalkd; skipped with -short")
	}
	bin := testenv.Binary(t, "crypttalkd")
	for _, args := range [][]string{
		{"-scenario", "chat", "-users", "4", "-devices", "2", "-rate", "200", "-duration", "1s", "-warmup", "200ms"},
		{"-scenario", "reconnect", "-users", "6", "-devices", "2", "-rate", "200", "-duration", "1s"},
	} {
		cfg, err := parseFlags(append([]string{"-start", "-server-bin", bin, "-timeout", "90s"}, args...), testWriter{t})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := run(t.Context(), cfg, nil)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		clean(t, rep)
		if rep.Acked == 0 || rep.Delivered == 0 || rep.ServerRSSBytes <= 0 || rep.ServerCPUSeconds <= 0 {
			t.Fatalf("%v: report %+v", args, rep)
		}
	}
}

// testWriter sends flag errors to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// TestReconnectRepeatedAgainstCrypttalkd repeats the reconnect scenario
// (every device drops at once, REST sends while all are offline, resume
// with since, live traffic across the seam) against the real server. Its
// 1-in-10 lost message came from live events overtaking earlier seqs of
// their conversation; server/gateway's TestResumeSeamRandomized repeats
// that seam many more times in-process, this keeps the whole path honest.
func TestReconnectRepeatedAgainstCrypttalkd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts crypttalkd; skipped with -short")
	}
	bin := testenv.Binary(t, "crypttalkd")
	for i := range 4 {
		cfg, err := parseFlags([]string{"-start", "-server-bin", bin, "-timeout", "90s",
			"-scenario", "reconnect", "-users", "16", "-devices", "3", "-rate", "400", "-duration", "1s"}, testWriter{t})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := run(t.Context(), cfg, nil)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		clean(t, rep)
		if rep.Resumed != 48 || rep.Acked == 0 {
			t.Fatalf("run %d: report %+v", i, rep)
		}
	}
}
