package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crypttalk/crypttalk/internal/testenv"
)

// TestREADMEWalkthrough runs the README's steps (scripts/walkthrough.sh)
// against a fresh server, so the README cannot drift from the product.
func TestREADMEWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		testenv.MissingService(t, "curl is not installed")
	}
	n := testenv.StartNode(t, testenv.NodeConfig{})
	cmd := exec.Command("bash", filepath.Join("..", "..", "scripts", "walkthrough.sh"))
	cmd.Env = append(cmd.Environ(), "BASE="+n.URL(), "CTWS="+testenv.Binary(t, "ctws"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walk-through failed: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{`"message":"hello bob"`, `"event":"ready"`, `"event":"ack"`, `"message":"hi alice"`} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %s:\n%s", want, text)
		}
	}
	// getmsg returns both messages, oldest first.
	last := text[strings.LastIndex(text, "[{"):]
	if strings.Index(last, "hello bob") > strings.Index(last, "hi alice") || strings.Index(last, "hello bob") < 0 {
		t.Errorf("history out of order:\n%s", last)
	}
}
