package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// keyFileName is the keyring file inside the data dir.
const keyFileName = "master.keys"

// maxKeyFile bounds what is read: a real keyring is a few hundred bytes.
const maxKeyFile = 1 << 20

// LoadOrCreateKeyring reads the keyring from <dir>/master.keys. On a first
// start (no file) it creates dir (mode 0700) if needed and the file (mode
// 0600) with one new key "v1", and reports created. The file holds one
// spec line as ParseKeyring reads it; blank lines and "#" comments are
// ignored, and an optional "active=vN" line names the active version. A
// file that group or others may read or write is refused, as a leaked or
// replaced master key undoes all encryption.
//
// Two processes starting at once agree on one key: the file is created
// with a link that fails if it exists, and the loser reads the winner's.
func LoadOrCreateKeyring(dir string) (ring *Keyring, created bool, err error) {
	path := filepath.Join(dir, keyFileName)
	ring, err = readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return ring, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("vault: create key dir: %w", err)
	}
	ring = &Keyring{order: []string{"v1"}, keys: map[string][]byte{"v1": NewDataKey()}, active: "v1"}
	err = writeKeyFile(path, ring, false)
	if errors.Is(err, fs.ErrExist) {
		ring, err = readKeyFile(path)
		return ring, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return ring, true, nil
}

// WriteFile atomically replaces the keyring file at path (for example
// after WithKey or Without), mode 0600, in the format LoadOrCreateKeyring
// reads. The file is SECRET.
func (k *Keyring) WriteFile(path string) error {
	return writeKeyFile(path, k, true)
}

// readKeyFile reads and checks the keyring file; a missing file is an
// error matching fs.ErrNotExist.
func readKeyFile(path string) (*Keyring, error) {
	body, err := readSecretFile(path, ownerOnlyMode)
	if err != nil {
		return nil, err
	}
	spec, active, err := parseKeyFile(string(body))
	if err == nil {
		var ring *Keyring
		if ring, err = ParseKeyring(spec, active); err == nil {
			return ring, nil
		}
	}
	return nil, fmt.Errorf("%s: %w", path, err)
}

// parseKeyFile splits the file into its spec line and optional active
// version. Errors give line numbers, never line contents.
func parseKeyFile(body string) (spec, active string, err error) {
	for i, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "active="):
			if active != "" {
				return "", "", fmt.Errorf("vault: line %d: second active= line", i+1)
			}
			active = strings.TrimSpace(strings.TrimPrefix(line, "active="))
		case spec != "":
			return "", "", fmt.Errorf("vault: line %d: second key line; list every version on one line, comma separated", i+1)
		default:
			spec = line
		}
	}
	return spec, active, nil
}

// writeKeyFile writes ring's key file the way every secret file is
// written (writeSecretFile): 0600 from the start, synced, moved into place.
func writeKeyFile(path string, ring *Keyring, replace bool) error {
	if len(ring.order) == 0 {
		return errors.New("vault: refusing to write an empty keyring")
	}
	body := "# Crypt-Talk master keys. SECRET: keep this file out of backups of the data dir.\n" + ring.Spec() + "\n"
	if ring.active != ring.order[len(ring.order)-1] {
		body += "active=" + ring.active + "\n"
	}
	return writeSecretFile(path, body, replace)
}

// syncDir makes a new directory entry durable, so a crash cannot leave
// data encrypted under a key whose file vanished.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("vault: sync key dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("vault: sync key dir: %w", err)
	}
	return nil
}
