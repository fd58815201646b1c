package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crypttalk/crypttalk/media"
	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/vault"
)

// Read says how a download reads a file.
type Read struct {
	// Range is the request's Range header; "" reads the whole file.
	Range string
	// Head is a HEAD request: headers only, so never a play.
	Head bool
}

// Download is a file the caller may read, and the part of it to send.
type Download struct {
	FileID   string
	Filename string
	Mime     string
	Size     int64
	Kind     string
	// Start and End are the bytes to send, [Start, End); Partial tells
	// whether that is a 206 answer to a Range request.
	Start, End int64
	Partial    bool

	blobs store.BlobStore
	dek   []byte
}

// OpenFile authorises a download. Everyone but the two participants gets
// 404, so file ids cannot be probed. A GET whose answer holds the file's
// first byte counts as a play of a voice message, however its Range is
// spelled, and so does any GET while no play is running (see checkPlays);
// HEAD never does.
func (s *Service) OpenFile(ctx context.Context, p *Principal, fileID string, r Read) (*Download, error) {
	me := p.User.UserID
	f, err := s.store.GetFile(ctx, fileID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("unknown file")
	}
	if err != nil {
		return nil, storeError(err)
	}
	if f.Owner != me && (f.ConversationID == "" || f.ConversationID != ConversationID(me, f.Owner)) {
		return nil, NotFound("unknown file")
	}
	if err := s.checkFileMessage(ctx, f); err != nil {
		return nil, err
	}
	start, end, partial, rerr := ParseRange(r.Range, f.Size)
	if rerr != nil {
		return nil, &RangeError{Size: f.Size, err: rerr}
	}
	if err := s.checkPlays(ctx, f, me, r, start); err != nil {
		return nil, err
	}
	dek, err := s.dataKey(ctx, f.KeyID, f.ID)
	if err != nil {
		return nil, err
	}
	name, err := openName(dek, f)
	if err != nil {
		return nil, err
	}
	return &Download{
		FileID: f.ID, Filename: name, Mime: f.Mime, Size: f.Size, Kind: f.Kind,
		Start: start, End: end, Partial: partial, blobs: s.store.Blobs(), dek: dek,
	}, nil
}

// checkFileMessage hides files whose message expired or was deleted, even
// before the purge worker removed them.
func (s *Service) checkFileMessage(ctx context.Context, f *store.File) error {
	if f.MessageID == "" {
		return nil
	}
	m, err := s.store.GetMessage(ctx, f.MessageID)
	if errors.Is(err, store.ErrNotFound) {
		return NotFound("unknown file")
	}
	if err != nil {
		return storeError(err)
	}
	if !m.ExpiresAt.IsZero() && !s.now().Before(m.ExpiresAt) {
		return NotFound("unknown file")
	}
	return nil
}

// checkPlays enforces a voice message's expiry and play count; the
// sender's own plays do not count. A GET is a play unless it is a Range
// that starts past byte 0 while the latest play can still be running (its
// start plus the message's duration and the grace period): players fetch
// the rest of a play that way, and nothing else skips the first byte, so
// `bytes=1-` is no way around the count. The last allowed play sets the
// file's expiry to the end of that window, after which purge removes it.
func (s *Service) checkPlays(ctx context.Context, f *store.File, me string, r Read, start int64) error {
	if f.Kind != media.KindVoice {
		return nil
	}
	now := s.now().UTC()
	if !f.ExpiresAt.IsZero() && !now.Before(f.ExpiresAt) {
		return Gone("this voice message has expired")
	}
	if f.MaxPlays <= 0 || me == f.Owner {
		return nil
	}
	window := time.Duration(f.DurationMS)*time.Millisecond + s.opts.VoicePlayGrace
	playing := !f.LastPlayAt.IsZero() && now.Before(f.LastPlayAt.Add(window))
	playedOut := Gone("this voice message was played the allowed number of times")
	switch {
	case r.Head:
		if f.Plays >= f.MaxPlays && !playing {
			return playedOut
		}
		return nil
	case start > 0 && playing:
		return nil
	case f.Plays >= f.MaxPlays:
		return playedOut
	}
	n, err := s.store.AddPlay(ctx, f.ID, now)
	if err != nil {
		return storeError(err)
	}
	if n > f.MaxPlays {
		return playedOut
	}
	if n == f.MaxPlays {
		if err := s.store.ExpireFile(ctx, f.ID, now.Add(window)); err != nil {
			return storeError(err)
		}
	}
	return nil
}

// RangeError is the 416 of a Range that a file of Size bytes cannot
// satisfy; the answer's Content-Range names Size. It unwraps to the *Error.
type RangeError struct {
	Size int64
	err  *Error
}

func (e *RangeError) Error() string { return e.err.Error() }

// Unwrap exposes the client-facing *Error.
func (e *RangeError) Unwrap() error { return e.err }

// ParseRange reads a Range header against a file of size bytes and returns
// the bytes to send, [start, end), and whether the answer is partial. It
// takes one range of the `bytes` unit in any spelling RFC 9110 allows
// (case-insensitive unit, spaces, leading zeros, a suffix). A request for
// several ranges is answered with the whole file, which RFC 9110 allows, so
// no combination of ranges reads the file without its first byte counted.
// A malformed or unsatisfiable range is a 416.
func ParseRange(h string, size int64) (start, end int64, partial bool, err *Error) {
	if strings.TrimSpace(h) == "" {
		return 0, size, false, nil
	}
	bad := &Error{Status: http.StatusRequestedRangeNotSatisfiable, Code: "CT_BAD_RANGE", Msg: "the range cannot be satisfied"}
	unit, set, found := strings.Cut(h, "=")
	if !found || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return 0, 0, false, bad
	}
	specs := strings.Split(set, ",")
	var n int
	for _, spec := range specs {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue // RFC 9110's list syntax allows empty elements
		}
		a, b, ok := parseSpec(spec, size)
		if !ok {
			return 0, 0, false, bad
		}
		if n == 0 {
			start, end = a, b
		}
		n++
	}
	switch {
	case n == 0:
		return 0, 0, false, bad
	case n > 1:
		return 0, size, false, nil
	}
	return start, end, true, nil
}

// parseSpec reads one "first-last", "first-" or "-suffix" spec.
func parseSpec(spec string, size int64) (int64, int64, bool) {
	a, b, found := strings.Cut(spec, "-")
	if !found {
		return 0, 0, false
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == "" { // suffix: the last b bytes
		n, ok := digits(b)
		if !ok || n == 0 || size == 0 {
			return 0, 0, false
		}
		return max(0, size-n), size, true
	}
	first, ok := digits(a)
	if !ok || first >= size {
		return 0, 0, false
	}
	if b == "" {
		return first, size, true
	}
	last, ok := digits(b)
	if !ok || last < first {
		return 0, 0, false
	}
	return first, min(last, size-1) + 1, true
}

// digits parses a non-negative decimal: no sign, no spaces, at least one
// digit. A huge number saturates rather than failing (bytes=0-99999999999999999999).
func digits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 1<<63 - 1, true
	}
	return n, true
}

// Open returns the plaintext from byte offset on. Only authenticated
// chunks are ever returned: a tampered blob yields an error, never bytes.
func (d *Download) Open(ctx context.Context, offset int64) (io.ReadCloser, error) {
	if offset < 0 || offset > d.Size {
		return nil, Invalid("offset out of range")
	}
	first := offset / vault.ChunkSize
	if offset == d.Size && offset > 0 {
		first = (offset - 1) / vault.ChunkSize // the end of a file of whole chunks is inside its last chunk
	}
	rc, err := d.blobs.OpenBlob(ctx, d.FileID, first*vault.SealedChunkSize)
	if err != nil {
		return nil, AsError(fmt.Errorf("open blob: %w", err))
	}
	r := vault.NewOpenReader(rc, d.dek, d.FileID, first)
	if _, err := io.CopyN(io.Discard, r, offset-first*vault.ChunkSize); err != nil {
		rc.Close()
		return nil, Internal(err)
	}
	return readCloser{Reader: r, Closer: rc}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
