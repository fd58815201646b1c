package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// postgresStartLimit bounds how long a fresh cluster may take to accept
// connections.
const postgresStartLimit = 20 * time.Second

// PostgresServer is a throwaway PostgreSQL cluster (Debian's postgresql
// package: initdb and postgres run directly, no pg_ctlcluster) on a
// loopback port, its data and unix socket in a temp dir. It runs without
// fsync: a test cluster needs no durability across a power cut, and
// fsync would make the tests measure the disk.
type PostgresServer struct {
	t      testing.TB
	bin    string
	dir    string
	addr   string
	cred   *syscall.Credential
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{}
}

// postgresBinDir finds the newest /usr/lib/postgresql/*/bin with initdb
// (Debian keeps it off PATH), else the directory of initdb on PATH.
func postgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	p, err := exec.LookPath("initdb")
	if err != nil {
		return "", err
	}
	return filepath.Dir(p), nil
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// StartPostgres initialises a cluster, starts it and stops it (and removes
// its files) when the test ends. PostgreSQL refuses to run as root, so as
// root it runs as the postgres user the Debian package creates.
func StartPostgres(t testing.TB) *PostgresServer {
	t.Helper()
	bin, err := postgresBinDir()
	if err != nil {
		MissingService(t, "PostgreSQL not found (no /usr/lib/postgresql/*/bin/initdb, %v); install the Debian package postgresql or run `make deps`", err)
		return nil
	}
	s := &PostgresServer{t: t, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			MissingService(t, "running as root and there is no postgres user to run PostgreSQL as (%v)", err)
			return nil
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not t.TempDir(): its parents are private to root, and the server
	// may run as another user.
	if s.dir, err = os.MkdirTemp("", "crypttalk-pg-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() && s.logs != nil {
			t.Logf("postgres %s log:\n%s", s.addr, s.logs.String())
		}
		_ = os.RemoveAll(s.dir)
	})
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := s.command("initdb", "-D", s.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	// As with redis-server, another process may take the port between
	// FreePort and the bind.
	for attempt := 0; ; attempt++ {
		s.addr = FreePort(t)
		if s.start() {
			return s
		}
		if attempt == 2 {
			t.Fatalf("postgres did not start:\n%s", s.logs.String())
		}
	}
}

func (s *PostgresServer) data() string { return filepath.Join(s.dir, "data") }

func (s *PostgresServer) command(name string, args ...string) *exec.Cmd {
	c := exec.Command(filepath.Join(s.bin, name), args...)
	c.Dir = s.dir
	c.Env = append(os.Environ(), "LC_ALL=C")
	if s.cred != nil {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return c
}

// Addr is the server's host:port.
func (s *PostgresServer) Addr() string { return s.addr }

// URL is a postgres:// URL of database db (the cluster has "postgres").
func (s *PostgresServer) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", s.addr, db)
}

func (s *PostgresServer) start() bool {
	_, port, _ := net.SplitHostPort(s.addr)
	s.logs = &syncBuffer{}
	s.cmd = s.command("postgres", "-D", s.data(), "-p", port, "-k", s.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200")
	// A test binary that dies without its cleanups (a -timeout panic,
	// kill -9) takes the server with it: SIGQUIT is PostgreSQL's immediate
	// shutdown, which ends its backends too.
	if s.cmd.SysProcAttr == nil {
		s.cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	s.cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start postgres: %v", err)
	}
	s.exited = make(chan struct{})
	cmd, exited := s.cmd, s.exited
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(postgresStartLimit)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		// Accepting TCP is not ready (it answers "starting up" first);
		// pg_isready asks the protocol.
		if exec.Command(filepath.Join(s.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", port, "-U", "postgres").Run() == nil {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	return false
}

func (s *PostgresServer) running() bool { return alive(s.exited) }

// alive reports whether a process whose Wait closes exited (nil: never
// started) is still running.
func alive(exited chan struct{}) bool {
	if exited == nil {
		return false
	}
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// Stop shuts the server down (fast shutdown, SIGINT; after 10 s, kill -9)
// and waits for it. Stop is idempotent.
func (s *PostgresServer) Stop() {
	if !s.running() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}
