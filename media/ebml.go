package media

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"time"
)

// EBML element ids (marker bits kept, as the specification writes them).
const (
	ebmlHeaderID    = 0x1A45DFA3
	ebmlDocTypeID   = 0x4282
	webmSegmentID   = 0x18538067
	webmInfoID      = 0x1549A966
	webmScaleID     = 0x2AD7B1
	webmDurationID  = 0x4489
	webmClusterID   = 0x1F43B675
	webmMaxIDLen    = 4
	webmDefaultUnit = 1_000_000 // ns per timestamp tick when TimecodeScale is absent
)

// vintLen is the length of an EBML variable-size integer from its first
// byte: 1 to 8, or 0 for the invalid 0x00.
func vintLen(first byte) int {
	if first == 0 {
		return 0
	}
	return bits.LeadingZeros8(first) + 1
}

// readVint decodes a variable-size integer at the start of b, keeping the
// length marker for element ids and stripping it for sizes.
func readVint(b []byte, keepMarker bool) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	n = vintLen(b[0])
	if n == 0 || n > len(b) {
		return 0, 0, false
	}
	v = uint64(b[0])
	if !keepMarker {
		v &= 0xFF >> n
	}
	for _, c := range b[1:n] {
		v = v<<8 | uint64(c)
	}
	return v, n, true
}

// sniffWebM wants the EBML header with a DocType of webm or matroska. The
// header is a few dozen bytes, so it is always within head when valid.
func sniffWebM(h []byte) string {
	id, n, ok := readVint(h, true)
	if !ok || id != ebmlHeaderID {
		return ""
	}
	size, k, ok := readVint(h[n:], false)
	if !ok {
		return ""
	}
	body := h[n+k:]
	body = body[:min(uint64(len(body)), size)]
	for len(body) > 0 {
		id, n, ok := readVint(body, true)
		if !ok {
			return ""
		}
		size, k, ok := readVint(body[n:], false)
		if !ok || size > uint64(len(body)-n-k) {
			return ""
		}
		value := body[n+k : n+k+int(size)]
		if id == ebmlDocTypeID {
			if v := string(bytes.TrimRight(value, "\x00")); v == "webm" || v == "matroska" {
				return MimeWebM
			}
			return ""
		}
		body = body[n+k+int(size):]
	}
	return ""
}

// webmMeter reads Segment > Info > TimecodeScale and Duration. It reads
// element headers a byte at a time (they are at most 12 bytes) and skips
// every element it does not descend into, stopping at the first Cluster:
// a muxer that knew the duration wrote it before the media.
type webmMeter struct {
	feeder
	stage  int
	id     uint64
	size   uint64
	length int // of the size vint, to recognise "unknown size"
	scale  uint64
	dur    float64
}

const (
	webmID = iota
	webmIDRest
	webmSize
	webmSizeRest
	webmValue
)

func newWebMMeter() *webmMeter {
	m := &webmMeter{scale: webmDefaultUnit}
	m.feeder = feeder{next: m.step, want: 1}
	return m
}

func (m *webmMeter) step(b []byte) (int64, int) {
	switch m.stage {
	case webmID:
		n := vintLen(b[0])
		if n == 0 || n > webmMaxIDLen {
			return 0, 0
		}
		m.id, m.stage = uint64(b[0]), webmSize
		if n > 1 {
			m.stage = webmIDRest
			return 0, n - 1
		}
		return 0, 1
	case webmIDRest:
		for _, c := range b {
			m.id = m.id<<8 | uint64(c)
		}
		m.stage = webmSize
		return 0, 1
	case webmSize:
		m.length = vintLen(b[0])
		if m.length == 0 {
			return 0, 0
		}
		m.size = uint64(b[0]) & (0xFF >> m.length)
		if m.length > 1 {
			m.stage = webmSizeRest
			return 0, m.length - 1
		}
		return m.element()
	case webmSizeRest:
		for _, c := range b {
			m.size = m.size<<8 | uint64(c)
		}
		return m.element()
	}
	m.readValue(b)
	m.stage = webmID
	return 0, 1
}

// element decides what to do with an element whose header was just read.
func (m *webmMeter) element() (int64, int) {
	unknown := m.size == 1<<(7*m.length)-1
	m.stage = webmID
	switch m.id {
	case webmSegmentID, webmInfoID:
		return 0, 1 // descend: the children follow
	case webmScaleID, webmDurationID:
		if unknown || m.size == 0 || m.size > 8 {
			return 0, 0
		}
		m.stage = webmValue
		return 0, int(m.size)
	case webmClusterID:
		return 0, 0
	}
	if unknown { // an element without a size cannot be skipped
		return 0, 0
	}
	return int64(m.size), 1
}

func (m *webmMeter) readValue(b []byte) {
	if m.id == webmDurationID {
		switch len(b) {
		case 4:
			m.dur = float64(math.Float32frombits(binary.BigEndian.Uint32(b)))
		case 8:
			m.dur = math.Float64frombits(binary.BigEndian.Uint64(b))
		}
		return
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	if v > 0 {
		m.scale = v
	}
}

// Duration is known when the Info element carried a positive Duration.
func (m *webmMeter) Duration() (time.Duration, bool) {
	ns := m.dur * float64(m.scale)
	if !(ns > 0 && ns < math.MaxInt64/2) { // also refuses NaN
		return 0, false
	}
	return time.Duration(ns), true
}
