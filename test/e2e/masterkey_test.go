package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

func masterKey(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

// TestMasterKeyWrongKeyRefusesToStart: a node restarted with a valid key
// that is not the one its data was written with under the same version
// label exits non-zero naming the version (it used to report ready and
// answer every read with 500). Adding a version (rotation) still starts,
// and the data written under the first key reads back.
func TestMasterKeyWrongKeyRefusesToStart(t *testing.T) {
	t.Parallel()
	keyA, keyB, keyC := "v1:"+masterKey(0xa1), "v1:"+masterKey(0xb2), "v2:"+masterKey(0xc3)
	n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{"CRYPTTALK_MASTER_KEYS=" + keyA}})
	ctx := ctxT(t)
	alice, _ := newUser(t, n, "alice")
	_, bu := newUser(t, n, "bob")
	if _, err := alice.AddMsg(ctx, bu.UserID, "sealed under v1", ""); err != nil {
		t.Fatal(err)
	}
	n.Stop()

	out, code := runToExit(t, n.DataDir, "CRYPTTALK_MASTER_KEYS="+keyB)
	if code == 0 {
		t.Fatalf("crypttalkd started (exit 0) with a wrong v1 key:\n%s", out)
	}
	t.Logf("refusal: %s", lastLine(out))
	if !strings.Contains(out, "master key v1 ") {
		t.Fatalf("exit %d without naming master key v1:\n%s", code, out)
	}
	if strings.Contains(out, masterKey(0xb2)[:16]) || strings.Contains(out, masterKey(0xa1)[:16]) {
		t.Fatalf("the refusal prints key material:\n%s", out)
	}

	// Rotation: the right v1 plus a new v2 starts, and v1's data opens.
	n.Env = []string{"CRYPTTALK_MASTER_KEYS=" + keyA + "," + keyC}
	n.Start()
	msgs, err := alice.GetMsg(ctx, client.GetMsgRequest{To: bu.UserID, Limit: 10})
	if err != nil || len(msgs) != 1 || msgs[0].Message != "sealed under v1" {
		t.Fatalf("history after rotation: %v %v", msgs, err)
	}
	if _, err := alice.AddMsg(ctx, bu.UserID, "sealed after the rotation", ""); err != nil {
		t.Fatalf("send after rotation: %v", err)
	}
	n.Stop()

	// v2 has been seen now: another key under v2 is refused too.
	out, code = runToExit(t, n.DataDir, "CRYPTTALK_MASTER_KEYS="+keyA+",v2:"+masterKey(0xd4))
	if code == 0 || !strings.Contains(out, "master key v2 ") {
		t.Fatalf("wrong v2 key: exit %d:\n%s", code, out)
	}
}

// runToExit runs crypttalkd on dataDir with env and returns its output and
// exit code once it exits; a process still running after a minute fails
// the test.
func runToExit(t *testing.T, dataDir string, env ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(t, "crypttalkd"), "serve")
	cmd.Env = append(os.Environ(),
		"CRYPTTALK_LISTEN="+testenv.FreePort(t),
		"CRYPTTALK_DATA_DIR="+dataDir,
		"CRYPTTALK_BCRYPT_COST=4",
	)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("crypttalkd still running after a minute:\n%s", out)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
