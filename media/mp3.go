package media

import (
	"bytes"
	"time"
)

// mp3Frame is what a valid MPEG audio Layer III frame header tells.
type mp3Frame struct {
	version byte // 0 = MPEG 2.5, 2 = MPEG 2, 3 = MPEG 1
	rate    uint64
	samples uint64 // per frame
	size    int64  // bytes, header included
}

// Layer III bitrates in kbit/s by bitrate index (0 = free format, unsupported).
var (
	mp3Bitrates1 = [15]uint64{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}
	mp3Bitrates2 = [15]uint64{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}
	mp3Rates     = [4][3]uint64{{11025, 12000, 8000}, {}, {22050, 24000, 16000}, {44100, 48000, 32000}}
)

// parseMP3Frame decodes a 4-byte MPEG-1/2/2.5 Layer III frame header. Other
// layers, free format and reserved values are refused: they are either not
// MP3 or too rare in voice recordings to be worth a false sync.
func parseMP3Frame(h []byte) (mp3Frame, bool) {
	if len(h) < 4 || h[0] != 0xFF || h[1]&0xE0 != 0xE0 {
		return mp3Frame{}, false
	}
	version, layer := (h[1]>>3)&3, (h[1]>>1)&3
	brIdx, rateIdx, pad := h[2]>>4, (h[2]>>2)&3, int64((h[2]>>1)&1)
	if version == 1 || layer != 1 || brIdx == 0 || brIdx == 15 || rateIdx == 3 || h[3]&3 == 2 {
		return mp3Frame{}, false
	}
	f := mp3Frame{version: version, rate: mp3Rates[version][rateIdx], samples: 576}
	kbps, coef := mp3Bitrates2[brIdx], uint64(72)
	if version == 3 {
		kbps, coef, f.samples = mp3Bitrates1[brIdx], 144, 1152
	}
	f.size = int64(coef*kbps*1000/f.rate) + pad
	return f, true
}

// id3Len returns the full length of an ID3v2 tag starting at h, or false.
func id3Len(h []byte) (int64, bool) {
	if len(h) < 10 || !bytes.HasPrefix(h, []byte("ID3")) || h[3] < 2 || h[3] > 4 || h[4] == 0xFF {
		return 0, false
	}
	var size int64
	for _, b := range h[6:10] {
		if b >= 0x80 { // sizes are "syncsafe": 7 bits per byte
			return 0, false
		}
		size = size<<7 | int64(b)
	}
	if h[5]&0x10 != 0 {
		size += 10 // footer
	}
	return 10 + size, true
}

// sniffMP3 accepts an ID3v2 tag, followed by a frame header when the tag
// ends within head, or a frame header at offset 0 followed by a second
// matching one when the first frame ends within head.
func sniffMP3(h []byte) string {
	start := int64(0)
	if n, ok := id3Len(h); ok {
		if n+4 > int64(len(h)) {
			return MimeMP3 // the tag (cover art) runs past what we were shown
		}
		start = n
	}
	f, ok := parseMP3Frame(h[start:])
	if !ok {
		return ""
	}
	if next := start + f.size; next+4 <= int64(len(h)) {
		g, ok := parseMP3Frame(h[next:])
		if !ok || g.version != f.version || g.rate != f.rate {
			return ""
		}
	}
	return MimeMP3
}

// mp3Meter counts the Layer III frames that follow an optional ID3v2 tag,
// stopping at the first byte that is not a frame of the same stream (an
// ID3v1 or APE tag at the end, or garbage). A Xing/Info frame counts as one
// frame of silence: 26 ms at most.
type mp3Meter struct {
	feeder
	started bool
	first   mp3Frame
	frames  uint64
}

// mp3StartLen holds an ID3v2 header or a frame header.
const mp3StartLen = 10

func newMP3Meter() *mp3Meter {
	m := &mp3Meter{}
	m.feeder = feeder{next: m.step, want: mp3StartLen}
	return m
}

func (m *mp3Meter) step(b []byte) (int64, int) {
	if !m.started {
		m.started = true
		if n, ok := id3Len(b); ok {
			return n - mp3StartLen, 4
		}
	}
	f, ok := parseMP3Frame(b)
	if !ok || (m.frames > 0 && (f.version != m.first.version || f.rate != m.first.rate)) {
		return 0, 0
	}
	if m.frames == 0 {
		m.first = f
	}
	m.frames++
	return f.size - int64(len(b)), 4
}

// Duration is known once one frame was seen.
func (m *mp3Meter) Duration() (time.Duration, bool) {
	if m.frames == 0 {
		return 0, false
	}
	return durationOf(m.frames*m.first.samples, m.first.rate)
}
