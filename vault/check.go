package vault

import (
	"crypto/subtle"
	"fmt"
)

// checkPlain is the known value a key check seals. It need not be secret:
// XChaCha20-Poly1305 stays secure under known plaintext, and what the check
// proves is only that a key authenticates it.
var checkPlain = []byte("crypttalk master key check v1")

// checkAD binds a key check to its version, so the check of one version
// never opens as another's (and never as a wrapped key: another label).
func checkAD(version string) []byte { return []byte("ct-keycheck\x00" + version) }

// SealCheck seals the known check value under master key version. Stored
// beside the data, it lets a node tell at start whether its key of that
// version is the one the data was written with (OpenCheck), instead of
// finding out from every read failing.
func (k *Keyring) SealCheck(version string) ([]byte, error) {
	kek, ok := k.keys[version]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownKeyVersion, safeVersion(version))
	}
	return Seal(kek, checkPlain, checkAD(version))
}

// OpenCheck reports whether sealed is a check SealCheck made with this
// keyring's key of version: nil if so, ErrDecrypt when the key differs (or
// sealed was tampered with), ErrUnknownKeyVersion when the keyring has no
// such version.
func (k *Keyring) OpenCheck(version string, sealed []byte) error {
	kek, ok := k.keys[version]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownKeyVersion, safeVersion(version))
	}
	plain, err := Open(kek, sealed, checkAD(version))
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(plain, checkPlain) != 1 {
		return ErrDecrypt
	}
	return nil
}
