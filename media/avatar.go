package media

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"unicode"
)

// avatarEncodings are tried in turn: clients send padded or raw, standard or
// URL-safe base64, and no valid input decodes under two of them differently.
var avatarEncodings = []*base64.Encoding{
	base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
}

// NormalizeAvatar turns a client's avatar into a canonical data URL
// ("data:<mime>;base64,<std base64>") and its mime type. input is a data URL
// (base64 or percent-encoded; its declared type is ignored) or bare base64.
// The type comes from the decoded bytes: PNG, JPEG, WebP or GIF are kept
// byte for byte; anything that starts like XML must be an SVG and is
// rebuilt by SanitizeSVG. maxBytes bounds the decoded image, and the
// sanitised SVG too, since escaping can make it grow (ErrTooLarge); a
// non-positive maxBytes allows nothing. Other types are ErrUnsupported;
// undecodable input and malformed SVG are ErrMalformed.
func NormalizeAvatar(input string, maxBytes int) (dataURL, mime string, err error) {
	raw, err := decodeAvatar(input, maxBytes)
	if err != nil {
		return "", "", err
	}
	mime = sniffImage(raw)
	if mime == "" {
		if !looksLikeXML(raw) {
			return "", "", fmt.Errorf("%w: avatars must be PNG, JPEG, WebP, GIF or SVG", ErrUnsupported)
		}
		if raw, err = SanitizeSVG(raw); err != nil {
			return "", "", err
		}
		if len(raw) > maxBytes {
			return "", "", fmt.Errorf("%w: sanitised SVG over %d bytes", ErrTooLarge, maxBytes)
		}
		mime = MimeSVG
	}
	return "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(raw), mime, nil
}

// decodeAvatar unwraps a data URL or bare base64, refusing anything over
// maxBytes before allocating for it.
func decodeAvatar(input string, maxBytes int) ([]byte, error) {
	s, isBase64 := strings.TrimSpace(input), true
	if len(s) >= 5 && strings.EqualFold(s[:5], "data:") {
		meta, payload, ok := strings.Cut(s[5:], ",")
		if !ok {
			return nil, fmt.Errorf("%w: data URL without a comma", ErrMalformed)
		}
		s, isBase64 = payload, strings.HasSuffix(strings.ToLower(meta), ";base64")
	}
	if !isBase64 {
		// Every decoded byte takes one to three characters ("%3C").
		if len(s)/3 > maxBytes {
			return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, maxBytes)
		}
		b, err := url.PathUnescape(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return checkSize([]byte(b), maxBytes)
	}
	s = strings.Map(func(r rune) rune { // base64 in data URLs is often wrapped
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	if len(strings.TrimRight(s, "="))*6/8 > maxBytes {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, maxBytes)
	}
	for _, enc := range avatarEncodings {
		if b, err := enc.DecodeString(s); err == nil {
			return checkSize(b, maxBytes)
		}
	}
	return nil, fmt.Errorf("%w: neither a data URL nor base64", ErrMalformed)
}

func checkSize(b []byte, maxBytes int) ([]byte, error) {
	if len(b) > maxBytes {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, maxBytes)
	}
	return b, nil
}

// looksLikeXML reports bytes that start, after a BOM and blanks, with '<'.
func looksLikeXML(b []byte) bool {
	b = bytes.TrimSpace(bytes.TrimPrefix(b, utf8BOM))
	return len(b) > 0 && b[0] == '<'
}
