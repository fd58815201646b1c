package deploytest

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestDockerignoreKeepsSecretsOutOfTheContext builds, with the repository's
// .dockerignore and a real builder, a context seeded with what must never
// reach an image (history, a local data dir with its master keys, local
// builds, key files) beside what the build needs, and lists what arrived.
func TestDockerignoreKeepsSecretsOutOfTheContext(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("buildah")
	if err != nil {
		missingTool(t, "buildah is not installed (apt-get install buildah)")
	}
	if os.Geteuid() != 0 {
		missingTool(t, "buildah needs root here (CI runs as root)")
	}
	ignore, err := os.ReadFile(filepath.Join(repoRoot(), ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.TempDir()
	seed := map[string]bool{ // path -> must arrive
		".git/HEAD":               false,
		".git/objects/ab/cdef":    false,
		"data/master.keys":        false,
		"data/crypttalk.db":       false,
		"bin/crypttalkd":          false,
		"bin/ctbench":             false,
		"cmd/ctbench/dev.key":     false,
		"store/testdata/tls.pem":  false,
		"cpu.prof":                false,
		"server/server.test":      false,
		"web/node_modules/x/a.js": false,
		"bin/image/crypttalkd":    true,
		"bin/image/ctl":           true,
		"go.mod":                  true,
		"go.sum":                  true,
		"cmd/crypttalkd/main.go":  true,
		"web/static/index.html":   true,
		"pubsub/redis/lua/a.lua":  true,
	}
	for p := range seed {
		full := filepath.Join(ctx, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(ctx, ".dockerignore"), ignore, 0o644); err != nil {
		t.Fatal(err)
	}
	dockerfile := filepath.Join(t.TempDir(), "Dockerfile")
	if err := os.WriteFile(dockerfile, []byte("FROM scratch\nCOPY . /ctx/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := "localhost/crypttalk-ctxtest:" + randHex(6)
	bah := newBuildah(t, bin)
	bah.run(t, "bud", "--quiet", "--layers=false", "-f", dockerfile, "-t", tag, ctx)
	rootfs := exportRootfs(t, bah, tag)

	var got []string
	err = filepath.WalkDir(filepath.Join(rootfs, "ctx"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(filepath.Join(rootfs, "ctx"), p)
			got = append(got, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range seed {
		if slices.Contains(got, p) != want {
			if want {
				t.Errorf("%s is needed by the build but .dockerignore keeps it out", p)
			} else {
				t.Errorf("%s reached the build context", p)
			}
		}
	}
}
