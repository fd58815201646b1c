package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// runAgainst runs ctbench with args against url and returns its report.
func runAgainst(t *testing.T, url string, args ...string) Report {
	t.Helper()
	cfg, err := parseFlags(append([]string{"-url", url, "-timeout", "60s"}, args...), io.Discard)
	if err != nil {
		t.Fatalf("flags %v: %v", args, err)
	}
	rep, err := run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("run %v: %v (report %+v)", args, err, rep)
	}
	return rep
}

// clean fails unless the run found no loss, duplicate or error.
func clean(t *testing.T, rep Report) {
	t.Helper()
	if rep.Lost != 0 || rep.Duplicated != 0 || rep.ErrorsTotal != 0 {
		t.Fatalf("lost %d duplicated %d errors %v", rep.Lost, rep.Duplicated, rep.Errors)
	}
}

func TestChatAndMaxOnAHealthyServer(t *testing.T) {
	url := startFakeChat(t, &fakeChat{})
	// A rate the fake server keeps up with even when other suites load
	// both cores: a stalled sender shows as send:behind, which clean counts.
	rep := runAgainst(t, url, "-scenario", "chat", "-users", "5", "-devices", "2", "-rate", "100", "-window", "256", "-duration", "500ms", "-warmup", "100ms", "-size", "200")
	clean(t, rep)
	// Every acknowledged message reaches both devices of the peer.
	if rep.Acked == 0 || rep.Delivered == 0 || rep.P50ms <= 0 || rep.MaxMs < rep.P99ms || rep.P99ms < rep.P50ms {
		t.Fatalf("chat report %+v", rep)
	}
	if rep.Scenario != "chat" || rep.Users != 5 || rep.Connections != 10 || rep.DurationS < 0.5 {
		t.Fatalf("chat header %+v", rep)
	}
	rep = runAgainst(t, url, "-scenario", "max", "-users", "4", "-window", "4", "-duration", "300ms", "-warmup", "0s")
	clean(t, rep)
	if rep.Acked == 0 || rep.AckedPerSec <= 0 {
		t.Fatalf("max report %+v", rep)
	}
}

func TestLossAndDuplicatesAreFound(t *testing.T) {
	url := startFakeChat(t, &fakeChat{dropEvery: 7, dupEvery: 5})
	// 1s at 200/s: enough messages to judge even on a loaded machine.
	rep := runAgainst(t, url, "-drain", "200ms", "-scenario", "chat", "-users", "4", "-rate", "200", "-duration", "1s", "-warmup", "0s")
	if rep.Acked < 14 {
		t.Fatalf("too few messages to judge: %+v", rep)
	}
	if rep.Lost == 0 || rep.Duplicated == 0 {
		t.Fatalf("faulty server passed: lost %d duplicated %d", rep.Lost, rep.Duplicated)
	}
}

func TestReconnect(t *testing.T) {
	url := startFakeChat(t, &fakeChat{})
	args := []string{"-scenario", "reconnect", "-users", "6", "-devices", "2", "-rate", "300", "-duration", "600ms", "-offline-messages", "2"}
	rep := runAgainst(t, url, args...)
	clean(t, rep)
	if rep.Resumed != 12 || rep.Acked < 12 {
		t.Fatalf("reconnect report %+v", rep)
	}
	// A server that replays too much doubles messages; the tool says so.
	url = startFakeChat(t, &fakeChat{ignoreSince: true})
	if rep := runAgainst(t, url, args...); rep.Duplicated == 0 {
		t.Fatalf("replay ignoring since passed: %+v", rep)
	}
}

func TestIdleAndHistory(t *testing.T) {
	url := startFakeChat(t, &fakeChat{})
	rep := runAgainst(t, url, "-scenario", "idle", "-users", "3", "-devices", "3", "-duration", "100ms")
	clean(t, rep)
	if rep.Connections != 9 || rep.RSSPerConnBytes != 0 {
		t.Fatalf("idle report %+v", rep)
	}
	rep = runAgainst(t, url, "-scenario", "history", "-users", "2", "-history-messages", "450", "-window", "2", "-duration", "200ms")
	clean(t, rep)
	if rep.PagesPerSec <= 0 || rep.P50ms <= 0 {
		t.Fatalf("history report %+v", rep)
	}
}

func TestRunFailsCleanly(t *testing.T) {
	cfg, err := parseFlags([]string{"-url", "http://127.0.0.1:1", "-users", "2", "-timeout", "20s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "register") {
		t.Fatalf("run against nothing: %v", err)
	}
	cfg.start, cfg.urls, cfg.serverBin = true, nil, "/nonexistent/crypttalkd"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := run(ctx, cfg, nil); err == nil {
		t.Fatal("started a missing binary")
	}
}
