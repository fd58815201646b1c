package media

import (
	"encoding/binary"
	"time"
)

// wavMeter measures a RIFF WAVE stream: data bytes received over the byte
// rate of the fmt chunk.
type wavMeter struct {
	feeder
	stage     int
	chunkSize int64
	byteRate  uint64
	dataStart int64 // stream offset of the first data byte, -1 before it
	dataLen   int64 // declared data size, -1 when the writer did not know it
}

const (
	wavRIFF = iota
	wavChunk
	wavFmt
)

// wavFmtLen covers the fmt fields up to the byte rate and block align.
const wavFmtLen = 16

func newWAVMeter() *wavMeter {
	m := &wavMeter{dataStart: -1}
	m.feeder = feeder{next: m.step, want: 12}
	return m
}

func (m *wavMeter) step(b []byte) (int64, int) {
	switch m.stage {
	case wavRIFF:
		if string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
			return 0, 0
		}
		m.stage = wavChunk
		return 0, 8
	case wavFmt:
		m.byteRate = uint64(binary.LittleEndian.Uint32(b[8:12]))
		m.stage = wavChunk
		return m.chunkSize - wavFmtLen + m.chunkSize&1, 8
	}
	id, size := string(b[0:4]), int64(binary.LittleEndian.Uint32(b[4:8]))
	switch {
	case id == "data":
		// Recorders that stream write 0 or 0xFFFFFFFF when the size is not
		// yet known: then everything that follows is audio.
		m.dataStart, m.dataLen = m.off, size
		if size == 0 || size == 0xFFFFFFFF {
			m.dataLen = -1
		}
		return 0, 0
	case id == "fmt " && size >= wavFmtLen:
		m.stage, m.chunkSize = wavFmt, size
		return 0, wavFmtLen
	}
	return size + size&1, 8 // chunks are padded to an even length
}

// Duration is known once the fmt chunk and the start of the data chunk were
// seen; it counts only the data bytes that actually arrived.
func (m *wavMeter) Duration() (time.Duration, bool) {
	if m.dataStart < 0 || m.byteRate == 0 {
		return 0, false
	}
	got := m.off - m.dataStart
	if m.dataLen >= 0 {
		got = min(got, m.dataLen)
	}
	return durationOf(uint64(got), m.byteRate)
}
