// Package deploytest checks what an operator deploys: the Helm chart in
// deploy/helm/crypttalk, rendered by a real helm and decoded strictly into
// Kubernetes API types, and the container image built from the Dockerfile,
// run the way a kubelet would (non-root, read-only root, only /data
// writable). It is its own module so the server's go.mod stays free of the
// Kubernetes dependency tree.
package deploytest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// repoRoot is the repository, two levels above this package.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func chartDir() string { return filepath.Join(repoRoot(), "deploy", "helm", "crypttalk") }

// missingTool reports a tool the test needs and does not find: a loud skip on
// a developer machine, a failure under CI=true, where a skipped deployment
// test would hide that the chart or the image was never checked.
func missingTool(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and a required tool is missing (scripts/install-test-deps.sh installs it): "+format, args...)
	}
	t.Skipf("SKIPPING (tool missing, this test did NOT run; run scripts/install-test-deps.sh): "+format, args...)
}

// helmBinary finds helm: $HELM, then PATH, then the one
// scripts/install-test-deps.sh builds from the Go module proxy into GOPATH/bin.
func helmBinary(t testing.TB) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	if h, err := exec.LookPath("helm"); err == nil {
		return h
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		h := filepath.Join(strings.TrimSpace(string(out)), "bin", "helm")
		if _, err := os.Stat(h); err == nil {
			return h
		}
	}
	missingTool(t, "helm is not installed (go install helm.sh/helm/v3/cmd/helm@v3.22.0)")
	return ""
}

// helm runs helm with args and returns stdout, or an error carrying stderr.
func helm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// No cluster: lookup returns nothing and helm must not try a kubeconfig.
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(t.TempDir(), "none"), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// render is `helm template chat <chart>` with the given value files and --set flags.
func render(t testing.TB, valueFiles []string, sets ...string) (string, error) {
	t.Helper()
	args := []string{"template", "chat", chartDir(), "--namespace", "chat"}
	for _, f := range valueFiles {
		args = append(args, "-f", f)
	}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	return helm(t, args...)
}
