package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(d, 50); p != 50*time.Millisecond {
		t.Fatalf("p50 %v", p)
	}
	if p := percentile(d, 99); p != 99*time.Millisecond {
		t.Fatalf("p99 %v", p)
	}
	if percentile(nil, 50) != 0 {
		t.Fatal("empty")
	}
}

func TestLossAndDuplicates(t *testing.T) {
	s := newStats()
	s.setCounting(true)
	for seq := int64(1); seq <= 3; seq++ {
		s.ack([]string{"bob/0", "bob/1"}, "alice", seq)
	}
	now := time.Now()
	s.deliver("bob/0", "alice", 1, now)
	s.deliver("bob/0", "alice", 2, now)
	s.deliver("bob/0", "alice", 2, now) // duplicate
	s.deliver("bob/0", "alice", 3, now)
	s.deliver("bob/1", "alice", 1, now) // bob/1 misses 2 and 3
	r := s.report(time.Second)
	if r.Lost != 2 || r.Duplicated != 1 || r.Acked != 3 || r.Delivered != 4 {
		t.Fatalf("report %+v", r)
	}
}

func TestParseBody(t *testing.T) {
	body := encodeBody("u1", 42, time.Unix(0, 12345), 64)
	if len(body) != 64 {
		t.Fatalf("size %d", len(body))
	}
	sender, seq, sent, ok := parseBody(body)
	if !ok || sender != "u1" || seq != 42 || sent.UnixNano() != 12345 {
		t.Fatalf("parsed %s %d %v %v", sender, seq, sent, ok)
	}
	if _, _, _, ok := parseBody("hello"); ok {
		t.Fatal("foreign text parsed")
	}
}
