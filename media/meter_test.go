package media_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/media"
)

// measure feeds data to a fresh meter in one write, byte by byte and in
// random pieces, fails unless the three agree, and returns the answer.
func measure(t *testing.T, mime string, data []byte) (time.Duration, bool) {
	t.Helper()
	whole := media.NewDurationMeter(mime)
	if n, err := whole.Write(data); n != len(data) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(data))
	}
	d, known := whole.Duration()

	single := media.NewDurationMeter(mime)
	for i := range data {
		_, _ = single.Write(data[i : i+1])
	}
	pieces := media.NewDurationMeter(mime)
	rng := rand.New(rand.NewPCG(1, uint64(len(data))))
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1+rng.IntN(700))
		_, _ = pieces.Write(rest[:n])
		rest = rest[n:]
	}
	for name, m := range map[string]media.DurationMeter{"byte by byte": single, "in pieces": pieces} {
		if d2, k2 := m.Duration(); d2 != d || k2 != known {
			t.Fatalf("%s: Duration = %v, %v; one write gave %v, %v", name, d2, k2, d, known)
		}
	}
	return d, known
}

func TestDurationMeter(t *testing.T) {
	// frames is the length of n MPEG-1 Layer III frames at 44.1 kHz.
	frames := func(n int) time.Duration { return time.Duration(n) * 1152 * time.Second / 44100 }
	twoStreams := opusSample(312, 48312, 96312)
	twoStreams = append(twoStreams[:len(twoStreams):len(twoStreams)],
		oggPage(0, 48000*3600, 0x9999, 0, make([]byte, 10))...) // another stream's page
	corruptOgg := opusSample(0, 48000)
	corruptOgg[len(corruptOgg)-329] ^= 0xFF // capture pattern of the last page (329 bytes)

	tests := []struct {
		name  string
		mime  string
		data  []byte
		want  time.Duration
		known bool
	}{
		{"wav 3 s", media.MimeWAV, wavSample(8000, 1, 16, 48000, -1), 3 * time.Second, true},
		{"wav stereo 44.1k 1.5 s", media.MimeWAV, wavSample(44100, 2, 16, 264600, -1), 1500 * time.Millisecond, true},
		{"wav header claims an hour", media.MimeWAV, wavSample(8000, 1, 16, 16000, 16000*3600), time.Second, true},
		{"wav streamed size unknown", media.MimeWAV, wavSample(8000, 1, 16, 8000, 0xFFFFFFFF), 500 * time.Millisecond, true},
		{"wav trailing chunk not counted", media.MimeWAV,
			cat(wavSample(8000, 1, 8, 4000, -1), []byte("LIST"), le32(4), []byte("abcd")), 500 * time.Millisecond, true},
		{"wav without data", media.MimeWAV, wavSample(8000, 1, 16, 0, -1)[:44], 0, false},
		{"opus 5 s", media.MimeOgg, opusSample(312, 48312, 96312, 240312), 5 * time.Second, true},
		{"opus other stream ignored", media.MimeOgg, twoStreams, 2 * time.Second, true},
		{"vorbis 2 s", media.MimeOgg, vorbisSample(44100, 88200), 2 * time.Second, true},
		{"ogg corrupt page", media.MimeOgg, corruptOgg, 0, false},
		{"mp3 100 frames", media.MimeMP3, mp3Sample(100, false), frames(100), true},
		{"mp3 id3 and id3v1", media.MimeMP3, cat(mp3Sample(40, true), []byte("TAG"), make([]byte, 125)), frames(40), true},
		{"mp3 no frame", media.MimeMP3, []byte("ID3\x04\x00\x00\x00\x00\x00\x00garbage"), 0, false},
		{"webm 4.5 s", media.MimeWebM, webmSample("webm", 4500, false), 4500 * time.Millisecond, true},
		{"webm float32", media.MimeWebM, webmSample("webm", 250, true), 250 * time.Millisecond, true},
		{"webm live recording", media.MimeWebM, webmSample("webm", -1, false), 0, false},
		{"m4a moov first", media.MimeMP4, m4aSample(0, 44100, 44100*7, false), 7 * time.Second, true},
		{"m4a moov last", media.MimeMP4, m4aSample(0, 1000, 2500, true), 2500 * time.Millisecond, true},
		{"m4a mvhd v1", media.MimeMP4, m4aSample(1, 600, 900, true), 1500 * time.Millisecond, true},
		{"m4a fragmented no duration", media.MimeMP4, m4aSample(0, 1000, 0, false), 0, false},
		{"pdf has no duration", media.MimePDF, pdfSample(), 0, false},
		{"empty wav", media.MimeWAV, nil, 0, false},
		{"garbage as ogg", media.MimeOgg, []byte("not an ogg stream at all, no"), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, known := measure(t, tc.mime, tc.data)
			if d != tc.want || known != tc.known {
				t.Fatalf("Duration = %v, %v; want %v, %v", d, known, tc.want, tc.known)
			}
		})
	}
}

// TestDurationMeterConstantMemory holds the meters to their contract: no
// allocation per write, however long the stream.
func TestDurationMeterConstantMemory(t *testing.T) {
	samples := map[string][]byte{
		media.MimeWAV: wavSample(8000, 1, 16, 1<<16, -1), media.MimeOgg: opusSample(0, 1, 2, 3, 4),
		media.MimeMP3: mp3Sample(50, true), media.MimeWebM: webmSample("webm", 1, false),
		media.MimeMP4: m4aSample(0, 1, 1, true),
	}
	for mime, data := range samples {
		m := media.NewDurationMeter(mime)
		allocs := testing.AllocsPerRun(20, func() {
			for i := 0; i < len(data); i += 97 {
				_, _ = m.Write(data[i:min(i+97, len(data))])
			}
		})
		mustEqual(t, mime+" allocations per stream", allocs, 0)
	}
}

func BenchmarkDurationMeterMP3(b *testing.B) {
	data := mp3Sample(2500, true) // about 1 MiB
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		m := media.NewDurationMeter(media.MimeMP3)
		for i := 0; i < len(data); i += 32 << 10 {
			_, _ = m.Write(data[i:min(i+32<<10, len(data))])
		}
		if _, ok := m.Duration(); !ok {
			b.Fatal("duration unknown")
		}
	}
}
