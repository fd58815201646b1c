package deploytest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runtimeUID is the image's user (distroless "nonroot"), also the chart's.
const runtimeUID = 65532

// ociConfig is the part of the image config a container runtime applies.
type ociConfig struct {
	User         string              `json:"User"`
	Env          []string            `json:"Env"`
	Entrypoint   []string            `json:"Entrypoint"`
	Cmd          []string            `json:"Cmd"`
	WorkingDir   string              `json:"WorkingDir"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts"`
	Volumes      map[string]struct{} `json:"Volumes"`
}

// TestImageRunsReadOnlyAsNonRoot builds the image from the Dockerfile with
// buildah (prebuilt static binaries, scratch base: no registry here), exports
// its root filesystem and runs it as a kubelet would run the chart's pod:
// uid 65532, root read-only, /data the only writable place, the chart's
// ConfigMap and Secrets mounted where the chart mounts them. Then /healthz,
// /readyz, a register, a message, the admin API on the admin port only,
// `ctl health` from the image, a graceful stop, and a check that nothing
// outside /data changed (and that the master keys came from the Secret).
//
// Container runtimes do not work on this kind of machine (podman run: crun
// "cgroups in hybrid mode not supported"), hence unshare and chroot.
func TestImageRunsReadOnlyAsNonRoot(t *testing.T) {
	t.Parallel()
	tools := map[string]string{}
	for _, name := range []string{"buildah", "unshare", "chroot", "mount", "sh"} {
		p, err := exec.LookPath(name)
		if err != nil {
			missingTool(t, "%s is not installed (apt-get install buildah util-linux coreutils)", name)
		}
		tools[name] = p
	}
	if os.Geteuid() != 0 {
		missingTool(t, "buildah, unshare --mount and chroot need root (CI runs as root)")
	}
	root := repoRoot()
	tag := "localhost/crypttalk-deploytest:" + randHex(6)
	bah := newBuildah(t, tools["buildah"])

	// The binaries the "prebuilt" stage packages, static like the Dockerfile's.
	bins := filepath.Join(root, "bin", "image")
	if err := os.RemoveAll(bins); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(bins, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=deploytest", "-o", bins+"/", "./cmd/crypttalkd", "./cmd/ctl")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	bah.run(t, "bud", "--quiet", "--layers=false",
		"--build-arg", "BINARIES=prebuilt", "--build-arg", "BASE=scratch",
		"-f", filepath.Join(root, "Dockerfile"), "-t", tag, root)

	var inspect struct {
		OCIv1 struct {
			Config ociConfig `json:"config"`
		} `json:"OCIv1"`
	}
	if err := json.Unmarshal([]byte(bah.run(t, "inspect", "--type", "image", tag)), &inspect); err != nil {
		t.Fatalf("buildah inspect: %v", err)
	}
	cfg := inspect.OCIv1.Config
	if cfg.User != fmt.Sprintf("%d:%d", runtimeUID, runtimeUID) {
		t.Errorf("image USER %q, want numeric non-root %d:%d (runAsNonRoot checks a number)", cfg.User, runtimeUID, runtimeUID)
	}
	if _, ok := cfg.Volumes["/data"]; !ok {
		t.Errorf("image declares no /data volume: %v", cfg.Volumes)
	}
	if !slices.Equal(cfg.Entrypoint, []string{"/usr/local/bin/crypttalkd"}) || !slices.Equal(cfg.Cmd, []string{"serve"}) {
		t.Errorf("entrypoint %v cmd %v", cfg.Entrypoint, cfg.Cmd)
	}

	rootfs := exportRootfs(t, bah, tag)
	checkImageLayout(t, rootfs)

	// What a kubelet would mount: the chart's default render gives the
	// config file and the Secrets, decoded into files owned by the fsGroup.
	out, err := render(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeStrict(out)
	if err != nil {
		t.Fatal(err)
	}
	cfgDir, secDir, dataDir := t.TempDir(), t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(cfgDir, "config.yaml"), m.configMap(fullname).Data["config.yaml"], 0o444)
	adminToken := ""
	for _, s := range m.Secrets {
		for k, v := range s.Data {
			if k == "admin-token" {
				adminToken = string(v)
				continue
			}
			writeFile(t, filepath.Join(secDir, k), string(v), 0o440)
		}
	}
	for _, dir := range []string{cfgDir, secDir} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(dataDir, runtimeUID, runtimeUID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Mount points exist before the snapshot, as a kubelet creates them.
	for _, dir := range []string{"etc/crypttalk", "run/secrets/crypttalk"} {
		if err := os.MkdirAll(filepath.Join(rootfs, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, rootfs)

	pub, adm := freePort(t), freePort(t)
	env := slices.Clone(cfg.Env)
	for _, e := range server(t, m).Env {
		switch {
		case e.Name == "CRYPTTALK_ADMIN_TOKEN":
			env = append(env, e.Name+"="+adminToken)
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		}
	}
	// Loopback listeners: the chroot shares this machine's network.
	env = append(env, "CRYPTTALK_LISTEN=127.0.0.1:"+pub, "CRYPTTALK_ADMIN_LISTEN=127.0.0.1:"+adm,
		"CRYPTTALK_SERVER_URL=http://127.0.0.1:"+adm, "CRYPTTALK_BCRYPT_COST=4", "CRYPTTALK_LOG_FORMAT=text")

	// The pod's args replace the image's CMD, as in Kubernetes.
	argv := slices.Concat(cfg.Entrypoint, server(t, m).Args)
	script := strings.Join([]string{
		"set -e",
		q(tools["mount"]) + " --bind " + q(rootfs) + " " + q(rootfs),
		q(tools["mount"]) + " -o remount,bind,ro " + q(rootfs),
		q(tools["mount"]) + " --bind " + q(dataDir) + " " + q(rootfs+"/data"),
		q(tools["mount"]) + " --bind -o ro " + q(cfgDir) + " " + q(rootfs+"/etc/crypttalk"),
		q(tools["mount"]) + " -o remount,bind,ro " + q(rootfs+"/etc/crypttalk"),
		q(tools["mount"]) + " --bind " + q(secDir) + " " + q(rootfs+"/run/secrets/crypttalk"),
		q(tools["mount"]) + " -o remount,bind,ro " + q(rootfs+"/run/secrets/crypttalk"),
		"exec " + q(tools["chroot"]) + fmt.Sprintf(" --userspec=%d:%d ", runtimeUID, runtimeUID) + q(rootfs) + " " + quoteAll(argv),
	}, "\n")
	srv := exec.Command(tools["unshare"], "--mount", "--propagation", "private", "--fork", "--kill-child", tools["sh"], "-c", script)
	srv.Env = env
	srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logs syncBuffer
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = syscall.Kill(-srv.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("server output:\n%s", logs.String())
		}
	})

	base := "http://127.0.0.1:" + pub
	waitFor(t, exited, &logs, func() bool { return httpOK(base + "/healthz") })
	if !httpOK(base + "/readyz") {
		t.Errorf("/readyz not ok")
	}

	// Plain HTTP, as any client would: this module does not import the
	// server's, so its go.mod follows no change of the server's dependencies.
	var alice, bob struct {
		User struct {
			ID string `json:"_id"`
		} `json:"user"`
		Token string `json:"token"`
	}
	for _, u := range []struct {
		name string
		out  any
	}{{"alice", &alice}, {"bob", &bob}} {
		body := map[string]string{"username": u.name, "email": u.name + "@example.org", "password": "correct horse battery"}
		if code := callAPI(t, base, "", "/api/auth/register", body, u.out); code != http.StatusOK && code != http.StatusCreated {
			t.Fatalf("register %s: HTTP %d", u.name, code)
		}
	}
	const text = "hello from a read-only root"
	if code := callAPI(t, base, alice.Token, "/api/messages/addmsg", map[string]string{"to": bob.User.ID, "message": text, "txn_id": "txn-1"}, nil); code/100 != 2 {
		t.Fatalf("send: HTTP %d", code)
	}
	var history []struct {
		Message string `json:"message"`
	}
	if code := callAPI(t, base, bob.Token, "/api/messages/getmsg", map[string]string{"to": alice.User.ID}, &history); code != http.StatusOK || len(history) != 1 || history[0].Message != text {
		t.Fatalf("bob's history: HTTP %d %+v", code, history)
	}

	// The chart always runs the admin listener: the admin API lives there
	// only, and /metrics is open there but not on the public port.
	for _, c := range []struct {
		url, token string
		want       int
	}{
		{base + "/_admin/v1/health", adminToken, http.StatusNotFound},
		{base + "/metrics", "", http.StatusUnauthorized},
		{"http://127.0.0.1:" + adm + "/_admin/v1/health", adminToken, http.StatusOK},
		{"http://127.0.0.1:" + adm + "/metrics", "", http.StatusOK},
	} {
		if got := httpStatus(t, c.url, c.token); got != c.want && !(c.want == http.StatusUnauthorized && got == http.StatusForbidden) {
			t.Errorf("GET %s: %d, want %d", c.url, got, c.want)
		}
	}

	// ctl from the image, as `kubectl exec ... -- ctl health` runs it.
	ctl := exec.Command(tools["chroot"], fmt.Sprintf("--userspec=%d:%d", runtimeUID, runtimeUID), rootfs, "/usr/local/bin/ctl", "health")
	ctl.Env = env
	if out, err := ctl.CombinedOutput(); err != nil || !strings.Contains(string(out), "store") {
		t.Errorf("ctl health in the image: %v\n%s", err, out)
	}

	// SIGTERM, as the kubelet sends after preStop: a clean, prompt exit.
	if err := syscall.Kill(-srv.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Errorf("server did not stop cleanly on SIGTERM: %v", err)
	}
	stopped = true
	if !strings.Contains(logs.String(), "stopped") {
		t.Errorf("no graceful stop in the log")
	}

	if diff := diffSnapshots(before, snapshot(t, rootfs)); len(diff) > 0 {
		t.Errorf("the server wrote outside /data:\n%s", strings.Join(diff, "\n"))
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		fi, _ := os.Lstat(filepath.Join(dataDir, e.Name()))
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != runtimeUID {
			t.Errorf("/data/%s owned by uid %d", e.Name(), st.Uid)
		}
	}
	if !slices.Contains(names, "crypttalk.db") {
		t.Errorf("/data holds %v: no embedded database", names)
	}
	if slices.Contains(names, "master.keys") {
		t.Errorf("the server generated master keys into /data although the chart's Secret file was mounted")
	}
}

// buildah runs buildah on storage of the test's own, which goes with the
// test's temp dir: no image, layer or working container outlives the test.
// vfs: plain directories, so nothing is left mounted either.
type buildah struct {
	bin    string
	global []string
}

func newBuildah(t *testing.T, bin string) *buildah {
	dir := t.TempDir()
	return &buildah{bin: bin, global: []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs"}}
}

func (b *buildah) run(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, b.bin, slices.Concat(b.global, args)...)
}

// exportRootfs copies the image's root filesystem into a temp dir.
func exportRootfs(t *testing.T, b *buildah, tag string) string {
	t.Helper()
	name := "crypttalk-deploytest-" + randHex(6)
	b.run(t, "from", "--pull-never", "--name", name, tag)
	mnt := strings.TrimSpace(b.run(t, "mount", name))
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "cp", "-a", mnt+"/.", rootfs+"/")
	b.run(t, "umount", name)
	b.run(t, "rm", name)
	return rootfs
}

// checkImageLayout: the binaries, a /data owned by the runtime user, and
// nothing else (no sources, keys or databases from the build context).
func checkImageLayout(t *testing.T, rootfs string) {
	t.Helper()
	var files []string
	err := filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(rootfs, p)
		if !d.IsDir() {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	if want := []string{"usr/local/bin/crypttalkd", "usr/local/bin/ctl"}; !slices.Equal(files, want) {
		t.Errorf("image files %v, want only %v", files, want)
	}
	for _, f := range []string{"usr/local/bin/crypttalkd", "usr/local/bin/ctl"} {
		if fi, err := os.Stat(filepath.Join(rootfs, f)); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s not executable: %v", f, err)
		}
	}
	fi, err := os.Stat(filepath.Join(rootfs, "data"))
	if err != nil || !fi.IsDir() {
		t.Fatalf("/data missing: %v", err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != runtimeUID || st.Gid != runtimeUID {
		t.Errorf("/data owned by %d:%d, want %d:%d", st.Uid, st.Gid, runtimeUID, runtimeUID)
	}
}

// snapshot records every entry of a tree (mode, owner, size, mtime).
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = fmt.Sprintf("%v %d:%d %d %d", fi.Mode(), st.Uid, st.Gid, fi.Size(), fi.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffSnapshots(a, b map[string]string) []string {
	var diff []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			diff = append(diff, "removed "+k)
		} else if w != v {
			diff = append(diff, fmt.Sprintf("changed %s: %s -> %s", k, v, w))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			diff = append(diff, "added "+k)
		}
	}
	slices.Sort(diff)
	return diff
}

// waitFor polls cond until it holds; it fails at once if the server exits.
// The generous bound only catches a server that never comes up.
func waitFor(t *testing.T, exited chan error, logs *syncBuffer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("server exited before it served: %v\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never answered /healthz\n%s", logs.String())
		}
	}
}

func httpOK(url string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func httpStatus(t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// callAPI POSTs body as JSON and decodes a 2xx answer into out.
func callAPI(t *testing.T, base, token, path string, body, out any) int {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Logf("POST %s: %d %s", path, resp.StatusCode, answer)
		return resp.StatusCode
	}
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			t.Fatalf("POST %s: %v: %s", path, err, answer)
		}
	}
	return resp.StatusCode
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	// root:65532, as fsGroup makes a Secret volume's files.
	if err := os.Chown(path, 0, runtimeUID); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// q quotes one word for sh.
func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func quoteAll(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = q(w)
	}
	return strings.Join(out, " ")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
