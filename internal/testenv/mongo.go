package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// MongoServer is a MongoDB wire server for tests: FerretDB embedded in the
// test process, on SQLite (data in a temp dir) or on a throwaway
// PostgreSQL cluster (see MongoBackend), or the real MongoDB named by
// CRYPTTALK_TEST_MONGO_URL. Each MongoServer hands out its own database
// name, so tests never share data.
type MongoServer struct {
	t       testing.TB
	addr    string
	dir     string
	db      string
	real    string
	backend string
	pg      *PostgresServer
	cancel  context.CancelFunc
	done    chan struct{}

	// A FerretDB process (StartMongoProcess) instead of the embedded one.
	process bool
	cmd     *exec.Cmd
	exited  chan struct{}
	logs    *syncBuffer
}

// FerretDB backends (CRYPTTALK_TEST_MONGO_BACKEND).
const (
	BackendSQLite     = "sqlite"
	BackendPostgreSQL = "postgresql"
)

// MongoBackend is the FerretDB backend named by
// CRYPTTALK_TEST_MONGO_BACKEND (sqlite or postgresql), else def.
func MongoBackend(t testing.TB, def string) string {
	t.Helper()
	switch b := os.Getenv("CRYPTTALK_TEST_MONGO_BACKEND"); b {
	case "":
		return def
	case BackendSQLite, BackendPostgreSQL:
		return b
	default:
		t.Fatalf("CRYPTTALK_TEST_MONGO_BACKEND=%q: want %s or %s", b, BackendSQLite, BackendPostgreSQL)
		return ""
	}
}

// StartMongo starts a server and stops it when the test ends: FerretDB on
// SQLite unless CRYPTTALK_TEST_MONGO_BACKEND says otherwise.
func StartMongo(t testing.TB) *MongoServer {
	t.Helper()
	return StartMongoOn(t, MongoBackend(t, BackendSQLite))
}

// StartMongoOn is StartMongo on the given FerretDB backend (ignored when
// CRYPTTALK_TEST_MONGO_URL names a real MongoDB).
func StartMongoOn(t testing.TB, backend string) *MongoServer {
	t.Helper()
	s := &MongoServer{t: t, db: "ct_" + randomHex(6), backend: backend}
	if u := os.Getenv("CRYPTTALK_TEST_MONGO_URL"); u != "" {
		s.real = u
		return s
	}
	if !s.startBackend() {
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

// StartMongoProcess is StartMongo with FerretDB in its own process (the
// command internal/testenv/cmd/ferretdb, built once), which a test can
// also Kill (SIGKILL) and Pause (SIGSTOP), as a crashed or hung database
// server. It is killed when the test ends.
func StartMongoProcess(t testing.TB) *MongoServer {
	t.Helper()
	return startMongoProcessOn(t, MongoBackend(t, BackendSQLite))
}

func startMongoProcessOn(t testing.TB, backend string) *MongoServer {
	t.Helper()
	s := &MongoServer{t: t, db: "ct_" + randomHex(6), process: true, backend: backend}
	if u := os.Getenv("CRYPTTALK_TEST_MONGO_URL"); u != "" {
		s.real = u
		return s
	}
	if !s.startBackend() {
		return s
	}
	s.dir = t.TempDir()
	s.addr = FreePort(t)
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() && s.logs != nil {
			t.Logf("ferretdb %s log:\n%s", s.addr, s.logs.String())
		}
	})
	s.Start()
	return s
}

var ferretNewMu sync.Mutex

var (
	ferretOnce sync.Once
	ferretBin  string
	ferretErr  error
)

// ferretBinary builds internal/testenv/cmd/ferretdb once per test process.
func ferretBinary(t testing.TB) string {
	t.Helper()
	ferretOnce.Do(func() {
		dir, err := os.MkdirTemp("", "crypttalk-ferretdb-")
		if err != nil {
			ferretErr = err
			return
		}
		ferretBin = filepath.Join(dir, "ferretdb")
		ferretErr = goBuild("build", "-o", ferretBin, "./internal/testenv/cmd/ferretdb")
	})
	if ferretErr != nil {
		t.Fatal(ferretErr)
	}
	return ferretBin
}

// startBackend starts the PostgreSQL cluster FerretDB runs on, if any;
// false if the test was skipped.
func (s *MongoServer) startBackend() bool {
	if s.backend != BackendPostgreSQL {
		return true
	}
	s.pg = StartPostgres(s.t)
	return s.pg != nil
}

// Backend is the FerretDB backend, or "mongodb" for a real MongoDB.
func (s *MongoServer) Backend() string {
	if s.real != "" {
		return "mongodb"
	}
	return s.backend
}

// ferretConfig is FerretDB's handler configuration for this server.
func (s *MongoServer) ferretConfig() (handler, sqliteURL, postgresURL string) {
	if s.pg != nil {
		return BackendPostgreSQL, "", s.pg.URL("postgres")
	}
	return BackendSQLite, "file:" + s.dir + "/", ""
}

// CanStop reports whether Stop and Start work (not on a real MongoDB).
func (s *MongoServer) CanStop() bool { return s.real == "" }

// CanPause reports whether Kill, Pause and Resume work: FerretDB in its
// own process.
func (s *MongoServer) CanPause() bool { return s.real == "" && s.process }

// Start (re)starts FerretDB on the same port and data.
func (s *MongoServer) Start() {
	s.t.Helper()
	if s.real != "" {
		return
	}
	if s.process {
		s.startProcess()
		return
	}
	handler, sqliteURL, postgresURL := s.ferretConfig()
	// ferretdb.New writes a package global (its version info): parallel
	// tests starting servers at once would race on it.
	ferretNewMu.Lock()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: s.addr},
		Handler:       handler,
		SQLiteURL:     sqliteURL,
		PostgreSQLURL: postgresURL,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ferretNewMu.Unlock()
	if err != nil {
		s.t.Fatalf("FerretDB: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		_ = f.Run(ctx)
	}()
	if !s.waitListening(nil) {
		s.t.Fatalf("FerretDB did not listen on %s", s.addr)
	}
}

// waitListening polls until the port accepts connections; false after 20 s
// or once exited (if not nil) is closed.
func (s *MongoServer) waitListening(exited chan struct{}) bool {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func (s *MongoServer) startProcess() {
	if s.running() {
		s.t.Fatalf("ferretdb %s is already running", s.addr)
	}
	s.logs = &syncBuffer{}
	args := []string{"-listen", s.addr, "-dir", s.dir}
	if _, _, pgURL := s.ferretConfig(); pgURL != "" {
		args = append(args, "-postgresql", pgURL)
	}
	s.cmd = exec.Command(ferretBinary(s.t), args...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start ferretdb: %v", err)
	}
	s.exited = make(chan struct{})
	cmd, exited := s.cmd, s.exited
	go func() { _ = cmd.Wait(); close(exited) }()
	if !s.waitListening(exited) {
		s.Kill()
		s.t.Fatalf("ferretdb did not listen on %s:\n%s", s.addr, s.logs.String())
	}
}

func (s *MongoServer) running() bool { return alive(s.exited) }

// Stop shuts the server down: clients get connection errors until Start.
func (s *MongoServer) Stop() {
	if s.process {
		s.signalAndWait(syscall.SIGTERM)
		return
	}
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
	s.cancel = nil
}

// Kill ends a FerretDB process at once (kill -9); the embedded server is
// stopped as by Stop. Kill is idempotent.
func (s *MongoServer) Kill() {
	if !s.process {
		s.Stop()
		return
	}
	s.signalAndWait(syscall.SIGKILL)
}

// signalAndWait sends sig to a running process (continuing it first if it
// is paused) and waits for it to exit; after 10 s it is killed.
func (s *MongoServer) signalAndWait(sig syscall.Signal) {
	if !s.running() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// Pause freezes a FerretDB process (SIGSTOP): it keeps its port and its
// connections but answers nothing, as a hung database server, until
// Resume.
func (s *MongoServer) Pause() {
	s.t.Helper()
	if !s.CanPause() || !s.running() {
		s.t.Fatalf("Pause: no FerretDB process running")
	}
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("SIGSTOP ferretdb: %v", err)
	}
}

// Resume continues a paused FerretDB process (SIGCONT).
func (s *MongoServer) Resume() {
	s.t.Helper()
	if !s.CanPause() || !s.running() {
		s.t.Fatalf("Resume: no FerretDB process running")
	}
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		s.t.Fatalf("SIGCONT ferretdb: %v", err)
	}
}

// URLFor is a URL of another database on the same server.
func (s *MongoServer) URLFor(db string) string {
	if s.real != "" {
		return s.real + "/ct_" + db
	}
	return "mongodb://" + s.addr + "/ct_" + db
}
