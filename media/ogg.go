package media

import (
	"bytes"
	"encoding/binary"
	"time"
)

// oggHeaderLen is the fixed part of an Ogg page header, before the segment table.
const oggHeaderLen = 27

// oggIDLen covers the fields read from a codec's identification header:
// Opus pre-skip (offset 10) and Vorbis sample rate (offset 12).
const oggIDLen = 16

// opusRate is the rate of Opus granule positions, whatever the input rate.
const opusRate = 48000

// oggMeter measures an Ogg stream from the granule position of the last page
// of its first logical stream, the codec rate and, for Opus, the pre-skip.
type oggMeter struct {
	feeder
	stage    int
	pages    int64  // page headers read
	serial   uint32 // the measured logical stream: that of the first page
	last     uint64 // last valid granule of the measured stream
	seen     bool   // last holds a value
	rate     uint64
	preSkip  uint64
	corrupt  bool
	pageBody int64
}

const (
	oggPage = iota
	oggSegments
	oggIDHeader
)

func newOggMeter() *oggMeter {
	m := &oggMeter{}
	m.feeder = feeder{next: m.step, want: oggHeaderLen}
	return m
}

func (m *oggMeter) step(b []byte) (int64, int) {
	switch m.stage {
	case oggSegments:
		m.pageBody = 0
		for _, s := range b {
			m.pageBody += int64(s)
		}
		m.stage = oggPage
		if m.pages == 1 && m.pageBody >= oggIDLen { // the identification header
			m.stage = oggIDHeader
			return 0, oggIDLen
		}
		return m.pageBody, oggHeaderLen
	case oggIDHeader:
		m.readIDHeader(b)
		m.stage = oggPage
		return m.pageBody - oggIDLen, oggHeaderLen
	}
	return m.readPage(b)
}

// readPage reads a page header and asks for its segment table.
func (m *oggMeter) readPage(b []byte) (int64, int) {
	if string(b[0:4]) != "OggS" || b[4] != 0 {
		m.corrupt = true
		return 0, 0
	}
	serial := binary.LittleEndian.Uint32(b[14:18])
	if m.pages++; m.pages == 1 {
		m.serial = serial
	}
	// A granule of -1 marks a page on which no packet ends.
	if g := binary.LittleEndian.Uint64(b[6:14]); serial == m.serial && g != ^uint64(0) {
		m.last, m.seen = g, true
	}
	m.stage = oggSegments
	if b[26] == 0 {
		m.stage = oggPage
		return 0, oggHeaderLen
	}
	return 0, int(b[26])
}

// readIDHeader takes the rate (and pre-skip) from the first packet.
func (m *oggMeter) readIDHeader(b []byte) {
	switch {
	case bytes.HasPrefix(b, []byte("OpusHead")):
		m.rate = opusRate
		m.preSkip = uint64(binary.LittleEndian.Uint16(b[10:12]))
	case bytes.HasPrefix(b, []byte("\x01vorbis")):
		m.rate = uint64(binary.LittleEndian.Uint32(b[12:16]))
	}
}

// Duration is known for Opus and Vorbis streams that parsed to the end.
func (m *oggMeter) Duration() (time.Duration, bool) {
	if m.corrupt || !m.seen || m.rate == 0 {
		return 0, false
	}
	return durationOf(m.last-min(m.last, m.preSkip), m.rate)
}
