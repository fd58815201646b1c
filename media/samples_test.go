package media_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

// Builders of minimal, valid byte samples for every accepted format. They
// take t so a broken builder fails the test that uses it.

func le16(v int) []byte { return binary.LittleEndian.AppendUint16(nil, uint16(v)) }
func le32(v int) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }
func be32(v int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func pngSample() []byte {
	ihdr := cat(be32(1), be32(1), []byte{8, 6, 0, 0, 0})
	return cat([]byte("\x89PNG\r\n\x1a\n"), be32(len(ihdr)), []byte("IHDR"), ihdr, be32(0),
		be32(0), []byte("IEND"), be32(0xAE426082))
}

func jpegSample() []byte {
	return cat([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16}, []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
		[]byte{0xFF, 0xD9})
}

func gifSample() []byte {
	return cat([]byte("GIF89a"), le16(1), le16(1), []byte{0, 0, 0, ';'})
}

func webpSample() []byte {
	body := cat([]byte("WEBP"), []byte("VP8L"), le32(5), []byte{0x2F, 0, 0, 0, 0, 0})
	return cat([]byte("RIFF"), le32(len(body)), body)
}

func pdfSample() []byte {
	return []byte("%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
}

// wavSample is PCM audio of the given length in bytes of sound data, with
// an odd-sized LIST chunk before the data to exercise chunk padding.
// declared overrides the data chunk's size field when not -1.
func wavSample(rate, channels, bitsPerSample, dataBytes, declared int) []byte {
	align := channels * bitsPerSample / 8
	fmtBody := cat(le16(1), le16(channels), le32(rate), le32(rate*align), le16(align), le16(bitsPerSample))
	if declared == -1 {
		declared = dataBytes
	}
	chunks := cat([]byte("WAVE"), []byte("fmt "), le32(len(fmtBody)), fmtBody,
		[]byte("LIST"), le32(5), []byte("INFOx\x00"),
		[]byte("data"), le32(declared), make([]byte, dataBytes))
	return cat([]byte("RIFF"), le32(len(chunks)), chunks)
}

// oggCRC is the Ogg page checksum: CRC-32, polynomial 0x04C11DB7, unreflected.
func oggCRC(b []byte) uint32 {
	var crc uint32
	for _, c := range b {
		crc ^= uint32(c) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04C11DB7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// oggPage builds one page holding one packet (body), lacing included.
func oggPage(flags byte, granule uint64, serial, seq int, body []byte) []byte {
	var lacing []byte
	n := len(body)
	for ; n >= 255; n -= 255 {
		lacing = append(lacing, 255)
	}
	lacing = append(lacing, byte(n))
	page := cat([]byte("OggS"), []byte{0, flags}, binary.LittleEndian.AppendUint64(nil, granule),
		le32(serial), le32(seq), le32(0), []byte{byte(len(lacing))}, lacing, body)
	binary.LittleEndian.PutUint32(page[22:26], oggCRC(page))
	return page
}

// opusSample is an Ogg Opus stream whose audio pages end at granules; the
// duration is (last granule - preSkip) / 48000.
func opusSample(preSkip int, granules ...uint64) []byte {
	const serial = 0x1234
	head := cat([]byte("OpusHead"), []byte{1, 1}, le16(preSkip), le32(48000), le16(0), []byte{0})
	tags := cat([]byte("OpusTags"), le32(4), []byte("test"), le32(0))
	out := cat(oggPage(0x02, 0, serial, 0, head), oggPage(0, 0, serial, 1, tags))
	for i, g := range granules {
		flags := byte(0)
		if i == len(granules)-1 {
			flags = 0x04
		}
		out = append(out, oggPage(flags, g, serial, i+2, bytes.Repeat([]byte{0xA5}, 300))...)
	}
	return out
}

func vorbisSample(rate int, lastGranule uint64) []byte {
	id := cat([]byte("\x01vorbis"), le32(0), []byte{2}, le32(rate), le32(0), le32(128000),
		le32(0), []byte{0xB8, 1})
	return cat(oggPage(0x02, 0, 7, 0, id), oggPage(0x04, lastGranule, 7, 1, make([]byte, 40)))
}

// mp3Frame is a silent MPEG-1 Layer III frame, 128 kbit/s, 44.1 kHz: 417 bytes.
func mp3Frame() []byte {
	f := make([]byte, 144*128000/44100)
	copy(f, []byte{0xFF, 0xFB, 0x90, 0x00})
	return f
}

// mp3Sample is frames CBR frames, after an ID3v2 tag when id3 is set.
func mp3Sample(frames int, id3 bool) []byte {
	var out []byte
	if id3 {
		tag := cat([]byte("TIT2"), be32(6), []byte{0, 0, 3}, []byte("hi!\x00\x00"))
		out = cat([]byte("ID3\x04\x00\x00"), []byte{0, 0, byte(len(tag) >> 7), byte(len(tag) & 0x7F)}, tag)
	}
	return append(out, bytes.Repeat(mp3Frame(), frames)...)
}

// ebml builds one EBML element with a 1-byte (or 8-byte "unknown") size.
func ebml(id []byte, body []byte) []byte {
	if body == nil {
		return cat(id, []byte{0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	}
	return cat(id, []byte{0x80 | byte(len(body))}, body)
}

// webmSample is a WebM file; durationMS < 0 leaves Duration out, as live
// recorders do; f32 stores it as a 4-byte float.
func webmSample(docType string, durationMS float64, f32 bool) []byte {
	header := ebml([]byte{0x1A, 0x45, 0xDF, 0xA3}, ebml([]byte{0x42, 0x82}, []byte(docType)))
	info := ebml([]byte{0x2A, 0xD7, 0xB1}, []byte{0x0F, 0x42, 0x40}) // TimecodeScale 1e6
	if durationMS >= 0 {
		v := binary.BigEndian.AppendUint64(nil, math.Float64bits(durationMS))
		if f32 {
			v = be32(int(math.Float32bits(float32(durationMS))))
		}
		info = append(info, ebml([]byte{0x44, 0x89}, v)...)
	}
	segment := cat(ebml([]byte{0xEC}, make([]byte, 10)), // Void
		ebml([]byte{0x15, 0x49, 0xA9, 0x66}, info),
		ebml([]byte{0x1F, 0x43, 0xB6, 0x75}, nil), make([]byte, 500)) // Cluster, unknown size
	return cat(header, []byte{0x18, 0x53, 0x80, 0x67}, []byte{0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, segment)
}

func box(typ string, body ...[]byte) []byte {
	b := cat(body...)
	return cat(be32(8+len(b)), []byte(typ), b)
}

// m4aSample is an M4A file with a version 0 or 1 mvhd; moovLast puts the
// movie box after the media data, as recorders without "faststart" do.
func m4aSample(version byte, timescale, duration int, moovLast bool) []byte {
	ftyp := box("ftyp", []byte("M4A "), be32(0), []byte("M4A mp42isom"))
	mvhd := cat([]byte{0, 0, 0, 0}, be32(0), be32(0), be32(timescale), be32(duration), make([]byte, 80))
	if version == 1 {
		mvhd = cat([]byte{1, 0, 0, 0}, make([]byte, 16), be32(timescale),
			binary.BigEndian.AppendUint64(nil, uint64(duration)), make([]byte, 80))
	}
	moov := box("moov", box("mvhd", mvhd), box("trak", make([]byte, 64)))
	mdat := box("mdat", bytes.Repeat([]byte{0x21}, 2000))
	if moovLast {
		return cat(ftyp, mdat, moov)
	}
	return cat(ftyp, moov, mdat)
}

func mustEqual[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
