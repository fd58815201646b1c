package media

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxFilenameBytes bounds a sanitised filename, well below the 255 bytes
// that common filesystems allow, so a browser can still add " (1)".
const maxFilenameBytes = 200

// defaultFilename stands in for a name with nothing left after sanitising.
const defaultFilename = "file"

// mimeExtensions lists the extensions accepted for each sniffed type, the
// canonical one first.
var mimeExtensions = map[string][]string{
	MimePDF: {"pdf"}, MimePNG: {"png"}, MimeJPEG: {"jpg", "jpeg", "jpe", "jfif"},
	MimeGIF: {"gif"}, MimeWebP: {"webp"}, MimeSVG: {"svg"},
	MimeOgg: {"ogg", "oga", "opus"}, MimeWebM: {"webm", "weba"},
	MimeMP4: {"m4a", "mp4", "m4b"}, MimeMP3: {"mp3"}, MimeWAV: {"wav"},
}

// SanitizeFilename makes a client-supplied name safe to store and to offer
// in Content-Disposition. It keeps only the last path element (after / or \),
// drops control characters and the invisible bidi and zero-width marks that
// disguise an extension ("a\u202Egnp.exe"), replaces the characters Windows
// reserves (<>:"|?*) with '_', collapses whitespace, trims leading and
// trailing dots and spaces, and prefixes Windows device names (CON, NUL...).
//
// The extension must agree with the sniffed mime: when the name's last
// extension is not one of that type's, the canonical one is appended rather
// than substituted ("report.exe" as image/png becomes "report.exe.png"), so
// the user still recognises the name while the extension every system acts
// on is the true one. An unknown mime leaves the extension alone. The result
// is at most 200 bytes of valid UTF-8, cut on a rune boundary before the
// extension, and never empty ("file" plus the extension).
func SanitizeFilename(name, mime string) string {
	name = strings.ToValidUTF8(name, "_")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Join(strings.Fields(strings.Map(cleanFilenameRune, name)), " ")
	name = strings.Trim(name, ". ")

	suffix := ""
	if exts, ok := mimeExtensions[mime]; ok {
		suffix = "." + exts[0]
		if i := strings.LastIndexByte(name, '.'); i > 0 && slices.Contains(exts, strings.ToLower(name[i+1:])) {
			name, suffix = name[:i], name[i:]
		}
	}
	if name == "" {
		name = defaultFilename
	}
	if isDeviceName(name) {
		name = "_" + name
	}
	name = strings.TrimRight(truncateUTF8(name, maxFilenameBytes-len(suffix)), ". ")
	if name == "" {
		name = defaultFilename
	}
	return name + suffix
}

// cleanFilenameRune maps one rune of a filename: -1 drops it.
func cleanFilenameRune(r rune) rune {
	switch {
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F,
		r == 0x061C, r == 0x200B, r == 0xFEFF:
		return -1 // bidi controls and invisible marks
	case unicode.IsSpace(r):
		return ' '
	case unicode.IsControl(r):
		return -1
	case strings.ContainsRune(`<>:"|?*`, r):
		return '_'
	}
	return r
}

// isDeviceName reports names that Windows opens as devices whatever their
// extension ("nul.txt" included).
func isDeviceName(name string) bool {
	base, _, _ := strings.Cut(name, ".")
	base = strings.ToUpper(strings.TrimSpace(base))
	switch base {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	return len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) &&
		base[3] >= '1' && base[3] <= '9'
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
