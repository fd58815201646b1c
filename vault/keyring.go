package vault

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
)

// Keyring is a set of versioned 32-byte master keys (KEKs) with one active
// version, which wraps new data keys; the others only unwrap. A Keyring is
// immutable (WithKey and Without return new ones), so it is safe for
// concurrent use and can be swapped atomically on rotation. Build one with
// ParseKeyring or LoadOrCreateKeyring; the zero value holds no key.
//
// Printing a Keyring in any way (fmt verbs, slog) shows only its versions.
type Keyring struct {
	order  []string          // versions in spec order
	keys   map[string][]byte // never mutated once built; clones share the slices
	active string
}

// versionRE is the shape of a version name. It matches what config
// accepts, so a spec that passes config validation parses here.
var versionRE = regexp.MustCompile(`^v[0-9]{1,9}$`)

// ParseKeyring reads a spec "v1:<base64>,v2:<base64>,..." where each key
// is 32 bytes in standard base64, padded or not; spaces around entries are
// ignored. active names the active version; "" means the last one.
// Errors name the bad entry by position or version, never key material.
func ParseKeyring(spec, active string) (*Keyring, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("vault: no master key given")
	}
	k := &Keyring{keys: map[string][]byte{}}
	for i, entry := range strings.Split(spec, ",") {
		version, b64, ok := strings.Cut(strings.TrimSpace(entry), ":")
		if !ok || !versionRE.MatchString(version) {
			// The entry itself is not shown: it may be a bare key.
			return nil, fmt.Errorf("vault: master key entry %d: want vN:<base64 of %d bytes>", i+1, keySize)
		}
		if _, dup := k.keys[version]; dup {
			return nil, fmt.Errorf("vault: master key %s is listed twice", version)
		}
		key, err := decodeKey(b64)
		if err != nil {
			return nil, fmt.Errorf("vault: master key %s: %w", version, err)
		}
		k.order = append(k.order, version)
		k.keys[version] = key
	}
	k.active = k.order[len(k.order)-1]
	if active != "" {
		if !k.Has(active) {
			return nil, fmt.Errorf("vault: active master key %s is not in the keyring", safeVersion(active))
		}
		k.active = active
	}
	return k, nil
}

// decodeKey decodes standard base64, padded or raw. Its errors say what is
// wrong with the key, never what the key is.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, errors.New("is not valid standard base64")
	}
	if len(b) != keySize {
		return nil, fmt.Errorf("decodes to %d bytes, want %d", len(b), keySize)
	}
	return b, nil
}

// safeVersion quotes a user-given version for an error message only when
// it looks like one: a misplaced key pasted as a version must not leak.
func safeVersion(v string) string {
	if versionRE.MatchString(v) {
		return v
	}
	return "(not a version name)"
}

// Active is the version that Wrap uses.
func (k *Keyring) Active() string { return k.active }

// Versions lists the versions in the order of the spec (rotation appends).
func (k *Keyring) Versions() []string { return append([]string(nil), k.order...) }

// Has reports whether version is in the keyring.
func (k *Keyring) Has(version string) bool {
	_, ok := k.keys[version]
	return ok
}

// WithKey returns a new keyring with key added as version and made
// active; k is unchanged. key is copied.
func (k *Keyring) WithKey(version string, key []byte) (*Keyring, error) {
	switch {
	case !versionRE.MatchString(version):
		return nil, fmt.Errorf("vault: master key version %s: want v followed by digits", safeVersion(version))
	case k.Has(version):
		return nil, fmt.Errorf("vault: master key %s already exists", version)
	case len(key) != keySize:
		return nil, fmt.Errorf("vault: master key %s: %d bytes, want %d", version, len(key), keySize)
	}
	n := k.clone()
	n.order = append(n.order, version)
	n.keys[version] = append([]byte(nil), key...)
	n.active = version
	return n, nil
}

// Without returns a new keyring without version; k is unchanged. Dropping
// a version makes every data key it wrapped unreadable, which is the point
// of retiring it after a rewrap. The active version cannot be dropped.
func (k *Keyring) Without(version string) (*Keyring, error) {
	switch {
	case !k.Has(version):
		return nil, fmt.Errorf("vault: master key %s is not in the keyring", safeVersion(version))
	case version == k.active:
		return nil, fmt.Errorf("vault: master key %s is active; add a new key first", version)
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
	n := &Keyring{order: append([]string(nil), k.order...), keys: make(map[string][]byte, len(k.keys)+1), active: k.active}
	for v, key := range k.keys {
		n.keys[v] = key // shared: key slices are never written after creation
	}
	return n
}

// Spec serialises the keyring in the format ParseKeyring reads, keys in
// padded standard base64. The result is SECRET: it holds every master
// key. ParseKeyring(k.Spec(), "") makes the last version active, which is
// k's active version unless k came from ParseKeyring with an explicit
// active; WriteFile records that case too.
func (k *Keyring) Spec() string {
	parts := make([]string, 0, len(k.order))
	for _, v := range k.order {
		parts = append(parts, v+":"+base64.StdEncoding.EncodeToString(k.keys[v]))
	}
	return strings.Join(parts, ",")
}

// String is redacted: "keyring{v1,v2*}", the active version starred.
func (k *Keyring) String() string {
	if k == nil {
		return "keyring(nil)"
	}
	parts := make([]string, 0, len(k.order))
	for _, v := range k.order {
		if v == k.active {
			v += "*"
		}
		parts = append(parts, v)
	}
	return "keyring{" + strings.Join(parts, ",") + "}"
}

// Format makes every fmt verb (%#v, %+v, %x, %d...) print String, so that
// no formatting of a Keyring can dump its key bytes.
func (k *Keyring) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue makes slog print String, whatever the handler.
func (k *Keyring) LogValue() slog.Value { return slog.StringValue(k.String()) }

// wrapAD binds a wrapped data key to the master key version and its owner
// (a conversation or file id), so it cannot be moved to another owner.
func wrapAD(version, owner string) []byte {
	return []byte("ct-dek\x00" + version + "\x00" + owner)
}

// Wrap seals a 32-byte data key under the active master key, bound to
// owner. It returns the version used, which Unwrap needs.
func (k *Keyring) Wrap(dek []byte, owner string) (version string, wrapped []byte, err error) {
	if len(dek) != keySize {
		return "", nil, fmt.Errorf("vault: data key must be %d bytes, got %d", keySize, len(dek))
	}
	kek, ok := k.keys[k.active]
	if !ok {
		return "", nil, fmt.Errorf("%w: keyring has no active key", ErrUnknownKeyVersion)
	}
	wrapped, err = Seal(kek, dek, wrapAD(k.active, owner))
	return k.active, wrapped, err
}

// Unwrap opens a data key that Wrap sealed with version for owner. It
// fails with ErrUnknownKeyVersion when version is not in the keyring and
// with ErrDecrypt when wrapped does not authenticate (tampered, wrong
// owner or version).
func (k *Keyring) Unwrap(version string, wrapped []byte, owner string) ([]byte, error) {
	kek, ok := k.keys[version]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownKeyVersion, safeVersion(version))
	}
	return Open(kek, wrapped, wrapAD(version, owner))
}
