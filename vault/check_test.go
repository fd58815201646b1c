package vault

import (
	"errors"
	"testing"
)

func TestKeyCheck(t *testing.T) {
	t.Parallel()
	a := mustRing(t, "v1:"+b64key(1)+",v2:"+b64key(2), "")
	c1, err := a.SealCheck("v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.OpenCheck("v1", c1); err != nil {
		t.Fatalf("own check: %v", err)
	}
	// Same label, another key: the case a node must refuse to start on.
	wrong := mustRing(t, "v1:"+b64key(9), "")
	if err := wrong.OpenCheck("v1", c1); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong key: %v, want ErrDecrypt", err)
	}
	// A check is bound to its version: v1's check does not pass for v2
	// even under the same key bytes.
	same := mustRing(t, "v2:"+b64key(1), "")
	if err := same.OpenCheck("v2", c1); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("check moved to another version: %v", err)
	}
	if err := a.OpenCheck("v3", c1); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Fatalf("unknown version: %v", err)
	}
	if _, err := a.SealCheck("v3"); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Fatalf("seal unknown version: %v", err)
	}
	// A wrapped data key is not a check, and a check is not a wrapped key.
	_, wrapped, _ := a.Wrap(NewDataKey(), "ct-keycheck")
	if err := a.OpenCheck("v2", wrapped); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrapped key opened as a check: %v", err)
	}
	if _, err := a.Unwrap("v1", c1, ""); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("check unwrapped as a key: %v", err)
	}
	c1[len(c1)-1] ^= 1
	if err := a.OpenCheck("v1", c1); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered check: %v", err)
	}
}
