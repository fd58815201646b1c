// Package media decides what an upload is and makes user-supplied media safe
// to store and serve: type sniffing from the leading bytes (never from names
// or a client's Content-Type), voice duration measured from the stream,
// filename sanitising, and avatar normalising with SVG sanitising.
//
// The chat layer streams uploads: it peeks SniffLen bytes, calls Sniff, then
// tees the whole plaintext through a DurationMeter while it is sealed. Every
// piece here works in bounded memory whatever the size of the stream.
package media

import "errors"

// Kinds of upload, as named by the upload form's kind field.
const (
	// KindFile is a document or image: PDF, PNG, JPEG, GIF, WebP.
	KindFile = "file"
	// KindVoice is a voice message: Ogg, WebM, MP4/M4A, MP3, WAV.
	KindVoice = "voice"
)

// SniffLen is how many leading bytes Sniff wants. Every signature it checks
// lies within the first few dozen bytes; the rest leaves room for an ID3 tag
// or an MP4 ftyp box followed by the first audio frame.
const SniffLen = 4096

// Mime types that Sniff answers.
const (
	MimePDF  = "application/pdf"
	MimePNG  = "image/png"
	MimeJPEG = "image/jpeg"
	MimeGIF  = "image/gif"
	MimeWebP = "image/webp"
	MimeSVG  = "image/svg+xml" // avatars only, never a file upload
	MimeOgg  = "audio/ogg"
	MimeWebM = "audio/webm"
	MimeMP4  = "audio/mp4"
	MimeMP3  = "audio/mpeg"
	MimeWAV  = "audio/wav"
)

var (
	// ErrUnsupported means the bytes are not of an accepted type (HTTP 415).
	ErrUnsupported = errors.New("media: unsupported type")
	// ErrTooLarge means the decoded content is over the caller's limit (HTTP 413).
	ErrTooLarge = errors.New("media: too large")
	// ErrMalformed means the input cannot be read at all: bad base64 or data
	// URL, malformed XML, or an SVG that carries a DTD (HTTP 400).
	ErrMalformed = errors.New("media: malformed input")
)
