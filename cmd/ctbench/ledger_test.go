package main

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLedgerLossAndDuplicates(t *testing.T) {
	l := newLedger()
	bob := []int{10, 11} // two devices
	for num := int64(1); num <= 3; num++ {
		l.acked(0, num, bob)
	}
	if lost, dups := l.tally(); lost != 6 || dups != 0 {
		t.Fatalf("before delivery: lost %d dups %d", lost, dups)
	}
	for _, num := range []int64{1, 2, 3} {
		if l.received(0, 10, num) {
			t.Fatalf("first receipt of %d called a duplicate", num)
		}
	}
	if !l.received(0, 10, 2) {
		t.Fatal("second receipt not called a duplicate")
	}
	l.received(0, 11, 1) // device 11 misses 2 and 3
	l.received(0, 11, 9) // never acknowledged (the ack was cut): fine
	l.received(1, 10, 1) // another sender, not acknowledged either
	if lost, dups := l.tally(); lost != 2 || dups != 1 {
		t.Fatalf("lost %d dups %d, want 2 and 1", lost, dups)
	}
	// A late delivery of a message acknowledged after it arrived counts.
	l.acked(0, 9, []int{11})
	if lost, _ := l.tally(); lost != 2 {
		t.Fatalf("late ack: lost %d", lost)
	}
}

func TestLedgerConcurrent(t *testing.T) {
	l := newLedger()
	var wg sync.WaitGroup
	for s := range 100 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for n := int64(1); n <= 200; n++ {
				l.acked(s, n, []int{s + 1000})
			}
		}()
		go func() {
			defer wg.Done()
			for n := int64(200); n >= 1; n-- {
				l.received(s, s+1000, n)
			}
		}()
	}
	wg.Wait()
	if lost, dups := l.tally(); lost != 0 || dups != 0 {
		t.Fatalf("lost %d dups %d", lost, dups)
	}
}

func TestBitsetGrowsAndCounts(t *testing.T) {
	var a, b bitset
	for _, i := range []int64{0, 63, 64, 1000} {
		if a.set(i) {
			t.Fatalf("%d already set", i)
		}
	}
	if !a.set(63) {
		t.Fatal("63 not remembered")
	}
	b.set(64)
	if n := a.missingFrom(b); n != 3 {
		t.Fatalf("missing %d, want 3", n)
	}
	if n := b.missingFrom(a); n != 0 {
		t.Fatalf("missing %d, want 0", n)
	}
}

func TestBody(t *testing.T) {
	body := encodeBody(7, 42, 12345*time.Nanosecond, 100)
	if len(body) != 100 {
		t.Fatalf("size %d", len(body))
	}
	sender, num, sent, ok := parseBody(body)
	if !ok || sender != 7 || num != 42 || sent != 12345 {
		t.Fatalf("parsed %d %d %v %v", sender, num, sent, ok)
	}
	if short := encodeBody(123456, 1<<40, time.Hour, 1); !strings.HasSuffix(short, "|") {
		t.Fatalf("small size cut the header: %q", short)
	}
	for _, bad := range []string{"", "hello", "ctb|", "ctb|1|2|3", "ctb|a|1|1|", "ctb|1|0|5|", "ctb|-1|1|5|", "ctb|1|1|x|", "xctb|1|1|1|"} {
		if _, _, _, ok := parseBody(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
