package vault

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Keyring is a set of versioned master keys with one active version. It is
// immutable: WithKey and Without return new keyrings.
type Keyring struct {
	order  []string
	keys   map[string][]byte
	active string
}

var versionRE = regexp.MustCompile(`^v[0-9]{1,9}$`)

// ParseKeyring reads "v1:<base64 32 bytes>,v2:..."; active "" means the
// last entry. Errors name the entry, never its key material.
func ParseKeyring(spec, active string) (*Keyring, error) {
	k := &Keyring{keys: map[string][]byte{}}
	for i, entry := range strings.Split(strings.TrimSpace(spec), ",") {
		entry = strings.TrimSpace(entry)
		version, b64, ok := strings.Cut(entry, ":")
		if !ok || !versionRE.MatchString(version) {
			return nil, fmt.Errorf("master key entry %d: want vN:<base64 of 32 bytes>", i+1)
		}
		key, err := decodeKey(b64)
		if err != nil {
			return nil, fmt.Errorf("master key %s: %w", version, err)
		}
		if _, dup := k.keys[version]; dup {
			return nil, fmt.Errorf("master key %s is listed twice", version)
		}
		k.order = append(k.order, version)
		k.keys[version] = key
	}
	if len(k.order) == 0 {
		return nil, errors.New("no master key given")
	}
	k.active = k.order[len(k.order)-1]
	if active != "" {
		if _, ok := k.keys[active]; !ok {
			return nil, fmt.Errorf("active master key %q is not in the keyring", active)
		}
		k.active = active
	}
	return k, nil
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != keySize {
				return nil, fmt.Errorf("decodes to %d bytes, want %d", len(b), keySize)
			}
			return b, nil
		}
	}
	return nil, errors.New("is not valid base64")
}

const keyFile = "master.keys"

// LoadOrCreateKeyring reads <dir>/master.keys, or creates it with one new
// key (mode 0600) on a first start. A file readable by others is refused.
func LoadOrCreateKeyring(dir string) (*Keyring, bool, error) {
	path := filepath.Join(dir, keyFile)
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return createKeyring(dir, path)
	case err != nil:
		return nil, false, err
	case st.Mode().Perm()&0o077 != 0:
		return nil, false, fmt.Errorf("%s is readable by others (mode %o); chmod 600 it", path, st.Mode().Perm())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var spec, active string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "active="):
			active = strings.TrimPrefix(line, "active=")
		default:
			spec = line
		}
	}
	if err := sc.Err(); err != nil {
		return nil, false, err
	}
	k, err := ParseKeyring(spec, active)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	return k, false, nil
}

func createKeyring(dir, path string) (*Keyring, bool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, err
	}
	k := &Keyring{order: []string{"v1"}, keys: map[string][]byte{"v1": NewDataKey()}, active: "v1"}
	if err := k.WriteFile(path); err != nil {
		return nil, false, err
	}
	return k, true, nil
}

// WriteFile stores the keyring (secret!) at path with mode 0600, atomically.
func (k *Keyring) WriteFile(path string) error {
	tmp := path + ".tmp"
	body := "# Crypt-Talk master keys. SECRET: keep out of backups of the data dir.\n" + k.Spec() + "\nactive=" + k.active + "\n"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Active is the version new data keys are wrapped with.
func (k *Keyring) Active() string { return k.active }

// Versions lists the versions in order.
func (k *Keyring) Versions() []string { return append([]string(nil), k.order...) }

// Has reports whether version is in the keyring.
func (k *Keyring) Has(version string) bool { _, ok := k.keys[version]; return ok }

// WithKey returns a keyring with an extra version, made active.
func (k *Keyring) WithKey(version string, key []byte) (*Keyring, error) {
	if !versionRE.MatchString(version) {
		return nil, fmt.Errorf("master key version %q: want vN", version)
	}
	if k.Has(version) {
		return nil, fmt.Errorf("master key %s already exists", version)
	}
	if len(key) != keySize {
		return nil, fmt.Errorf("master key %s: want %d bytes", version, keySize)
	}
	n := k.clone()
	n.order = append(n.order, version)
	n.keys[version] = append([]byte(nil), key...)
	n.active = version
	return n, nil
}

// Without returns a keyring without version; the active one cannot go.
func (k *Keyring) Without(version string) (*Keyring, error) {
	if !k.Has(version) {
		return nil, fmt.Errorf("master key %s is not in the keyring", version)
	}
	if version == k.active {
		return nil, fmt.Errorf("master key %s is active; activate another first", version)
	}
	n := k.clone()
	delete(n.keys, version)
	n.order = n.order[:0]
	for _, v := range k.order {
		if v != version {
			n.order = append(n.order, v)
		}
	}
	return n, nil
}

func (k *Keyring) clone() *Keyring {
	n := &Keyring{order: append([]string(nil), k.order...), keys: make(map[string][]byte, len(k.keys)), active: k.active}
	for v, key := range k.keys {
		n.keys[v] = key
	}
	return n
}

// Spec serialises the keyring in the CRYPTTALK_MASTER_KEYS format. The
// result is secret.
func (k *Keyring) Spec() string {
	parts := make([]string, 0, len(k.order))
	for _, v := range k.order {
		parts = append(parts, v+":"+base64.StdEncoding.EncodeToString(k.keys[v]))
	}
	return strings.Join(parts, ",")
}

// String is redacted: versions only, the active one starred.
func (k *Keyring) String() string {
	parts := make([]string, 0, len(k.order))
	for _, v := range k.order {
		if v == k.active {
			v += "*"
		}
		parts = append(parts, v)
	}
	return "keyring{" + strings.Join(parts, ",") + "}"
}

func wrapAD(version, owner string) []byte {
	return []byte("ct-dek\x00" + version + "\x00" + owner)
}

// Wrap seals a data key under the active master key, bound to its owner.
func (k *Keyring) Wrap(dek []byte, owner string) (string, []byte, error) {
	w, err := Seal(k.keys[k.active], dek, wrapAD(k.active, owner))
	return k.active, w, err
}

// Unwrap opens a data key wrapped by version for owner.
func (k *Keyring) Unwrap(version string, wrapped []byte, owner string) ([]byte, error) {
	kek, ok := k.keys[version]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownKeyVersion, version)
	}
	return Open(kek, wrapped, wrapAD(version, owner))
}
