package chat

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/crypttalk/crypttalk/media"
	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/vault"
)

// Voice message expiry bounds (the seed's).
const (
	minVoiceExpiry = 5 * time.Minute
	maxVoiceExpiry = 24 * time.Hour
)

// PendingFile is an uploaded, encrypted blob whose message is not created
// yet: the multipart fields that follow the file part may still refuse it.
type PendingFile struct {
	file    *store.File
	dek     []byte
	measure time.Duration
	known   bool
}

// ReceiveFile seals an upload as it streams in and stores the blob. kind
// may be empty when the form names it only after the file part; the type
// is then decided from the bytes alone. Nothing is left behind on error.
func (s *Service) ReceiveFile(ctx context.Context, p *Principal, kind, filename string, body io.Reader) (*PendingFile, error) {
	if kind != "" && kind != media.KindFile && kind != media.KindVoice {
		return nil, Invalid("kind must be file or voice")
	}
	if err := s.allow(ctx, "upload:user:"+p.User.ID, s.opts.UploadPerUser, s.opts.UploadWindow); err != nil {
		return nil, err
	}
	if err := s.checkQuota(ctx, p, 0); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(body, media.SniffLen)
	head, herr := br.Peek(media.SniffLen)
	if herr != nil && !errors.Is(herr, io.EOF) && !errors.Is(herr, bufio.ErrBufferFull) {
		return nil, sourceError(herr)
	}
	if len(head) == 0 {
		return nil, Invalid("the file is empty")
	}
	mime, kind, err := sniff(head, kind)
	if err != nil {
		return nil, err
	}
	limit := s.opts.FileBytes
	if kind == media.KindVoice {
		limit = s.opts.VoiceBytes
	}
	f := &store.File{
		ID: store.NewID(), Owner: p.User.UserID, Kind: kind, Mime: mime,
		CreatedAt: s.now().UTC(),
	}
	keyID, dek, err := s.newDataKey(ctx, f.ID)
	if err != nil {
		return nil, err
	}
	f.KeyID = keyID
	meter := media.NewDurationMeter(mime)
	size, err := s.writeSealed(ctx, f.ID, dek, io.TeeReader(br, meter), limit)
	if err != nil {
		s.discardFile(ctx, f.ID)
		return nil, err
	}
	f.Size = size
	if err := s.checkQuota(ctx, p, size); err != nil {
		s.discardFile(ctx, f.ID)
		return nil, err
	}
	f.Filename, err = sealName(dek, f.ID, media.SanitizeFilename(filename, mime))
	if err != nil {
		s.discardFile(ctx, f.ID)
		return nil, Internal(err)
	}
	d, known := meter.Duration()
	return &PendingFile{file: f, dek: dek, measure: d, known: known}, nil
}

// sniff decides the mime type, and the kind when it was not given.
func sniff(head []byte, kind string) (string, string, error) {
	if kind != "" {
		mime, err := media.Sniff(head, kind)
		if err != nil {
			return "", "", Unsupported("this file type is not accepted")
		}
		return mime, kind, nil
	}
	for _, k := range []string{media.KindFile, media.KindVoice} {
		if mime, err := media.Sniff(head, k); err == nil {
			return mime, k, nil
		}
	}
	return "", "", Unsupported("this file type is not accepted")
}

var errTooLarge = errors.New("upload over the limit")

// CodeQuota is the errcode of an upload refused by the storage quota.
const CodeQuota = "CT_QUOTA_EXCEEDED"

// checkQuota refuses an upload once the caller's stored files plus adding
// bytes exceed the per-user quota. The check before the body is read stops
// a full account at once; the one after catches the upload that crosses
// the line. Concurrent uploads can overshoot by what they carry, which the
// upload rate limit bounds.
func (s *Service) checkQuota(ctx context.Context, p *Principal, adding int64) error {
	quota := s.opts.UploadQuotaBytes
	if quota <= 0 {
		return nil
	}
	used, err := s.store.FileUsage(ctx, p.User.UserID)
	if err != nil {
		return storeError(err)
	}
	if used+adding > quota || (adding == 0 && used >= quota) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeQuota, Msg: fmt.Sprintf(
			"your files use %d of your %d bytes of storage: delete a conversation or wait for unsent uploads to expire", used, quota)}
	}
	return nil
}

// sourceErr marks a failure to read the upload itself (a body cut short,
// a broken multipart part), as opposed to a failure to store it.
type sourceErr struct{ err error }

func (e sourceErr) Error() string { return e.err.Error() }
func (e sourceErr) Unwrap() error { return e.err }

type sourceReader struct{ r io.Reader }

func (s sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = sourceErr{err}
	}
	return n, err
}

// sourceError is the client's answer to an upload body that failed to
// read: its own *Error if the reader gave one (over the body limit), else
// a 400, because a truncated or malformed body is bad input.
func sourceError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Msg: "the upload was cut short or is malformed", Cause: err}
}

// writeSealed streams r through the vault into the blob store, failing as
// soon as more than limit plaintext bytes arrive.
func (s *Service) writeSealed(ctx context.Context, id string, dek []byte, r io.Reader, limit int64) (int64, error) {
	pr, pw := io.Pipe()
	type sealed struct {
		n   int64
		err error
	}
	done := make(chan sealed, 1)
	go func() {
		sw := vault.NewSealWriter(pw, dek, id)
		n, err := io.Copy(sw, io.LimitReader(sourceReader{r}, limit+1))
		switch {
		case err != nil:
		case n > limit:
			err = errTooLarge
		default:
			err = sw.Close()
		}
		done <- sealed{n, err}
		pw.CloseWithError(err)
	}()
	_, err := s.store.Blobs().WriteBlob(ctx, id, pr)
	pr.CloseWithError(err) // unblocks the sealer if the store gave up first
	res := <-done
	// The sealer's own error says best what went wrong: the store may
	// report the pipe's failure in its own words.
	var src sourceErr
	switch {
	case errors.Is(res.err, errTooLarge):
		return 0, TooLarge("the file is larger than the limit")
	case errors.As(res.err, &src):
		return 0, sourceError(src.err)
	case err != nil:
		return 0, AsError(fmt.Errorf("store blob: %w", err))
	case res.err != nil:
		return 0, AsError(fmt.Errorf("seal blob: %w", res.err))
	}
	return res.n, nil
}

// UploadFields are the form fields that complete an upload.
type UploadFields struct {
	From       string // optional; must be the caller
	To         string
	Kind       string
	DurationMS int64
	ExpiresIn  int64 // seconds, voice only
	MaxPlays   int64 // voice only
}

// UploadResult is the answer to an upload.
type UploadResult struct {
	FileID   string       `json:"file_id"`
	Filename string       `json:"filename"`
	Mime     string       `json:"mime"`
	Size     int64        `json:"size"`
	Msg      *MessageView `json:"msg"`
}

// CompleteUpload checks the fields, stores the file's record and, with a
// recipient, creates the file or voice message. On error the blob is
// removed.
func (s *Service) CompleteUpload(ctx context.Context, p *Principal, pf *PendingFile, fl UploadFields) (*UploadResult, error) {
	res, err := s.completeUpload(ctx, p, pf, fl)
	if err != nil {
		s.discardFile(ctx, pf.file.ID)
	}
	return res, err
}

func (s *Service) completeUpload(ctx context.Context, p *Principal, pf *PendingFile, fl UploadFields) (*UploadResult, error) {
	f := pf.file
	if err := CheckSelf(p, fl.From); err != nil {
		return nil, err
	}
	if fl.Kind != "" && fl.Kind != f.Kind {
		return nil, Unsupported("the file's content does not match kind " + fl.Kind)
	}
	if err := s.voiceRules(pf, fl); err != nil {
		return nil, err
	}
	var peer *store.User
	if fl.To != "" {
		var err error
		if peer, err = s.peerFor(ctx, p, fl.To); err != nil {
			return nil, err
		}
		f.ConversationID = ConversationID(p.User.UserID, peer.UserID)
	} else {
		// Unannounced: removed by purge unless a send-file announces it.
		f.PendingUntil = s.now().UTC().Add(s.opts.PendingUploadTTL)
	}
	if err := s.store.PutFile(ctx, f); err != nil {
		return nil, storeError(err)
	}
	name, _ := openName(pf.dek, f)
	res := &UploadResult{FileID: f.ID, Filename: name, Mime: f.Mime, Size: f.Size}
	if peer != nil {
		v, err := s.announce(ctx, p, peer, f, pf.dek)
		if err != nil {
			return nil, err
		}
		res.Msg = v
	}
	return res, nil
}

// voiceRules fills duration, expiry and plays of a voice message.
func (s *Service) voiceRules(pf *PendingFile, fl UploadFields) error {
	f := pf.file
	if f.Kind != media.KindVoice {
		if fl.ExpiresIn != 0 || fl.MaxPlays != 0 {
			return Invalid("expires_in and max_plays apply to voice messages only")
		}
		return nil
	}
	maxD := s.opts.VoiceMaxDuration
	d := time.Duration(fl.DurationMS) * time.Millisecond
	if pf.known {
		d = pf.measure
		if d > maxD {
			return TooLarge("the voice message is longer than the limit")
		}
	}
	if d < 0 {
		return Invalid("duration_ms must not be negative")
	}
	f.DurationMS = min(d, maxD).Milliseconds()
	if fl.ExpiresIn != 0 {
		e := time.Duration(fl.ExpiresIn) * time.Second
		if e < minVoiceExpiry || e > maxVoiceExpiry {
			return Invalid("expires_in must be between 300 and 86400 seconds")
		}
		f.ExpiresAt = f.CreatedAt.Add(e)
	}
	if fl.MaxPlays < 0 {
		return Invalid("max_plays must not be negative")
	}
	f.MaxPlays = fl.MaxPlays
	return nil
}

// AnnounceFile creates the message of an uploaded file that has none yet;
// for a file already announced it answers the existing message.
func (s *Service) AnnounceFile(ctx context.Context, p *Principal, to, fileID string) (*MessageView, error) {
	peer, err := s.peerFor(ctx, p, to)
	if err != nil {
		return nil, err
	}
	f, err := s.store.GetFile(ctx, fileID)
	conv := ConversationID(p.User.UserID, peer.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (f.Owner != p.User.UserID || (f.ConversationID != "" && f.ConversationID != conv))) {
		return nil, NotFound("unknown file")
	}
	if err != nil {
		return nil, storeError(err)
	}
	if f.MessageID != "" {
		m, err := s.store.GetMessage(ctx, f.MessageID)
		if err != nil {
			return nil, storeError(err)
		}
		return s.viewMessage(ctx, m, p.User.UserID)
	}
	dek, err := s.dataKey(ctx, f.KeyID, f.ID)
	if err != nil {
		return nil, err
	}
	f.ConversationID = conv
	return s.announce(ctx, p, peer, f, dek)
}

func (s *Service) announce(ctx context.Context, p *Principal, peer *store.User, f *store.File, dek []byte) (*MessageView, error) {
	name, err := openName(dek, f)
	if err != nil {
		return nil, err
	}
	body := sealedBody{File: &FileView{FileID: f.ID, Filename: name, Mime: f.Mime, Size: f.Size, DurationMS: f.DurationMS}}
	m, err := s.appendMessage(ctx, newMessage{sender: p.User.UserID, recipient: peer.UserID, typ: f.Kind, body: body, fileID: f.ID})
	if err != nil {
		return nil, AsError(err)
	}
	f.MessageID = m.ID
	f.PendingUntil = time.Time{}
	if err := s.store.UpdateFile(ctx, f); err != nil {
		return nil, storeError(err)
	}
	return s.viewMessage(ctx, m, p.User.UserID)
}

// DiscardUpload removes a received file that will not be completed.
func (s *Service) DiscardUpload(ctx context.Context, pf *PendingFile) { s.discardFile(ctx, pf.file.ID) }

// discardFile removes a file's blob, key and record; used on failed uploads
// and by purge.
func (s *Service) discardFile(ctx context.Context, id string) {
	ctx = context.WithoutCancel(ctx)
	if err := s.store.Blobs().DeleteBlob(ctx, id); err != nil {
		s.log.WarnContext(ctx, "blob not deleted", "file_id", id, "err", err)
	}
	if err := s.store.DeleteDataKeys(ctx, id); err != nil {
		s.log.WarnContext(ctx, "file key not deleted", "file_id", id, "err", err)
	}
	if err := s.store.DeleteFile(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.WarnContext(ctx, "file record not deleted", "file_id", id, "err", err)
	}
	s.keys.forgetOwner(id)
}

// The filename is content: it is stored sealed with the file's own key.
func sealName(dek []byte, fileID, name string) (string, error) {
	b, err := vault.Seal(dek, []byte(name), []byte("ct-filename\x00"+fileID))
	return base64.RawStdEncoding.EncodeToString(b), err
}

func openName(dek []byte, f *store.File) (string, error) {
	b, err := base64.RawStdEncoding.DecodeString(f.Filename)
	if err != nil {
		return "", Internal(err)
	}
	name, err := vault.Open(dek, b, []byte("ct-filename\x00"+f.ID))
	if err != nil {
		return "", Internal(err)
	}
	return string(name), nil
}
