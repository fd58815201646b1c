// Package e2e drives the real crypttalkd binary over loopback with the Go
// client we ship (package client), as a user would.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

var userSeq atomic.Int64

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newUser registers a fresh user on node and returns its client.
func newUser(t *testing.T, n *testenv.Node, prefix string) (*client.Client, *client.User) {
	t.Helper()
	name := fmt.Sprintf("%s%d", prefix, userSeq.Add(1))
	c := client.New(n.URL())
	u, err := c.Register(ctxT(t), name, name+"@example.org", "correct horse battery")
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return c, u
}

// apiErr asserts err is an API error with status and errcode.
func apiErr(t *testing.T, err error, status int, code string) {
	t.Helper()
	var e *client.APIError
	if !errors.As(err, &e) {
		t.Fatalf("want API error %d %s, got %v", status, code, err)
	}
	if e.Status != status || (code != "" && e.Errcode != code) {
		t.Fatalf("want %d %s, got %d %s (%s)", status, code, e.Status, e.Errcode, e.Msg)
	}
}

// connect opens a socket and fails the test on error.
func connect(t *testing.T, c *client.Client, since map[string]int64) *client.Conn {
	t.Helper()
	conn, err := c.Connect(ctxT(t), since)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// waitEvent waits for the next event called name that matches (nil: any),
// skipping others.
func waitEvent(t *testing.T, conn *client.Conn, name string, match func(json.RawMessage) bool) json.RawMessage {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-conn.Events():
			if !ok {
				t.Fatalf("socket closed (code %d) while waiting for %s", conn.CloseCode(), name)
			}
			if ev.Name == name && (match == nil || match(ev.Data)) {
				return ev.Data
			}
		case <-timeout:
			t.Fatalf("no %s event within 10s", name)
		}
	}
}

// msgWith matches a message event carrying text.
func msgWith(text string) func(json.RawMessage) bool {
	return func(d json.RawMessage) bool {
		var m client.Message
		return json.Unmarshal(d, &m) == nil && m.Message == text
	}
}

// drainMessages collects message events until none arrives for quiet.
func drainMessages(conn *client.Conn, quiet time.Duration) []client.Message {
	var out []client.Message
	for {
		select {
		case ev, ok := <-conn.Events():
			if !ok {
				return out
			}
			if ev.Name == "msg-recieve" {
				var m client.Message
				if json.Unmarshal(ev.Data, &m) == nil {
					out = append(out, m)
				}
			}
		case <-time.After(quiet):
			return out
		}
	}
}

// rawSocket dials /ws without the client, for malformed traffic.
func rawSocket(t *testing.T, n *testenv.Node, header http.Header) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+n.Addr+"/ws", header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (HTTP %d)", err, status)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

type frame struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	ID    json.RawMessage `json:"id"`
}

func readFrame(t *testing.T, conn *websocket.Conn) frame {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("server sent non-JSON %q", b)
	}
	return f
}

// closeCodeOf reads until the socket closes and returns the close code.
func closeCodeOf(t *testing.T, conn *websocket.Conn) int {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		t.Fatalf("socket ended without a close frame: %v", err)
	}
}

// noPlaintext fails when a marker (plaintext, a token, a key) is in any
// file of the node's data dir or in its log.
func noPlaintext(t *testing.T, n *testenv.Node, markers ...string) {
	t.Helper()
	logs := n.Logs()
	files := 0
	err := filepath.WalkDir(n.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, m := range markers {
			if bytes.Contains(b, []byte(m)) {
				t.Errorf("%s holds %q…", path, m[:min(len(m), 12)])
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("data dir walk: %v, %d files", err, files)
	}
	for _, m := range markers {
		if strings.Contains(logs, m) {
			t.Errorf("the server's log holds %q…", m[:min(len(m), 12)])
		}
	}
}
