package gateway

import (
	"context"
	"log/slog"
	"sync"

	"github.com/crypttalk/crypttalk/chat"
)

// receipts coalesces delivered receipts: many deliveries in one
// conversation within a tick become one store write and one receipt.
type receipts struct {
	svc *chat.Service
	log *slog.Logger

	mu      sync.Mutex
	pending map[rcptKey]rcptVal
}

type rcptKey struct{ conv, recipient string }

type rcptVal struct {
	sender string
	seq    int64
}

func newReceipts(svc *chat.Service, log *slog.Logger) *receipts {
	return &receipts{svc: svc, log: log, pending: make(map[rcptKey]rcptVal)}
}

func (r *receipts) note(conv, recipient, sender string, seq int64) {
	r.mu.Lock()
	k := rcptKey{conv, recipient}
	if v, ok := r.pending[k]; !ok || v.seq < seq {
		r.pending[k] = rcptVal{sender: sender, seq: seq}
	}
	r.mu.Unlock()
}

func (r *receipts) flush(ctx context.Context) {
	r.mu.Lock()
	batch := r.pending
	r.pending = make(map[rcptKey]rcptVal)
	r.mu.Unlock()
	// Concurrent calls share group commits; one after another, each would
	// wait for its own fsync and a busy node would never catch up.
	sem := make(chan struct{}, receiptWriters)
	var wg sync.WaitGroup
	for k, v := range batch {
		sem <- struct{}{}
		wg.Add(1)
		go func(k rcptKey, v rcptVal) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := r.svc.MarkDelivered(ctx, k.conv, k.recipient, v.sender, v.seq); err != nil && ctx.Err() == nil {
				r.log.WarnContext(ctx, "delivered receipt not stored", "err", err)
			}
		}(k, v)
	}
	wg.Wait()
}

// receiptWriters bounds the store writes one flush runs at once.
const receiptWriters = 64
