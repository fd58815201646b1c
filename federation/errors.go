package federation

import (
	"errors"
	"net/http"

	"github.com/crypttalk/crypttalk/federation/canonicaljson"
)

// Why a request or an event was refused. Test with errors.Is; the *Error
// that carries one also holds the HTTP status and errcode to answer with.
var (
	ErrBadJSON          = errors.New("not acceptable JSON")
	ErrMalformed        = errors.New("malformed")
	ErrTooLarge         = errors.New("too large")
	ErrBadAuthHeader    = errors.New("missing or malformed X-CryptTalk authorization")
	ErrWrongDestination = errors.New("destination is not this server")
	ErrWrongOrigin      = errors.New("origin does not match")
	ErrNotLocal         = errors.New("recipient is not on this server")
	ErrUnknownKey       = errors.New("unknown signing key")
	ErrKeyExpired       = errors.New("signing key not valid at that time")
	ErrBadSignature     = errors.New("signature does not verify")
	ErrBadHash          = errors.New("content hash does not match")
	ErrBadEventID       = errors.New("event id does not match the event")
	ErrBadConversation  = errors.New("conversation id is not the one of sender and recipient")
	ErrClock            = errors.New("timestamp too far in the future")
)

// Errcodes, the same strings as chat's (SPEC.md errors section).
const (
	codeBadJSON      = canonicaljson.ErrCode
	codeInvalid      = "CT_INVALID"
	codeUnauthorized = "CT_UNAUTHORIZED"
	codeForbidden    = "CT_FORBIDDEN"
	codeTooLarge     = "CT_TOO_LARGE"
)

// Error is a refusal the peer may see: Status and Code to answer with, a
// client-safe Msg, and Reason, one of the Err* values above. Requests that
// fail authentication get 401 CT_UNAUTHORIZED; events that fail their
// checks get 403 CT_FORBIDDEN (signature, origin, recipient), 400
// CT_INVALID (shape, hash, id) or 413; unacceptable JSON is always 400
// CT_BAD_JSON. The seam in chat/server turns it into a chat.Error.
type Error struct {
	Status int
	Code   string
	Reason error
	Msg    string
}

func (e *Error) Error() string { return e.Code + ": " + e.Msg }

// Unwrap exposes Reason to errors.Is.
func (e *Error) Unwrap() error { return e.Reason }

func badJSON(err error) *Error {
	return &Error{Status: http.StatusBadRequest, Code: codeBadJSON, Reason: ErrBadJSON, Msg: err.Error()}
}

func malformed(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: codeInvalid, Reason: ErrMalformed, Msg: msg}
}

func tooLarge(msg string) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: codeTooLarge, Reason: ErrTooLarge, Msg: msg}
}

func unauthorized(reason error, msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: codeUnauthorized, Reason: reason, Msg: msg}
}

func forbidden(reason error, msg string) *Error {
	return &Error{Status: http.StatusForbidden, Code: codeForbidden, Reason: reason, Msg: msg}
}

func invalid(reason error, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: codeInvalid, Reason: reason, Msg: msg}
}
