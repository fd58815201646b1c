package vault

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// signingKeyFileName is the federation signing key file inside the data dir.
const signingKeyFileName = "signing.key"

// signingKeyIDRE is the shape of a key id: the algorithm and a name made
// of the characters Matrix allows in key ids.
var signingKeyIDRE = regexp.MustCompile(`^ed25519:[A-Za-z0-9_]{1,64}$`)

// SigningKey is a server's ed25519 federation signing key with its key id
// ("ed25519:<name>"). Printing it shows only the key id.
type SigningKey struct {
	id   string
	priv ed25519.PrivateKey
}

// OldVerifyKey is a retired signing key's public half, published under
// old_verify_keys so that signatures made before ExpiredTS still check.
type OldVerifyKey struct {
	ID        string
	Public    ed25519.PublicKey
	ExpiredTS int64 // milliseconds since the epoch
}

// SigningKeys is the active signing key and the retired ones. It is
// immutable (Rotate returns a new value), so safe to share and swap.
type SigningKeys struct {
	active *SigningKey
	old    []OldVerifyKey
}

// GenerateSigningKey makes a new key; name "" picks a random one.
func GenerateSigningKey(name string) (*SigningKey, error) {
	if name == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		name = "ct" + hex.EncodeToString(b[:])
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("vault: generate signing key: %w", err)
	}
	return newSigningKey("ed25519:"+name, priv.Seed())
}

// SigningKeyFromSeed builds a key from its 32-byte seed (tests, the
// worked example of docs/FEDERATION.md, and key files).
func SigningKeyFromSeed(id string, seed []byte) (*SigningKey, error) {
	return newSigningKey(id, seed)
}

func newSigningKey(id string, seed []byte) (*SigningKey, error) {
	if !signingKeyIDRE.MatchString(id) {
		return nil, errors.New("vault: signing key id must be ed25519:<1-64 of A-Z a-z 0-9 _>")
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("vault: signing key %s: seed of %d bytes, want %d", id, len(seed), ed25519.SeedSize)
	}
	return &SigningKey{id: id, priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// ID is the key id, "ed25519:<name>".
func (k *SigningKey) ID() string { return k.id }

// Public is the verify key.
func (k *SigningKey) Public() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

// PublicBase64 is the verify key in unpadded standard base64, as the key
// document publishes it.
func (k *SigningKey) PublicBase64() string { return base64.RawStdEncoding.EncodeToString(k.Public()) }

// Sign signs msg (already canonical bytes).
func (k *SigningKey) Sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

// String is redacted: only the key id.
func (k *SigningKey) String() string {
	if k == nil {
		return "signingkey(nil)"
	}
	return "signingkey{" + k.id + "}"
}

// Format makes every fmt verb print String, so no formatting dumps the seed.
func (k *SigningKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue makes slog print String.
func (k *SigningKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// NewSigningKeys holds one active key and no retired ones.
func NewSigningKeys(active *SigningKey) *SigningKeys { return &SigningKeys{active: active} }

// Active is the key that signs.
func (s *SigningKeys) Active() *SigningKey { return s.active }

// Old lists the retired keys, oldest first.
func (s *SigningKeys) Old() []OldVerifyKey { return append([]OldVerifyKey(nil), s.old...) }

// Rotate returns a new set whose active key is next and whose old keys
// include the current active key, expired at now; s is unchanged.
func (s *SigningKeys) Rotate(next *SigningKey, now time.Time) (*SigningKeys, error) {
	if next.id == s.active.id || s.hasOld(next.id) {
		return nil, fmt.Errorf("vault: signing key %s was used before; pick a new name", next.id)
	}
	old := append(s.Old(), OldVerifyKey{ID: s.active.id, Public: s.active.Public(), ExpiredTS: now.UnixMilli()})
	return &SigningKeys{active: next, old: old}, nil
}

func (s *SigningKeys) hasOld(id string) bool {
	for _, o := range s.old {
		if o.ID == id {
			return true
		}
	}
	return false
}

// String is redacted: the key ids, the active one starred.
func (s *SigningKeys) String() string {
	parts := []string{s.active.id + "*"}
	for _, o := range s.old {
		parts = append(parts, o.ID)
	}
	return "signingkeys{" + strings.Join(parts, ",") + "}"
}

// Format makes every fmt verb print String.
func (s *SigningKeys) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue makes slog print String.
func (s *SigningKeys) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Text serialises the set in the format ParseSigningKeys reads. The result
// is SECRET: it holds the active key's seed.
//
//	ed25519 <name> <unpadded base64 seed>              (one line: the active key)
//	old ed25519:<name> <unpadded base64 public key> <expired_ts ms>   (any number)
//
// The first line is the format of Synapse's and Dendrite's signing.key, so
// a key can be moved between them.
func (s *SigningKeys) Text() string {
	var b strings.Builder
	b.WriteString("# Crypt-Talk federation signing key. SECRET: every node of this server shares it.\n")
	name := strings.TrimPrefix(s.active.id, "ed25519:")
	fmt.Fprintf(&b, "ed25519 %s %s\n", name, base64.RawStdEncoding.EncodeToString(s.active.priv.Seed()))
	for _, o := range s.old {
		fmt.Fprintf(&b, "old %s %s %d\n", o.ID, base64.RawStdEncoding.EncodeToString(o.Public), o.ExpiredTS)
	}
	return b.String()
}

// ParseSigningKeys reads the Text format (from config, a secret file or
// the data dir). Blank lines and "#" comments are ignored. Errors give
// line numbers, never line contents, as a line may hold the seed.
func ParseSigningKeys(text string) (*SigningKeys, error) {
	s := &SigningKeys{}
	for i, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || strings.HasPrefix(f[0], "#"):
		case f[0] == "ed25519" && len(f) == 3:
			if s.active != nil {
				return nil, fmt.Errorf("vault: signing key line %d: a second active key; retire it as an \"old\" line", i+1)
			}
			seed, err := decodeB64(f[2], ed25519.SeedSize)
			if err != nil {
				return nil, fmt.Errorf("vault: signing key line %d: seed %w", i+1, err)
			}
			if s.active, err = newSigningKey("ed25519:"+f[1], seed); err != nil {
				return nil, fmt.Errorf("line %d: %w", i+1, err)
			}
		case f[0] == "old" && len(f) == 4:
			pub, err := decodeB64(f[2], ed25519.PublicKeySize)
			if err != nil {
				return nil, fmt.Errorf("vault: signing key line %d: public key %w", i+1, err)
			}
			ts, err := strconv.ParseInt(f[3], 10, 64)
			if err != nil || ts <= 0 {
				return nil, fmt.Errorf("vault: signing key line %d: expired_ts must be milliseconds since the epoch", i+1)
			}
			if !signingKeyIDRE.MatchString(f[1]) || s.hasOld(f[1]) {
				return nil, fmt.Errorf("vault: signing key line %d: bad or repeated old key id", i+1)
			}
			s.old = append(s.old, OldVerifyKey{ID: f[1], Public: pub, ExpiredTS: ts})
		default:
			return nil, fmt.Errorf("vault: signing key line %d: want \"ed25519 <name> <base64 seed>\" or \"old ed25519:<name> <base64 key> <expired_ts>\"", i+1)
		}
	}
	if s.active == nil {
		return nil, errors.New("vault: no active signing key (a line \"ed25519 <name> <base64 seed>\")")
	}
	if s.hasOld(s.active.id) {
		return nil, fmt.Errorf("vault: signing key %s is both active and old", s.active.id)
	}
	return s, nil
}

// decodeB64 decodes standard base64, padded or not, of exactly n bytes.
func decodeB64(s string, n int) ([]byte, error) {
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, errors.New("is not valid standard base64")
	}
	if len(b) != n {
		return nil, fmt.Errorf("decodes to %d bytes, want %d", len(b), n)
	}
	return b, nil
}

// LoadSigningKeysFile reads a key file (a secret file named in config).
// It is refused if others may read it or its group may write it; group
// read stays allowed because a Kubernetes Secret volume read by a
// non-root pod is root:fsGroup 0440.
func LoadSigningKeysFile(path string) (*SigningKeys, error) {
	return loadSigningKeysFile(path, mountedSecretMode)
}

// loadSigningKeysFile reads the key file at path, refused if its mode has
// any bit of refused.
func loadSigningKeysFile(path string, refused fs.FileMode) (*SigningKeys, error) {
	body, err := readSecretFile(path, refused)
	if err != nil {
		return nil, err
	}
	s, err := ParseSigningKeys(string(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// LoadOrCreateSigningKeys reads <dir>/signing.key, or on a first start
// creates it (mode 0600, dir 0700) with a new random key and reports
// created. Two processes starting at once agree on one key: the file is
// put in place with a link that fails if it exists, and the loser reads
// the winner's.
func LoadOrCreateSigningKeys(dir string) (keys *SigningKeys, created bool, err error) {
	path := filepath.Join(dir, signingKeyFileName)
	keys, err = loadSigningKeysFile(path, ownerOnlyMode)
	if !errors.Is(err, fs.ErrNotExist) {
		return keys, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("vault: create key dir: %w", err)
	}
	k, err := GenerateSigningKey("")
	if err != nil {
		return nil, false, err
	}
	keys = NewSigningKeys(k)
	err = writeSecretFile(path, keys.Text(), false)
	if errors.Is(err, fs.ErrExist) {
		keys, err = loadSigningKeysFile(path, ownerOnlyMode)
		return keys, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return keys, true, nil
}

// WriteFile atomically replaces the key file at path (after Rotate), mode
// 0600. The file is SECRET.
func (s *SigningKeys) WriteFile(path string) error {
	return writeSecretFile(path, s.Text(), true)
}

// Mode bits that make a secret file refused: files this process wrote
// into the data dir are the owner's alone; a file mounted for it may also
// be read by its group.
const (
	ownerOnlyMode     fs.FileMode = 0o077
	mountedSecretMode fs.FileMode = 0o027
)

// readSecretFile reads a small regular file whose mode has no bit of
// refused, checked on the open file so nothing can swap it in between.
func readSecretFile(path string, refused fs.FileMode) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	defer f.Close()
	st, err := f.Stat() // the open file's mode, not the path's: no swap between check and read
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("vault: %s is not a regular file", path)
	}
	// Windows has no such mode bits; its ACLs are the admin's business.
	if perm := st.Mode().Perm(); perm&refused != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("vault: %s is open to group or others (mode %04o); run chmod 600 on it", path, perm)
	}
	body, err := io.ReadAll(io.LimitReader(f, maxKeyFile))
	if err != nil {
		return nil, fmt.Errorf("vault: read %s: %w", path, err)
	}
	return body, nil
}

// writeSecretFile writes body to a temporary file that is 0600 from the
// start, syncs it and moves it into place: by rename when replace, else by
// link, which fails with fs.ErrExist rather than overwrite a key that
// another process just created.
func writeSecretFile(path, body string, replace bool) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("vault: write key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("vault: write key file: %w", err)
	}
	if replace {
		err = os.Rename(tmp.Name(), path)
	} else {
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("vault: write key file: %w", err)
	}
	return syncDir(dir)
}
