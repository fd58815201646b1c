package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// MongoServer is a MongoDB wire server for tests: FerretDB embedded in the
// test process (SQLite handler, data in a temp dir), or the real MongoDB
// named by CRYPTTALK_TEST_MONGO_URL. Each MongoServer hands out its own
// database name, so tests never share data.
type MongoServer struct {
	t      testing.TB
	addr   string
	dir    string
	db     string
	real   string
	cancel context.CancelFunc
	done   chan struct{}
}

// StartMongo starts a server and stops it when the test ends.
func StartMongo(t testing.TB) *MongoServer {
	t.Helper()
	s := &MongoServer{t: t, db: "ct_" + randomHex(6)}
	if u := os.Getenv("CRYPTTALK_TEST_MONGO_URL"); u != "" {
		s.real = u
		return s
	}
	s.dir = t.TempDir()
	s.addr = FreePort(t)
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// URL is a mongodb:// URL naming this server's database.
func (s *MongoServer) URL() string {
	if s.real != "" {
		return s.real + "/" + s.db
	}
	return "mongodb://" + s.addr + "/" + s.db
}

// CanStop reports whether Stop and Start work (not on a real MongoDB).
func (s *MongoServer) CanStop() bool { return s.real == "" }

// Start (re)starts FerretDB on the same port and data.
func (s *MongoServer) Start() {
	s.t.Helper()
	if s.real != "" {
		return
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: s.addr},
		Handler:   "sqlite",
		SQLiteURL: "file:" + s.dir + "/",
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		s.t.Fatalf("FerretDB: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		_ = f.Run(ctx)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("FerretDB did not listen on %s", s.addr)
}

// Stop shuts the server down: clients get connection errors until Start.
func (s *MongoServer) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
	s.cancel = nil
}

// URLFor is a URL of another database on the same server.
func (s *MongoServer) URLFor(db string) string {
	if s.real != "" {
		return s.real + "/ct_" + db
	}
	return "mongodb://" + s.addr + "/ct_" + db
}
