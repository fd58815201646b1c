package media_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crypttalk/crypttalk/media"
)

func TestSanitizeFilename(t *testing.T) {
	long := strings.Repeat("é", 250) + ".pdf" // 504 bytes, two per rune
	tests := []struct {
		name, mime, want string
	}{
		{"report.pdf", media.MimePDF, "report.pdf"},
		{"Photo.JPEG", media.MimeJPEG, "Photo.JPEG"},
		{"report.exe", media.MimePNG, "report.exe.png"},
		{"../../etc/passwd", media.MimePDF, "passwd.pdf"},
		{`C:\evil\x.pdf`, media.MimePDF, "x.pdf"},
		{"a\u202Egnp.exe", media.MimePNG, "agnp.exe.png"},
		{"\u2066x\u2069\u200E\u200F.\u202Dpng", media.MimePNG, "x.png"},
		{"tab\there\nnew\x00line\x7f.ogg", media.MimeOgg, "tab here newline.ogg"},
		{"  many    spaces\u00a0 .wav", media.MimeWAV, "many spaces.wav"},
		{`what<>:"|?*.gif`, media.MimeGIF, "what_______.gif"},
		{".htaccess", media.MimePDF, "htaccess.pdf"},
		{"...", media.MimePDF, "file.pdf"},
		{"", media.MimeMP3, "file.mp3"},
		{"/", "", "file"},
		{"x.png.", media.MimePNG, "x.png"},
		{"CON.pdf", media.MimePDF, "_CON.pdf"},
		{"lpt1", media.MimePDF, "_lpt1.pdf"},
		{"COM10.pdf", media.MimePDF, "COM10.pdf"},
		{"voice", media.MimeWebM, "voice.webm"},
		{"notes.txt", "application/unknown", "notes.txt"},
		{"bad\xff\xfeutf8.pdf", media.MimePDF, "bad_utf8.pdf"},
	}
	for _, tc := range tests {
		mustEqual(t, "SanitizeFilename("+strings.ToValidUTF8(tc.name, "?")+")", media.SanitizeFilename(tc.name, tc.mime), tc.want)
	}

	for _, name := range []string{strings.Repeat("a", 500), long, strings.Repeat("日本", 120) + ".exe"} {
		got := media.SanitizeFilename(name, media.MimePDF)
		if len(got) > 200 || !utf8.ValidString(got) || !strings.HasSuffix(got, ".pdf") {
			t.Errorf("SanitizeFilename(%d bytes) = %q (%d bytes): want valid UTF-8 <= 200 bytes ending .pdf", len(name), got, len(got))
		}
	}
}
