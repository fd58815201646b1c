package media

import (
	"encoding/binary"
	"time"
)

// mp4Meter walks the top-level boxes, descends into moov and reads the
// movie header (mvhd): duration over timescale. Boxes it does not need,
// mdat included, are skipped by size, so a moov after the media costs nothing.
type mp4Meter struct {
	feeder
	stage     int
	boxType   string
	timescale uint64
	duration  uint64
}

const (
	mp4Header = iota
	mp4LargeSize
	mp4MovieHeader
)

// mp4MvhdLen covers version 1 of mvhd up to its 64-bit duration.
const mp4MvhdLen = 32

func newMP4Meter() *mp4Meter {
	m := &mp4Meter{}
	m.feeder = feeder{next: m.step, want: 8}
	return m
}

func (m *mp4Meter) step(b []byte) (int64, int) {
	switch m.stage {
	case mp4LargeSize:
		size := binary.BigEndian.Uint64(b)
		if size < 16 || size > 1<<62 {
			return 0, 0
		}
		return m.box(int64(size) - 16)
	case mp4MovieHeader:
		m.readMvhd(b)
		return 0, 0
	}
	size := binary.BigEndian.Uint32(b[0:4])
	m.boxType = string(b[4:8])
	switch {
	case size == 1:
		m.stage = mp4LargeSize
		return 0, 8
	case size == 0:
		return m.box(-1)
	case size < 8:
		return 0, 0
	}
	return m.box(int64(size) - 8)
}

// box decides what to do with a box whose header was just read; payload
// is the size after the header, -1 when the box runs to the end.
func (m *mp4Meter) box(payload int64) (int64, int) {
	m.stage = mp4Header
	switch m.boxType {
	case "moov":
		return 0, 8 // descend: its children follow
	case "mvhd":
		if payload < 20 {
			return 0, 0
		}
		m.stage = mp4MovieHeader
		return 0, int(min(payload, mp4MvhdLen))
	}
	if payload < 0 {
		return 0, 0 // runs to the end of the stream: nothing after it
	}
	return payload, 8
}

// readMvhd reads version 0 (32-bit times) or 1 (64-bit times) of mvhd.
func (m *mp4Meter) readMvhd(b []byte) {
	switch {
	case b[0] == 0:
		m.timescale = uint64(binary.BigEndian.Uint32(b[12:16]))
		m.duration = uint64(binary.BigEndian.Uint32(b[16:20]))
		if m.duration == 0xFFFFFFFF {
			m.duration = 0 // "unknown", as fragmented recordings write
		}
	case b[0] == 1 && len(b) >= mp4MvhdLen:
		m.timescale = uint64(binary.BigEndian.Uint32(b[20:24]))
		m.duration = binary.BigEndian.Uint64(b[24:32])
		if m.duration == ^uint64(0) {
			m.duration = 0
		}
	}
}

// Duration is known when a movie header gave a non-zero duration.
func (m *mp4Meter) Duration() (time.Duration, bool) {
	if m.duration == 0 {
		return 0, false
	}
	return durationOf(m.duration, m.timescale)
}
