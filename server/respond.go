package server

import (
	"errors"
	"io"
	"math"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/internal/jsonx"
)

// errorBody is the contract's error shape.
type errorBody struct {
	Status  bool   `json:"status"`
	Errcode string `json:"errcode"`
	Msg     string `json:"msg"`
}

// errorHandler is the app's one error path: every error becomes the
// contract's JSON with a fitting status; causes go to the log only.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	var fe *fiber.Error
	var e *chat.Error
	switch {
	case errors.As(err, &e):
	case errors.As(err, &fe):
		e = fiberError(fe)
	default:
		e = chat.AsError(err)
	}
	if e.Status >= 500 {
		s.log.ErrorContext(c.UserContext(), "request failed", "request_id", requestID(c), "route", c.Route().Path, "err", err)
	}
	if e.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	return c.Status(e.Status).JSON(errorBody{Status: false, Errcode: e.Code, Msg: e.Msg})
}

func fiberError(fe *fiber.Error) *chat.Error {
	switch fe.Code {
	case fiber.StatusNotFound:
		return chat.NotFound("no such route")
	case fiber.StatusMethodNotAllowed:
		return &chat.Error{Status: fe.Code, Code: "CT_METHOD_NOT_ALLOWED", Msg: "method not allowed"}
	case fiber.StatusRequestEntityTooLarge:
		return chat.TooLarge("the request body is too large")
	case fiber.StatusBadRequest:
		return chat.Invalid("bad request")
	default:
		return &chat.Error{Status: fe.Code, Code: "CT_HTTP", Msg: fe.Message}
	}
}

// decode reads a JSON body within the JSON body limit and the depth limit.
func (s *Server) decode(c *fiber.Ctx, v any) error {
	return s.decodeWithin(c, v, int64(s.opts.JSONBodyBytes))
}

// decodeWithin is decode with a route's own body limit (avatars).
func (s *Server) decodeWithin(c *fiber.Ctx, v any, limit int64) error {
	b, err := s.readBody(c, limit)
	if err != nil {
		return err
	}
	if err := jsonx.Decode(b, v, s.opts.JSONDepth); err != nil {
		return chat.BadJSON(err.Error())
	}
	return nil
}

// localsBodyRead marks a request whose body was read to its end, so the
// connection can carry another request.
const localsBodyRead = "body_read"

// readBody reads at most limit bytes. Request bodies are streamed (so that
// uploads never sit in memory), which is why the limit is enforced here: a
// Content-Length over it is refused before a byte of the body is read, and
// a chunked body is cut at limit+1 bytes. Either way the rest stays unread
// and the connection is closed after the answer (see closeUnread).
func (s *Server) readBody(c *fiber.Ctx, limit int64) ([]byte, error) {
	if cl := c.Request().Header.ContentLength(); cl > 0 && int64(cl) > limit {
		return nil, tooLarge(limit)
	}
	r := c.Context().RequestBodyStream()
	if r == nil {
		b := c.Body()
		if int64(len(b)) > limit {
			return nil, tooLarge(limit)
		}
		c.Locals(localsBodyRead, true)
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, chat.Invalid("could not read the request body")
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(limit)
	}
	c.Locals(localsBodyRead, true)
	return b, nil
}

func tooLarge(limit int64) error {
	return chat.TooLarge("the request body is over " + strconv.FormatInt(limit, 10) + " bytes")
}

func ok(c *fiber.Ctx, fields fiber.Map) error {
	fields["status"] = true
	return c.JSON(fields)
}
