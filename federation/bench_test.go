package federation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/federation/canonicaljson"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// The cost of what every federated message pays: sign on one side, verify
// on the other (docs/BENCHMARKS.md will set these against local delivery).

func BenchmarkSignEvent(b *testing.B) {
	f := newFixture(b)
	e := NewEvent{Type: "m.text", Sender: "@alice:a.example", Recipient: "@bob:b.example", Time: f.now,
		Content: map[string]any{"body": strings.Repeat("hello ", 40)}}
	for b.Loop() {
		if _, err := SignEvent(f.cur, e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyEvent(b *testing.B) {
	f := newFixture(b)
	ev, err := SignEvent(f.cur, NewEvent{Type: "m.text", Sender: "@alice:a.example", Recipient: "@bob:b.example", Time: f.now,
		Content: map[string]any{"body": strings.Repeat("hello ", 40)}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(ev.Raw)))
	for b.Loop() {
		if _, err := f.v.VerifyEvent(context.Background(), ev.Raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCanonical64KiB(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"events":[`)
	for i := 0; sb.Len() < 64<<10; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"z":"some text é \u00e9","a":[1,2,3,{"k":null,"b":true}],"n":-12345}`)
	}
	sb.WriteString(`]}`)
	in := []byte(sb.String())
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := canonicaljson.Canonical(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFederatedDelivery: events queued on a.example until b.example
// has applied them, over loopback HTTP (signing, transactions of 50,
// verification; fakes for chat and store): the transport's own cost.
func BenchmarkFederatedDelivery(b *testing.B) {
	b.ReportAllocs()
	a, peer := pair(b, nil, nil)
	if err := a.node.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	enqueue(b, a, 0, b.N)
	a.node.Wake("b.example")
	if !testenv.Poll(10*time.Minute, func() bool { return a.queue.depth("b.example") == 0 && len(peer.chat.events()) >= b.N }) {
		b.Fatal("not delivered")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
