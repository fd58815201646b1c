package server

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// appendTextFrame's headers follow RFC 6455 5.2 at each length boundary.
func TestAppendTextFrame(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		p := bytes.Repeat([]byte{'x'}, n)
		b := appendTextFrame([]byte("prefix"), p)
		b = b[len("prefix"):]
		if b[0] != 0x81 {
			t.Fatalf("len %d: first byte %#x, want FIN+text", n, b[0])
		}
		var got, hdr int
		switch l := int(b[1]); {
		case l&0x80 != 0:
			t.Fatalf("len %d: masked server frame", n)
		case l < 126:
			got, hdr = l, 2
		case l == 126:
			got, hdr = int(binary.BigEndian.Uint16(b[2:])), 4
		default:
			got, hdr = int(binary.BigEndian.Uint64(b[2:])), 10
		}
		if got != n || len(b) != hdr+n || (n < 126) != (hdr == 2) || (n >= 126 && n <= 0xffff) != (hdr == 4) {
			t.Fatalf("len %d: header says %d, header %d bytes, frame %d bytes", n, got, hdr, len(b))
		}
	}
}
