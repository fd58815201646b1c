package bolt

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

// BenchmarkSyncE2EEReads is what every Matrix /sync adds for end-to-end
// encryption on the embedded store: an empty inbox, the key counts and
// the device-list times of 20 peers.
func BenchmarkSyncE2EEReads(b *testing.B) {
	s := open(b)
	ctx := context.Background()
	var keys []*store.OneTimeKey
	for i := range 50 {
		keys = append(keys, &store.OneTimeKey{KeyID: fmt.Sprintf("signed_curve25519:%d", i), Key: []byte(`{"key":"k"}`)})
	}
	must(b, s.AddOneTimeKeys(ctx, "@a:x", "D", keys))
	must(b, s.PutFallbackKey(ctx, "@a:x", "D", &store.OneTimeKey{KeyID: "signed_curve25519:F", Key: []byte(`"f"`)}))
	var peers []string
	for i := range 20 {
		peers = append(peers, fmt.Sprintf("@p%d:x", i))
		must(b, s.MarkDeviceListChanged(ctx, peers[i], time.Now()))
	}
	b.ResetTimer()
	for range b.N {
		if _, err := s.TakeToDevice(ctx, "@a:x", "D", 5, 6, 100); err != nil {
			b.Fatal(err)
		}
		if _, err := s.CountOneTimeKeys(ctx, "@a:x", "D"); err != nil {
			b.Fatal(err)
		}
		if _, err := s.UnusedFallbackKeyTypes(ctx, "@a:x", "D"); err != nil {
			b.Fatal(err)
		}
		if _, err := s.DeviceListChanges(ctx, peers); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClaimOneTimeKey is one claim: a durable write.
func BenchmarkClaimOneTimeKey(b *testing.B) {
	s := open(b)
	ctx := context.Background()
	keys := make([]*store.OneTimeKey, 0, b.N)
	for i := range b.N {
		keys = append(keys, &store.OneTimeKey{KeyID: fmt.Sprintf("signed_curve25519:%d", i), Key: []byte(`{"key":"k"}`)})
	}
	for i := 0; i < len(keys); i += 200 {
		must(b, s.AddOneTimeKeys(ctx, "@a:x", "D", keys[i:min(i+200, len(keys))]))
	}
	b.ResetTimer()
	for range b.N {
		if _, err := s.ClaimOneTimeKey(ctx, "@a:x", "D", "signed_curve25519"); err != nil {
			b.Fatal(err)
		}
	}
}
