package chat

import (
	"bufio"
	"context"
	"errors"
	"io"
	"time"

	"github.com/crypttalk/crypttalk/media"
	"github.com/crypttalk/crypttalk/store"
)

// MediaFetcher is the optional part of an Outbound that fetches a file of
// another server (GET /_crypttalk/federation/v1/media/{fileId}, signed).
// Without it, file and voice messages from other servers are refused with
// 415. A file the origin does not have is a *Error with Status 404.
type MediaFetcher interface {
	FetchMedia(ctx context.Context, origin, fileID string) (io.ReadCloser, error)
}

// remoteFile is the "file" of a ct.message of msgtype file or voice. The
// receiver fetches the bytes from the origin by FileID and checks them
// again (size, type) before sealing them under its own keys.
type remoteFile struct {
	FileID     string `json:"file_id"`
	Filename   string `json:"filename"`
	Mime       string `json:"mime"`
	Size       int64  `json:"size"`
	DurationMS int64  `json:"duration_ms,omitempty"`
	MaxPlays   int64  `json:"max_plays,omitempty"`
	ExpiresAt  int64  `json:"expires_at,omitempty"` // ms; a voice message's own expiry
}

const maxRemoteFileID = 128

func (s *Service) outgoingFile(ctx context.Context, m *store.Message, v *FileView) (*remoteFile, error) {
	rf := &remoteFile{FileID: v.FileID, Filename: v.Filename, Mime: v.Mime, Size: v.Size, DurationMS: v.DurationMS}
	f, err := s.store.GetFile(ctx, m.FileID)
	if err != nil {
		return nil, storeError(err)
	}
	rf.MaxPlays = f.MaxPlays
	if !f.ExpiresAt.IsZero() {
		rf.ExpiresAt = f.ExpiresAt.UnixMilli()
	}
	return rf, nil
}

// LocalMedia opens a local file for the server origin, which asks for it
// because one of its users received it: the file must be a local user's,
// sent in a conversation with a user of origin. It goes by the file's
// conversation, not its message: the message is queued (and may be
// fetched for) before the file record names it. A peer's fetch is not a
// play.
func (s *Service) LocalMedia(ctx context.Context, origin, fileID string) (*Download, error) {
	f, err := s.store.GetFile(ctx, fileID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (f.ConversationID == "" || serverOf(f.Owner) != s.opts.ServerName)) {
		return nil, NotFound("unknown file")
	}
	if err != nil {
		return nil, storeError(err)
	}
	c, err := s.store.GetConversation(ctx, f.ConversationID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (!isMember(c, f.Owner) || serverOf(peerOf(c, f.Owner)) != origin)) {
		return nil, NotFound("unknown file")
	}
	if err != nil {
		return nil, storeError(err)
	}
	if err := s.checkFileMessage(ctx, f); err != nil {
		return nil, err
	}
	if f.Kind == media.KindVoice && !f.ExpiresAt.IsZero() && !s.now().Before(f.ExpiresAt) {
		return nil, Gone("this voice message has expired")
	}
	dek, err := s.dataKey(ctx, f.KeyID, f.ID)
	if err != nil {
		return nil, err
	}
	name, err := openName(dek, f)
	if err != nil {
		return nil, err
	}
	return &Download{FileID: f.ID, Filename: name, Mime: f.Mime, Size: f.Size, Kind: f.Kind,
		Start: 0, End: f.Size, blobs: s.store.Blobs(), dek: dek}, nil
}

// receiveFile fetches the file of a ct.message from its origin, checks it
// as an upload is checked, seals it under our keys and stores the message.
func (s *Service) receiveFile(ctx context.Context, ev RemoteEvent, rcpt *store.User, c messageContent) error {
	fetcher, ok := s.outbound().(MediaFetcher)
	if !ok {
		return Unsupported("files and voice messages from other servers are not accepted here")
	}
	rf := c.File
	if rf == nil || rf.FileID == "" || len(rf.FileID) > maxRemoteFileID {
		return Invalid("a file message needs file.file_id (at most 128 bytes)")
	}
	kind := c.MsgType
	limit := s.opts.FileBytes
	if kind == media.KindVoice {
		limit = s.opts.VoiceBytes
	}
	if rf.Size <= 0 || rf.DurationMS < 0 || rf.MaxPlays < 0 {
		return Invalid("file size must be positive, duration_ms and max_plays not negative")
	}
	if rf.Size > limit {
		return TooLarge("the file is larger than the limit")
	}
	if kind == media.KindVoice && time.Duration(rf.DurationMS)*time.Millisecond > s.opts.VoiceMaxDuration {
		return TooLarge("the voice message is longer than the limit")
	}
	if _, err := s.store.GetMessageByTxn(ctx, ev.Sender, c.MessageID); err == nil {
		return nil // received before
	} else if !errors.Is(err, store.ErrNotFound) {
		return storeError(err)
	}
	rc, err := fetcher.FetchMedia(ctx, ev.Origin, rf.FileID)
	if err != nil {
		if isNotFound(err) {
			return NotFound("the origin does not have the file")
		}
		return Unavailable("the origin's media", err)
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, media.SniffLen)
	head, herr := br.Peek(media.SniffLen)
	if herr != nil && !errors.Is(herr, io.EOF) && !errors.Is(herr, bufio.ErrBufferFull) {
		return Unavailable("the origin's media", herr)
	}
	if len(head) == 0 {
		return Invalid("the file is empty")
	}
	mime, _, err := sniff(head, kind)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	conv := ConversationID(ev.Sender, rcpt.UserID)
	f := &store.File{ID: store.NewID(), ConversationID: conv, Owner: ev.Sender, Kind: kind, Mime: mime, CreatedAt: now}
	if kind == media.KindVoice {
		f.DurationMS, f.MaxPlays = rf.DurationMS, rf.MaxPlays
		if rf.ExpiresAt > 0 {
			f.ExpiresAt = time.UnixMilli(rf.ExpiresAt).UTC()
			if f.ExpiresAt.After(now.Add(maxVoiceExpiry)) {
				f.ExpiresAt = now.Add(maxVoiceExpiry)
			}
		}
	}
	keyID, dek, err := s.newDataKey(ctx, f.ID)
	if err != nil {
		return err
	}
	f.KeyID = keyID
	size, err := s.writeSealed(ctx, f.ID, dek, br, limit)
	if err != nil {
		s.discardFile(ctx, f.ID)
		return err
	}
	if size != rf.Size {
		s.discardFile(ctx, f.ID)
		return Invalid("the file's size is not the announced one")
	}
	f.Size = size
	name := media.SanitizeFilename(rf.Filename, mime)
	if f.Filename, err = sealName(dek, f.ID, name); err != nil {
		s.discardFile(ctx, f.ID)
		return Internal(err)
	}
	if err := s.store.PutFile(ctx, f); err != nil {
		s.discardFile(ctx, f.ID)
		return storeError(err)
	}
	body := sealedBody{File: &FileView{FileID: f.ID, Filename: name, Mime: mime, Size: size, DurationMS: f.DurationMS}}
	m, err := s.appendMessage(ctx, newMessage{sender: ev.Sender, recipient: rcpt.UserID, typ: kind, body: body, txnID: c.MessageID, fileID: f.ID})
	if err != nil {
		s.discardFile(ctx, f.ID)
		if errors.Is(err, store.ErrConflict) {
			return nil // a concurrent delivery of the same event won
		}
		return AsError(err)
	}
	f.MessageID = m.ID
	if err := s.store.UpdateFile(ctx, f); err != nil {
		return storeError(err)
	}
	return nil
}
