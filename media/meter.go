package media

import (
	"io"
	"math/bits"
	"time"
)

// DurationMeter measures the playing time of a voice message from its
// plaintext as it streams past, for example through io.TeeReader or
// io.MultiWriter. It keeps only the few header bytes its parser needs, so
// memory stays constant whatever the length of the stream.
//
// Write never fails and always consumes everything: a stream the meter cannot
// follow (unknown format, corrupt or truncated container) only makes the
// duration unknown, it never aborts the upload it is teed from. Duration is
// meant to be called once the stream has ended; a meter is not safe for
// concurrent use.
type DurationMeter interface {
	io.Writer
	// Duration reports the measured duration, and whether the format and the
	// stream allowed one to be measured at all.
	Duration() (d time.Duration, known bool)
}

// NewDurationMeter returns a meter for a mime type answered by Sniff. WAV and
// MP3 are measured from the audio bytes actually received (data chunk size
// over byte rate; MPEG frame count), so a header that lies about its length
// cannot change the answer. Ogg (Opus, Vorbis) uses the last granule
// position of the first logical stream; WebM and MP4 use the duration stored
// in the container (Segment Info, mvhd), which browsers' live recorders often
// leave out: those, and every other mime type, report unknown.
func NewDurationMeter(mime string) DurationMeter {
	switch mime {
	case MimeWAV:
		return newWAVMeter()
	case MimeOgg:
		return newOggMeter()
	case MimeMP3:
		return newMP3Meter()
	case MimeWebM:
		return newWebMMeter()
	case MimeMP4:
		return newMP4Meter()
	}
	return unknownMeter{}
}

// unknownMeter discards the stream of a format with no measurable duration.
type unknownMeter struct{}

func (unknownMeter) Write(p []byte) (int, error)     { return len(p), nil }
func (unknownMeter) Duration() (time.Duration, bool) { return 0, false }

// maxFieldLen is the longest run of bytes any parser asks to see at once
// (an Ogg segment table).
const maxFieldLen = 255

// feeder turns a stream cut at arbitrary points into the calls a format
// parser wants: skip some bytes, then hand over the next want bytes in one
// piece. It is the only buffer a meter has.
type feeder struct {
	// next is given exactly the want bytes asked for last and answers how
	// many bytes to skip and how many to collect after them; want 0 ends the
	// parse (the rest of the stream is only counted).
	next func(b []byte) (skip int64, want int)

	buf  [maxFieldLen]byte
	have int
	want int
	skip int64
	off  int64 // stream bytes seen so far
}

// Write feeds p to the parser. It never fails: see DurationMeter.
func (f *feeder) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && f.want > 0 {
		if f.skip > 0 {
			k := int(min(f.skip, int64(len(p))))
			f.skip -= int64(k)
			f.off += int64(k)
			p = p[k:]
			continue
		}
		k := copy(f.buf[f.have:f.want], p)
		f.have += k
		f.off += int64(k)
		p = p[k:]
		if f.have == f.want {
			f.have = 0
			f.skip, f.want = f.next(f.buf[:f.want])
			if f.skip < 0 || f.want < 0 || f.want > maxFieldLen {
				f.want = 0 // a parser bug must not become a panic on user input
			}
		}
	}
	f.off += int64(len(p))
	return n, nil
}

// durationOf converts units at rate units per second, reporting false when
// the rate is zero or the result does not fit a time.Duration.
func durationOf(units, rate uint64) (time.Duration, bool) {
	if rate == 0 {
		return 0, false
	}
	secs, rem := units/rate, units%rate
	if secs > uint64(1<<63-1)/uint64(time.Second) {
		return 0, false
	}
	// rem < rate < 2^64, so the product needs 128 bits in the worst case.
	hi, lo := bits.Mul64(rem, uint64(time.Second))
	frac, _ := bits.Div64(hi, lo, rate)
	d := time.Duration(secs)*time.Second + time.Duration(frac)
	if d < 0 {
		return 0, false
	}
	return d, true
}
