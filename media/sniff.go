package media

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// sniffer answers a mime type when head starts with its format, or "".
type sniffer func(head []byte) string

// Sniffers per kind. Order does not matter: the signatures exclude each other.
var (
	fileSniffers  = []sniffer{sniffPDF, sniffImage}
	voiceSniffers = []sniffer{sniffOgg, sniffWebM, sniffMP4, sniffMP3, sniffWAV}
)

// Sniff decides the mime type of an upload of the given kind from its leading
// bytes: pass at least the first 512 bytes (SniffLen is best), or all of them
// when the upload is shorter. Bytes past SniffLen are ignored, so the answer
// does not depend on how much the caller peeked beyond it. A header cut short
// is unsupported: every format needs its full fixed header to be recognised.
func Sniff(head []byte, kind string) (string, error) {
	var list []sniffer
	switch kind {
	case KindFile:
		list = fileSniffers
	case KindVoice:
		list = voiceSniffers
	default:
		return "", fmt.Errorf("%w: unknown kind %q", ErrUnsupported, kind)
	}
	if len(head) > SniffLen {
		head = head[:SniffLen]
	}
	for _, s := range list {
		if m := s(head); m != "" {
			return m, nil
		}
	}
	return "", fmt.Errorf("%w: not an accepted %s type", ErrUnsupported, kind)
}

// sniffPDF wants "%PDF-" and a version digit at offset 0. Readers tolerate
// junk before the marker; we do not, so a polyglot cannot hide behind it.
func sniffPDF(h []byte) string {
	if len(h) >= 6 && bytes.HasPrefix(h, []byte("%PDF-")) && h[5] >= '1' && h[5] <= '9' {
		return MimePDF
	}
	return ""
}

// sniffImage recognises the raster formats accepted for files and avatars,
// each with its complete fixed header.
func sniffImage(h []byte) string {
	switch {
	case len(h) >= 16 && bytes.HasPrefix(h, []byte("\x89PNG\r\n\x1a\n")) && string(h[12:16]) == "IHDR":
		return MimePNG
	case len(h) >= 4 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF && h[3] >= 0xC0 && h[3] != 0xFF:
		return MimeJPEG
	case len(h) >= 13 && (bytes.HasPrefix(h, []byte("GIF87a")) || bytes.HasPrefix(h, []byte("GIF89a"))):
		return MimeGIF
	case len(h) >= 16 && string(h[0:4]) == "RIFF" && string(h[8:12]) == "WEBP" && isWebPChunk(h[12:16]):
		return MimeWebP
	}
	return ""
}

func isWebPChunk(id []byte) bool {
	s := string(id)
	return s == "VP8 " || s == "VP8L" || s == "VP8X"
}

// sniffWAV wants the RIFF/WAVE header and the header of a first chunk.
func sniffWAV(h []byte) string {
	if len(h) >= 20 && string(h[0:4]) == "RIFF" && string(h[8:12]) == "WAVE" {
		return MimeWAV
	}
	return ""
}

// oggAudioCodecs are the first-packet magics of the audio codecs Ogg carries;
// an Ogg of Theora video is not a voice message.
var oggAudioCodecs = [][]byte{
	[]byte("OpusHead"), []byte("\x01vorbis"), []byte("Speex   "), []byte("\x7fFLAC"),
}

// sniffOgg wants a complete first page header with the beginning-of-stream
// flag, its segment table, and an audio codec's identification packet.
func sniffOgg(h []byte) string {
	if len(h) < oggHeaderLen || string(h[0:4]) != "OggS" || h[4] != 0 || h[5]&0x02 == 0 {
		return ""
	}
	body := oggHeaderLen + int(h[26])
	if len(h) < body {
		return ""
	}
	for _, magic := range oggAudioCodecs {
		if bytes.HasPrefix(h[body:], magic) {
			return MimeOgg
		}
	}
	return ""
}

// Brands of an MP4 ftyp box. Image brands (HEIF, AVIF) share the container
// and often list generic brands too, so they are refused first.
var (
	mp4AudioBrands = map[string]bool{
		"M4A ": true, "M4B ": true, "mp41": true, "mp42": true, "isom": true, "iso2": true,
		"iso3": true, "iso4": true, "iso5": true, "iso6": true, "dash": true, "3gp4": true,
		"3gp5": true, "3gp6": true, "3g2a": true, "F4A ": true, "MSNV": true,
	}
	mp4ImageBrands = map[string]bool{
		"mif1": true, "msf1": true, "heic": true, "heix": true, "hevc": true, "avif": true,
		"avis": true, "miaf": true,
	}
)

// sniffMP4 wants an ftyp box at offset 0 whose major or compatible brands
// name an audio-capable MP4 and no image format.
func sniffMP4(h []byte) string {
	if len(h) < 16 || string(h[4:8]) != "ftyp" {
		return ""
	}
	size := int(binary.BigEndian.Uint32(h[0:4]))
	if size < 16 || size > len(h) {
		return ""
	}
	audio := false
	for off := 8; off+4 <= size; off += 4 {
		if off == 12 {
			continue // minor version, not a brand
		}
		b := string(h[off : off+4])
		if mp4ImageBrands[b] {
			return ""
		}
		audio = audio || mp4AudioBrands[b]
	}
	if audio {
		return MimeMP4
	}
	return ""
}
