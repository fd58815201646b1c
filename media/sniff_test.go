package media_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/crypttalk/crypttalk/media"
)

func TestSniff(t *testing.T) {
	mz := cat([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xFF\xFF"), make([]byte, 100))
	elf := cat([]byte("\x7fELF\x02\x01\x01"), make([]byte, 60))
	theora := oggPage(0x02, 0, 1, 0, cat([]byte("\x80theora"), make([]byte, 35)))
	heic := box("ftyp", []byte("heic"), be32(0), []byte("mif1heicisom"))
	adts := cat([]byte{0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC}, make([]byte, 64))
	badSecondFrame := cat(mp3Frame(), []byte("<html><script>alert(1)</script></html>"))
	longPDF := cat(pdfSample(), bytes.Repeat([]byte("x"), 3*media.SniffLen))

	tests := []struct {
		name string
		kind string
		head []byte
		want string // "" means ErrUnsupported
	}{
		{"pdf", media.KindFile, pdfSample(), media.MimePDF},
		{"pdf longer than SniffLen", media.KindFile, longPDF, media.MimePDF},
		{"png", media.KindFile, pngSample(), media.MimePNG},
		{"jpeg", media.KindFile, jpegSample(), media.MimeJPEG},
		{"gif", media.KindFile, gifSample(), media.MimeGIF},
		{"webp", media.KindFile, webpSample(), media.MimeWebP},
		{"ogg opus", media.KindVoice, opusSample(312, 48312), media.MimeOgg},
		{"ogg vorbis", media.KindVoice, vorbisSample(44100, 88200), media.MimeOgg},
		{"webm", media.KindVoice, webmSample("webm", 1000, false), media.MimeWebM},
		{"matroska", media.KindVoice, webmSample("matroska", -1, false), media.MimeWebM},
		{"m4a", media.KindVoice, m4aSample(0, 1000, 2500, false), media.MimeMP4},
		{"mp3 with id3", media.KindVoice, mp3Sample(3, true), media.MimeMP3},
		{"mp3 frames", media.KindVoice, mp3Sample(3, false), media.MimeMP3},
		{"mp3 one frame", media.KindVoice, mp3Sample(1, false), media.MimeMP3},
		{"wav", media.KindVoice, wavSample(8000, 1, 16, 100, -1), media.MimeWAV},

		{"executable named .png", media.KindFile, mz, ""},
		{"executable as voice", media.KindVoice, mz, ""},
		{"elf", media.KindFile, elf, ""},
		{"html", media.KindFile, []byte("<!DOCTYPE html><html><body>hi</body></html>"), ""},
		{"svg as file", media.KindFile, []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), ""},
		{"zip", media.KindFile, cat([]byte("PK\x03\x04"), make([]byte, 40)), ""},
		{"pdf junk first", media.KindFile, cat([]byte("junk"), pdfSample()), ""},
		{"voice bytes as file", media.KindFile, wavSample(8000, 1, 16, 100, -1), ""},
		{"image bytes as voice", media.KindVoice, pngSample(), ""},
		{"ogg theora video", media.KindVoice, theora, ""},
		{"heic in mp4 container", media.KindVoice, heic, ""},
		{"aac adts", media.KindVoice, adts, ""},
		{"mp3 sync then html", media.KindVoice, badSecondFrame, ""},
		{"webm wrong doctype", media.KindVoice, webmSample("wbem", 1, false), ""},

		{"empty file", media.KindFile, nil, ""},
		{"empty voice", media.KindVoice, nil, ""},
		{"truncated pdf", media.KindFile, []byte("%PDF"), ""},
		{"truncated png", media.KindFile, pngSample()[:8], ""},
		{"truncated jpeg", media.KindFile, []byte{0xFF, 0xD8}, ""},
		{"truncated gif", media.KindFile, []byte("GIF89a"), ""},
		{"truncated webp", media.KindFile, webpSample()[:12], ""},
		{"truncated wav", media.KindVoice, wavSample(8000, 1, 16, 100, -1)[:12], ""},
		{"truncated ogg", media.KindVoice, opusSample(0, 1)[:27], ""},
		{"truncated webm", media.KindVoice, webmSample("webm", 1, false)[:8], ""},
		{"truncated m4a", media.KindVoice, m4aSample(0, 1, 1, false)[:12], ""},
		{"truncated mp3", media.KindVoice, []byte{0xFF, 0xFB}, ""},
		{"truncated id3", media.KindVoice, []byte("ID3\x04\x00"), ""},
		{"unknown kind", "avatar", pngSample(), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := media.Sniff(tc.head, tc.kind)
			if tc.want == "" {
				if !errors.Is(err, media.ErrUnsupported) {
					t.Fatalf("Sniff = %q, %v; want ErrUnsupported", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Sniff = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
