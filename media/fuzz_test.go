package media_test

import (
	"errors"
	"testing"

	"github.com/crypttalk/crypttalk/media"
)

// mimesOf are the answers Sniff may give for each kind.
var mimesOf = map[string][]string{
	media.KindFile:  {media.MimePDF, media.MimePNG, media.MimeJPEG, media.MimeGIF, media.MimeWebP},
	media.KindVoice: {media.MimeOgg, media.MimeWebM, media.MimeMP4, media.MimeMP3, media.MimeWAV},
}

// FuzzSniff checks that Sniff never panics, answers only its kind's types or
// ErrUnsupported, ignores bytes past SniffLen, and that the duration meter
// of whatever it answers gives the same result however the stream is cut.
func FuzzSniff(f *testing.F) {
	for _, s := range [][]byte{pdfSample(), pngSample(), jpegSample(), gifSample(), webpSample(),
		opusSample(312, 1000, 2000), vorbisSample(8000, 1), webmSample("webm", 12, false),
		m4aSample(1, 10, 10, true), mp3Sample(3, true), wavSample(8000, 1, 8, 30, 7),
		[]byte("MZ\x90\x00"), []byte("<svg/>"), nil} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for kind, allowed := range mimesOf {
			mime, err := media.Sniff(data, kind)
			if err != nil {
				if !errors.Is(err, media.ErrUnsupported) {
					t.Fatalf("Sniff(%s) error %v is not ErrUnsupported", kind, err)
				}
				continue
			}
			if !contains(allowed, mime) {
				t.Fatalf("Sniff(%s) = %q, not a %s type", kind, mime, kind)
			}
			if len(data) > media.SniffLen {
				if m2, _ := media.Sniff(data[:media.SniffLen], kind); m2 != mime {
					t.Fatalf("Sniff depends on bytes past SniffLen: %q vs %q", mime, m2)
				}
			}
			measure(t, mime, data)
		}
	})
}

// FuzzDurationMeter feeds arbitrary streams to every meter: no panic, no
// error, and the same answer for every way of cutting the stream.
func FuzzDurationMeter(f *testing.F) {
	f.Add(wavSample(8000, 1, 16, 100, -1))
	f.Add(opusSample(0, 10))
	f.Add(mp3Sample(2, true))
	f.Add(webmSample("webm", 5, true))
	f.Add(m4aSample(0, 1, 1, false))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mime := range mimesOf[media.KindVoice] {
			if d, _ := measure(t, mime, data); d < 0 {
				t.Fatalf("%s: negative duration %v", mime, d)
			}
		}
	})
}

// FuzzSanitizeSVG checks that whatever SanitizeSVG accepts comes out safe,
// well-formed and stable under a second pass.
func FuzzSanitizeSVG(f *testing.F) {
	for _, s := range []string{
		svgOpen + gradients + `<rect fill="url(#g)" style="fill:red"/><use xlink:href="#g"/>` + svgClose,
		svgOpen + `<script>alert(1)</script><SCRIPT/><text><![CDATA[<b>]]></text>` + svgClose,
		`<svg onload="x" xmlns:q="http://www.w3.org/1999/xlink"><use q:href="javascript:x"/><a href="#"><g/></a></svg>`,
		`<!DOCTYPE svg [<!ENTITY a "b">]><svg>&a;</svg>`,
		`<?xml version="1.0"?><!-- c --><svg><foreignObject><div/></foreignObject></svg>`,
		`<svg><set attributeName="href" to="javascript:x"/><rect style="background:url(http://e)"/></svg>`,
		"\xEF\xBB\xBF<svg>\r\n<title>&amp;&lt;\t</title></svg>", `<html/>`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := media.SanitizeSVG(data)
		if err != nil {
			if !errors.Is(err, media.ErrMalformed) && !errors.Is(err, media.ErrUnsupported) {
				t.Fatalf("error %v is neither ErrMalformed nor ErrUnsupported", err)
			}
			return
		}
		if err := checkSafeSVG(out); err != nil {
			t.Fatalf("input %q: %v", data, err)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
