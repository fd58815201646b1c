package chat

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Error is a failure the client may see: an HTTP status, a stable errcode
// and a client-safe sentence. The cause (if any) is for the log only.
type Error struct {
	Status     int
	Code       string
	Msg        string
	RetryAfter time.Duration
	Cause      error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Msg, e.Cause)
	}
	return e.Code + ": " + e.Msg
}

// Unwrap exposes the cause to errors.Is / errors.As.
func (e *Error) Unwrap() error { return e.Cause }

// Errcodes of the contract (SPEC.md).
const (
	CodeBadJSON      = "CT_BAD_JSON"
	CodeInvalid      = "CT_INVALID"
	CodeUnauthorized = "CT_UNAUTHORIZED"
	CodeForbidden    = "CT_FORBIDDEN"
	CodeNotFound     = "CT_NOT_FOUND"
	CodeConflict     = "CT_CONFLICT"
	CodeTooLarge     = "CT_TOO_LARGE"
	CodeUnsupported  = "CT_UNSUPPORTED_TYPE"
	CodeRateLimited  = "CT_RATE_LIMITED"
	CodeUnavailable  = "CT_UNAVAILABLE"
	CodeGone         = "CT_GONE"
	CodeDeactivated  = "CT_USER_DEACTIVATED"
	CodeUserTaken    = "CT_USER_IN_USE"
	CodeEmailTaken   = "CT_EMAIL_IN_USE"
	CodeUnknownEvent = "CT_UNKNOWN_EVENT"
	CodeInternal     = "CT_INTERNAL"
	// CodeE2EERequired: plaintext into an end-to-end encrypted
	// conversation (403); no silent downgrade.
	CodeE2EERequired = "CT_E2EE_REQUIRED"
)

func newErr(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Msg: msg}
}

// Invalid is a 400 for bad input.
func Invalid(msg string) *Error { return newErr(http.StatusBadRequest, CodeInvalid, msg) }

// BadJSON is a 400 for a body or frame that is not acceptable JSON.
func BadJSON(msg string) *Error { return newErr(http.StatusBadRequest, CodeBadJSON, msg) }

// Unauthorized is a 401: no, unknown or expired token.
func Unauthorized(msg string) *Error { return newErr(http.StatusUnauthorized, CodeUnauthorized, msg) }

// Forbidden is a 403.
func Forbidden(msg string) *Error { return newErr(http.StatusForbidden, CodeForbidden, msg) }

// NotFound is a 404.
func NotFound(msg string) *Error { return newErr(http.StatusNotFound, CodeNotFound, msg) }

// Conflict is a 409.
func Conflict(code, msg string) *Error { return newErr(http.StatusConflict, code, msg) }

// TooLarge is a 413.
func TooLarge(msg string) *Error { return newErr(http.StatusRequestEntityTooLarge, CodeTooLarge, msg) }

// Unsupported is a 415.
func Unsupported(msg string) *Error {
	return newErr(http.StatusUnsupportedMediaType, CodeUnsupported, msg)
}

// Gone is a 410 (expired or played-out voice message).
func Gone(msg string) *Error { return newErr(http.StatusGone, CodeGone, msg) }

// RateLimited is a 429 with the time the client should wait.
func RateLimited(retry time.Duration) *Error {
	e := newErr(http.StatusTooManyRequests, CodeRateLimited, "too many requests, slow down")
	e.RetryAfter = retry
	return e
}

// Unavailable is a 503: a dependency is down.
func Unavailable(what string, cause error) *Error {
	e := newErr(http.StatusServiceUnavailable, CodeUnavailable, what+" is unavailable, try again shortly")
	e.Cause = cause
	return e
}

// Internal is a 500 that hides its cause from the client.
func Internal(cause error) *Error {
	e := newErr(http.StatusInternalServerError, CodeInternal, "internal error")
	e.Cause = cause
	return e
}

// AsError converts any error into an *Error, mapping store failures.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return storeError(err)
}
