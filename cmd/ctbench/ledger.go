package main

import (
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"time"
)

// bitset is a growable set of small non-negative integers.
type bitset []uint64

// set adds i and reports whether it was already there.
func (b *bitset) set(i int64) bool {
	w := int(i / 64)
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w-len(*b)+1)...)
	}
	mask := uint64(1) << (i % 64)
	had := (*b)[w]&mask != 0
	(*b)[w] |= mask
	return had
}

// missingFrom counts the members of b that are not in o.
func (b bitset) missingFrom(o bitset) int64 {
	var n int
	for w, x := range b {
		if w < len(o) {
			x &^= o[w]
		}
		n += bits.OnesCount64(x)
	}
	return int64(n)
}

// pair is what one recipient device got from one sender.
type pair struct {
	acked    bitset // message numbers the server acknowledged
	received bitset // message numbers the device received
	dups     int64
}

type pairKey struct{ sender, device int }

// ledgerShards spreads the senders over locks so that thousands of
// receivers do not queue on one mutex.
const ledgerShards = 64

// ledger checks exactly-once delivery. Every sender numbers its messages
// 1, 2, 3, ...; a message the server acknowledged must reach each of the
// recipient's devices exactly once. A message received but never
// acknowledged (its ack was cut by a drop) is fine; receiving any message
// twice is a duplicate. It is safe for concurrent use.
type ledger struct {
	shards [ledgerShards]struct {
		mu    sync.Mutex
		pairs map[pairKey]*pair
	}
}

func newLedger() *ledger {
	l := &ledger{}
	for i := range l.shards {
		l.shards[i].pairs = map[pairKey]*pair{}
	}
	return l
}

// with runs f on the pair's record under its shard's lock.
func (l *ledger) with(sender, device int, f func(p *pair)) {
	s := &l.shards[sender%ledgerShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	k := pairKey{sender, device}
	p := s.pairs[k]
	if p == nil {
		p = &pair{}
		s.pairs[k] = p
	}
	f(p)
}

// acked records that the server stored sender's message num, which each
// of devices must receive.
func (l *ledger) acked(sender int, num int64, devices []int) {
	for _, d := range devices {
		l.with(sender, d, func(p *pair) { p.acked.set(num) })
	}
}

// received records that device got sender's message num and reports
// whether it had got it before.
func (l *ledger) received(sender, device int, num int64) (dup bool) {
	l.with(sender, device, func(p *pair) {
		if dup = p.received.set(num); dup {
			p.dups++
		}
	})
	return dup
}

// tally returns the acknowledged messages some device has not received
// (so far), and the duplicates received.
func (l *ledger) tally() (lost, dups int64) {
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for _, p := range s.pairs {
			lost += p.acked.missingFrom(p.received)
			dups += p.dups
		}
		s.mu.Unlock()
	}
	return lost, dups
}

// bodyPrefix marks the tool's messages, so foreign traffic is ignored.
const bodyPrefix = "ctb|"

// encodeBody is "ctb|<sender>|<num>|<sent ns since the run's epoch>|",
// padded with 'x' to size bytes (never cut below the header).
func encodeBody(sender int, num int64, sent time.Duration, size int) string {
	var b strings.Builder
	b.Grow(max(size, 64))
	b.WriteString(bodyPrefix)
	b.WriteString(strconv.Itoa(sender))
	b.WriteByte('|')
	b.WriteString(strconv.FormatInt(num, 10))
	b.WriteByte('|')
	b.WriteString(strconv.FormatInt(int64(sent), 10))
	b.WriteByte('|')
	for b.Len() < size {
		b.WriteByte('x')
	}
	return b.String()
}

// parseBody reads what encodeBody wrote; ok is false for anything else.
func parseBody(s string) (sender int, num int64, sent time.Duration, ok bool) {
	rest, found := strings.CutPrefix(s, bodyPrefix)
	if !found {
		return 0, 0, 0, false
	}
	f := strings.SplitN(rest, "|", 4)
	if len(f) != 4 {
		return 0, 0, 0, false
	}
	sender, err1 := strconv.Atoi(f[0])
	num, err2 := strconv.ParseInt(f[1], 10, 64)
	ns, err3 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || sender < 0 || num < 1 {
		return 0, 0, 0, false
	}
	return sender, num, time.Duration(ns), true
}
