package chat

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/crypttalk/crypttalk/media"
	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/vault"
)

// Download is a file the caller may read.
type Download struct {
	FileID   string
	Filename string
	Mime     string
	Size     int64
	Kind     string

	blobs store.BlobStore
	dek   []byte
}

// OpenFile authorises a download. Everyone but the two participants gets
// 404, so file ids cannot be probed. firstByte tells whether the request
// starts at the beginning: only those count as a play of a voice message
// (players fetch the rest with Range requests).
func (s *Service) OpenFile(ctx context.Context, p *Principal, fileID string, firstByte bool) (*Download, error) {
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
	if err := s.checkPlays(ctx, f, me, firstByte); err != nil {
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
	return &Download{FileID: f.ID, Filename: name, Mime: f.Mime, Size: f.Size, Kind: f.Kind, blobs: s.store.Blobs(), dek: dek}, nil
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
// sender's own plays do not count.
func (s *Service) checkPlays(ctx context.Context, f *store.File, me string, firstByte bool) error {
	if f.Kind != media.KindVoice {
		return nil
	}
	if !f.ExpiresAt.IsZero() && !s.now().Before(f.ExpiresAt) {
		return Gone("this voice message has expired")
	}
	if f.MaxPlays <= 0 || me == f.Owner {
		return nil
	}
	if f.Plays >= f.MaxPlays {
		return Gone("this voice message was played the allowed number of times")
	}
	if !firstByte {
		return nil
	}
	n, err := s.store.AddPlay(ctx, f.ID)
	if err != nil {
		return storeError(err)
	}
	if n > f.MaxPlays {
		return Gone("this voice message was played the allowed number of times")
	}
	return nil
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
