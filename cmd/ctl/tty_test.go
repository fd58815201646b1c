package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// onTTY is ctl running with a pseudo-terminal as its stdin, stdout and
// stderr, as an operator's shell would start it.
type onTTY struct {
	t    *testing.T
	cmd  *exec.Cmd
	ptmx *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	read chan struct{} // closed when the terminal has nothing more to say
}

func (c *ctl) onTTY(args ...string) *onTTY {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.env
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		c.t.Fatalf("pty: %v", err)
	}
	s := &onTTY{t: c.t, cmd: cmd, ptmx: ptmx, read: make(chan struct{})}
	go func() {
		defer close(s.read)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil { // EIO once the child has gone
				return
			}
		}
	}()
	c.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = ptmx.Close() })
	return s
}

func (s *onTTY) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// waitFor waits until the terminal shows text.
func (s *onTTY) waitFor(text string) {
	s.t.Helper()
	if !testenv.Poll(15*time.Second, func() bool { return strings.Contains(s.output(), text) }) {
		s.t.Fatalf("the terminal never showed %q:\n%q", text, s.output())
	}
}

func (s *onTTY) answer(line string) {
	s.t.Helper()
	if _, err := io.WriteString(s.ptmx, line); err != nil {
		s.t.Fatal(err)
	}
}

// exit waits for ctl to end and answers its exit code and all it wrote.
func (s *onTTY) exit() (int, string) {
	s.t.Helper()
	err := s.cmd.Wait()
	<-s.read
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, s.output()
	case errors.As(err, &ee):
		return ee.ExitCode(), s.output()
	}
	s.t.Fatal(err)
	return -1, ""
}

// TestCtlTerminalConfirmationAndProgress drives ctl through a real
// pseudo-terminal: a destructive command asks; "n" aborts with exit 1
// and changes nothing, "y" goes ahead; off a terminal (a pipe, or
// /dev/null as cron gives) it wants --yes (exit 2); a job followed with
// --wait draws a bar with carriage returns on the terminal and writes
// plain lines when piped.
func TestCtlTerminalConfirmationAndProgress(t *testing.T) {
	t.Parallel()
	n, srv := startNode(t, "CRYPTTALK_LIMITS_JOB_BATCH_PAUSE=100ms")
	c := newCtl(t)
	register(t, n, "keepme")
	base := []string{"--server", srv, "--token", adminToken}
	deactivated := func() bool {
		var us []client.AdminUser
		c.jsonOut(srv, adminToken, &us, "users", "list", "-q", "keepme")
		return len(us) == 1 && us[0].Deactivated
	}

	tty := c.onTTY(append(base, "users", "deactivate", "keepme")...)
	tty.waitFor("deactivate keepme? [y/N]")
	tty.answer("n\r")
	if code, out := tty.exit(); code != 1 || !strings.Contains(out, "not confirmed") {
		t.Fatalf("answering n: exit %d\n%q", code, out)
	}
	if deactivated() {
		t.Fatal("answering n deactivated the user")
	}
	var es []client.AuditEntry
	if c.jsonOut(srv, adminToken, &es, "audit"); len(es) != 0 {
		t.Fatalf("an aborted command reached the server: %+v", es)
	}

	tty = c.onTTY(append(base, "users", "deactivate", "keepme")...)
	tty.waitFor("[y/N]")
	tty.answer("y\r")
	if code, out := tty.exit(); code != 0 || !strings.Contains(out, "true") {
		t.Fatalf("answering y: exit %d\n%q", code, out)
	}
	if !deactivated() {
		t.Fatal("answering y did not deactivate the user")
	}

	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	cmd := exec.Command(c.bin, append(base, "users", "reactivate", "keepme")...)
	cmd.Env = c.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reactivate: %v %s", err, out)
	}
	cmd = exec.Command(c.bin, append(base, "users", "deactivate", "keepme")...)
	cmd.Env, cmd.Stdin = c.env, devNull
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "--yes") || deactivated() {
		t.Fatalf("stdin /dev/null without --yes: %v\n%s", err, out)
	}

	// Progress: six conversations of two messages, a page each, 100 ms apart.
	chatRing(t, n, 4, 2)
	c.ok(srv, adminToken, "keys", "rotate")
	tty = c.onTTY(append(base, "jobs", "start", "reencrypt", "--wait")...)
	code, shown := tty.exit()
	if code != 0 || !strings.Contains(shown, "\rreencrypt [") || !strings.Contains(shown, "\rreencrypt ["+strings.Repeat("#", 30)+"] 12/12 done") {
		t.Fatalf("jobs start --wait on a terminal: exit %d\n%q", code, shown)
	}
	c.ok(srv, adminToken, "keys", "rotate")
	stdout, stderr, code := c.run("", append(base, "jobs", "start", "reencrypt", "--wait")...)
	if code != 0 || strings.Contains(stderr, "\r") || !strings.Contains(stderr, " reencrypt ") || !strings.HasSuffix(stderr, "\n") || !strings.Contains(stdout, "done") {
		t.Fatalf("jobs start --wait piped: exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	t.Logf("terminal:\n%q\npiped:\n%s", shown, stderr)
}
