package media_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/crypttalk/crypttalk/media"
)

func TestNormalizeAvatar(t *testing.T) {
	png, gif := pngSample(), gifSample()
	std := base64.StdEncoding.EncodeToString
	svg := svgOpen + `<script>alert(1)</script><circle r="4" onload="alert(2)"/>` + svgClose
	tests := []struct {
		name     string
		input    string
		wantMime string
		wantData []byte // nil: only the mime is checked
	}{
		{"png data URL", "data:image/png;base64," + std(png), media.MimePNG, png},
		{"declared type ignored", "data:image/gif;base64," + std(png), media.MimePNG, png},
		{"bare std base64", std(gif), media.MimeGIF, gif},
		{"raw std base64", base64.RawStdEncoding.EncodeToString(png), media.MimePNG, png},
		{"url base64", base64.URLEncoding.EncodeToString(webpSample()), media.MimeWebP, webpSample()},
		{"wrapped base64 in data URL", "  DATA:image/jpeg;BASE64," + std(jpegSample())[:10] + "\r\n" + std(jpegSample())[10:] + "\n", media.MimeJPEG, jpegSample()},
		{"svg sanitised", "data:image/svg+xml;base64," + std([]byte(svg)), media.MimeSVG, nil},
		{"svg disguised as png", "data:image/png;base64," + std([]byte(svg)), media.MimeSVG, nil},
		{"percent-encoded svg", "data:image/svg+xml;charset=utf-8," + url.PathEscape(svg), media.MimeSVG, nil},
		{"svg with BOM", std([]byte("\xEF\xBB\xBF" + svg)), media.MimeSVG, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataURL, mime, err := media.NormalizeAvatar(tc.input, 1<<10)
			if err != nil || mime != tc.wantMime {
				t.Fatalf("NormalizeAvatar = %q, %v; want %q", mime, err, tc.wantMime)
			}
			prefix := "data:" + mime + ";base64,"
			got, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(dataURL, prefix))
			if !strings.HasPrefix(dataURL, prefix) || err != nil {
				t.Fatalf("data URL %q is not canonical: %v", dataURL, err)
			}
			if tc.wantData != nil && !bytes.Equal(got, tc.wantData) {
				t.Fatalf("decoded %x, want %x", got, tc.wantData)
			}
			if mime == media.MimeSVG {
				if err := checkSafeSVG(got); err != nil || bytes.Contains(got, []byte("alert")) {
					t.Fatalf("avatar SVG unsafe (%v): %s", err, got)
				}
			}
		})
	}
}

func TestNormalizeAvatarRefuses(t *testing.T) {
	std := base64.StdEncoding.EncodeToString
	big := cat(pngSample(), make([]byte, 2000))
	quotes := svgOpen + "<text>" + strings.Repeat(`"`, 900) + "</text>" + svgClose
	tests := []struct {
		name     string
		input    string
		maxBytes int
		want     error
	}{
		{"over the limit", std(big), 1 << 10, media.ErrTooLarge},
		{"huge input refused before decoding", strings.Repeat("A", 1<<20), 1 << 10, media.ErrTooLarge},
		{"huge percent-encoded", "data:," + strings.Repeat("%3C", 1<<12), 1 << 10, media.ErrTooLarge},
		{"svg grows past the limit", std([]byte(quotes)), 1 << 10, media.ErrTooLarge},
		{"zero limit", std(pngSample()), 0, media.ErrTooLarge},
		{"pdf", std(pdfSample()), 1 << 10, media.ErrUnsupported},
		{"executable", std([]byte("MZ\x90\x00rest of a PE file")), 1 << 10, media.ErrUnsupported},
		{"html", std([]byte("<html><body onload=x></body></html>")), 1 << 10, media.ErrUnsupported},
		{"svg with DTD", std([]byte(`<!DOCTYPE svg [<!ENTITY a "b">]><svg/>`)), 1 << 10, media.ErrMalformed},
		{"empty", "", 1 << 10, media.ErrUnsupported},
		{"not base64", "data:image/png;base64,!!!not base64!!!", 1 << 10, media.ErrMalformed},
		{"data URL without comma", "data:image/png;base64", 1 << 10, media.ErrMalformed},
		{"bad percent escape", "data:image/svg+xml,%zz", 1 << 10, media.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataURL, mime, err := media.NormalizeAvatar(tc.input, tc.maxBytes)
			if !errors.Is(err, tc.want) || dataURL != "" || mime != "" {
				t.Fatalf("NormalizeAvatar = %.40q, %q, %v; want %v", dataURL, mime, err, tc.want)
			}
		})
	}
}
