package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
)

const maxFieldBytes = 1024

var errBodyTooLarge = chat.TooLarge("the request body is too large")

// upload streams a multipart upload into the vault: the file part is
// sealed as it arrives, so no plaintext reaches memory beyond a few chunks
// or any disk.
func (s *Server) upload(c *fiber.Ctx) error {
	mt, params, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return chat.Unsupported("uploads must be multipart/form-data")
	}
	if cl := c.Request().Header.ContentLength(); cl > s.opts.BodyBytes {
		return errBodyTooLarge
	}
	body := c.Context().RequestBodyStream()
	if body == nil {
		body = bytes.NewReader(c.Body())
	}
	lr := &limitReader{r: body, left: int64(s.opts.BodyBytes)}
	defer drain(lr)
	ctx := c.UserContext()
	p := principal(c)
	fields, pending, err := s.readParts(ctx, p, multipart.NewReader(lr, params["boundary"]))
	if err != nil {
		if pending != nil {
			s.svc.DiscardUpload(ctx, pending)
		}
		return err
	}
	fl, err := uploadFields(fields)
	if err != nil {
		s.svc.DiscardUpload(ctx, pending)
		return err
	}
	res, err := s.svc.CompleteUpload(ctx, p, pending, fl)
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"file_id": res.FileID, "filename": res.Filename, "mime": res.Mime, "size": res.Size, "msg": res.Msg})
}

// readParts reads the form: small fields into a map, the one file part
// through chat.ReceiveFile.
func (s *Server) readParts(ctx context.Context, p *chat.Principal, mr *multipart.Reader) (map[string]string, *chat.PendingFile, error) {
	fields := map[string]string{}
	var pending *chat.PendingFile
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, pending, multipartError(err)
		}
		name := part.FormName()
		if name != "file" {
			v, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil || len(v) > maxFieldBytes {
				return nil, pending, chat.Invalid("form field " + name + " is malformed or too long")
			}
			fields[name] = string(v)
			continue
		}
		if pending != nil {
			return nil, pending, chat.Invalid("one file per upload")
		}
		if pending, err = s.svc.ReceiveFile(ctx, p, fields["kind"], part.FileName(), part); err != nil {
			return nil, nil, multipartError(err)
		}
	}
	if pending == nil {
		return nil, nil, chat.Invalid("the form has no file part")
	}
	return fields, pending, nil
}

func multipartError(err error) error {
	var e *chat.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, errBodyTooLarge):
		return errBodyTooLarge
	default:
		return chat.Invalid("malformed multipart body")
	}
}

func uploadFields(f map[string]string) (chat.UploadFields, error) {
	out := chat.UploadFields{To: f["to"], Kind: f["kind"]}
	for name, dst := range map[string]*int64{"duration_ms": &out.DurationMS, "expires_in": &out.ExpiresIn, "max_plays": &out.MaxPlays} {
		v := strings.TrimSpace(f[name])
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return out, chat.Invalid(name + " must be an integer")
		}
		*dst = n
	}
	if f["from"] != "" {
		out.From = f["from"]
	}
	return out, nil
}

// limitReader fails with errBodyTooLarge instead of a silent EOF.
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// drain reads what is left of a refused body (within the limit) so the
// client sees the answer instead of a reset connection.
func drain(r io.Reader) { _, _ = io.Copy(io.Discard, r) }

func (s *Server) download(c *fiber.Ctx) error { return s.sendFile(c, false) }

// preview shows images inline for the client's thumbnails; never SVG (not
// an accepted file type at all) and never other types.
func (s *Server) preview(c *fiber.Ctx) error { return s.sendFile(c, true) }

func (s *Server) sendFile(c *fiber.Ctx, inline bool) error {
	head := c.Method() == fiber.MethodHead
	d, err := s.svc.OpenFile(c.UserContext(), principal(c), param(c, "fileId"), chat.Read{Range: c.Get(fiber.HeaderRange), Head: head})
	var rerr *chat.RangeError
	if errors.As(err, &rerr) {
		c.Set(fiber.HeaderContentRange, "bytes */"+strconv.FormatInt(rerr.Size, 10))
	}
	if err != nil {
		return err
	}
	if inline && !isRasterImage(d.Mime) {
		return chat.Unsupported("only images have a preview")
	}
	start, end := d.Start, d.End
	length := end - start
	disposition := "attachment"
	if inline {
		disposition = "inline"
	}
	setHeaders := func() {
		c.Set(fiber.HeaderContentType, d.Mime)
		c.Set(fiber.HeaderContentDisposition, disposition+"; filename*=UTF-8''"+url.PathEscape(d.Filename))
		c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; sandbox")
		c.Set(fiber.HeaderAcceptRanges, "bytes")
		c.Set(fiber.HeaderCacheControl, "private, no-store")
		if d.Partial {
			c.Status(fiber.StatusPartialContent)
			c.Set(fiber.HeaderContentRange, "bytes "+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(end-1, 10)+"/"+strconv.FormatInt(d.Size, 10))
		}
	}
	if head {
		// Headers only: the blob is not even opened.
		setHeaders()
		c.Response().Header.SetContentLength(int(length))
		c.Response().SkipBody = true
		return nil
	}
	rc, err := d.Open(c.UserContext(), start)
	if err != nil {
		return err
	}
	// Read the first piece before any header goes out: a blob damaged at
	// its start is an error answer, not a truncated success.
	first := make([]byte, min(length, 64<<10))
	if _, err := io.ReadFull(rc, first); err != nil {
		rc.Close()
		return &chat.Error{Status: 500, Code: "CT_FILE_CORRUPT", Msg: "the stored file failed its integrity check", Cause: err}
	}
	setHeaders()
	body := io.MultiReader(bytes.NewReader(first), io.LimitReader(rc, length-int64(len(first))))
	return c.SendStream(struct {
		io.Reader
		io.Closer
	}{body, rc}, int(length))
}

func isRasterImage(m string) bool {
	switch m {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return true
	}
	return false
}
