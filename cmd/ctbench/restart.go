package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/store/bolt"
)

// restart fills an embedded data dir with -history-messages messages
// directly through the store (spread over conversations), then starts
// crypttalkd on it and measures the time until /readyz answers 200.
func restart(ctx context.Context, cfg config) (Report, error) {
	dir, err := os.MkdirTemp("", "ctbench-restart-")
	if err != nil {
		return Report{}, err
	}
	defer os.RemoveAll(dir)
	if err := fill(ctx, dir, cfg.history); err != nil {
		return Report{}, err
	}
	start := time.Now()
	srv, err := startServer(ctx, cfg.serverBin, append([]string{"CRYPTTALK_DATA_DIR=" + dir}, cfg.serverEnv...))
	if err != nil {
		return Report{}, err
	}
	ready := time.Since(start)
	defer srv.stop()
	rep := Report{Scenario: "restart", DurationS: ready.Seconds(), Acked: int64(cfg.history), Errors: map[string]int64{}}
	if u, err := readProc(srv.pid()); err == nil {
		rep.ServerRSSBytes, rep.ServerCPUSeconds = u.peakRSS, u.cpuSeconds
	}
	fmt.Fprintf(os.Stderr, "ready after %s with %d stored messages\n", ready, cfg.history)
	return rep, nil
}

func fill(ctx context.Context, dir string, n int) error {
	st, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	const convs = 1000
	for i := 0; i < convs; i++ {
		id := fmt.Sprintf("!bench%04d", i)
		if _, err := st.EnsureConversation(ctx, &store.Conversation{ID: id, Members: []string{"@a:b", "@c:d"}, CreatedAt: time.Now()}); err != nil {
			return err
		}
	}
	body := make([]byte, 120)
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 256)
	for w := 0; w < 256; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				m := &store.Message{ID: store.NewID(), ConversationID: fmt.Sprintf("!bench%04d", i%convs), Sender: "@a:b", Recipient: "@c:d", Type: store.TypeText, KeyID: "k", CreatedAt: time.Now()}
				if err := st.AppendMessage(ctx, m, func(int64) ([]byte, error) { return body, nil }); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}
