// Package client is the Go client of Crypt-Talk's client API, REST and
// WebSocket, as docs/API.md describes it. The end-to-end tests and the load
// tool ctbench drive the server through it, so it stays exact: it sends what
// a caller asks, even odd input, and reports every non-2xx answer as an
// *APIError.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds one HTTP request of a Client made by New.
const DefaultTimeout = 60 * time.Second

// maxAnswer bounds the body of one HTTP answer the client reads: a full
// getmsg page is 200 messages of at most 16 KiB each, far below it.
const maxAnswer = 32 << 20

// ErrAnswerTooLarge is returned when an answer body exceeds the client's limit.
var ErrAnswerTooLarge = errors.New("client: answer body too large")

// sharedTransport keeps many idle connections per host. ctbench and the
// tests talk to one or two loopback nodes from many goroutines; with the
// default of 2 idle connections per host most requests would open a new TCP
// connection and fill the port range with TIME_WAIT sockets.
var sharedTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	return t
}()

// Client talks to one homeserver node as one user. Its methods may be called
// from several goroutines at once, except Register, Login and Logout, which
// set Token.
type Client struct {
	// BaseURL is the node's root, e.g. http://127.0.0.1:5000 (no trailing slash).
	BaseURL string
	// Token is the access token sent as a Bearer token; empty sends none.
	Token string
	// HTTP carries the REST calls; nil means a default client with
	// DefaultTimeout.
	HTTP *http.Client
	// EventBuffer is the capacity of the Events channel of each Conn that
	// Connect opens; 0 means DefaultEventBuffer. Tools holding thousands of
	// idle sockets lower it to save memory.
	EventBuffer int
}

// defaultHTTP serves clients whose HTTP is nil.
var defaultHTTP = &http.Client{Timeout: DefaultTimeout, Transport: sharedTransport}

// New returns a client without a token for baseURL.
func New(baseURL string) *Client {
	return &Client{
		BaseURL: strings.TrimRight(baseURL, "/"),
		HTTP:    &http.Client{Timeout: DefaultTimeout, Transport: sharedTransport},
	}
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

// WithBase returns a copy of c, same token, that talks to another node of
// the same server.
func WithBase(c *Client, baseURL string) *Client {
	cp := *c
	cp.BaseURL = strings.TrimRight(baseURL, "/")
	return &cp
}

// APIError is an error answer of the server: a non-2xx HTTP answer or a
// WebSocket error frame. Match it with errors.As.
type APIError struct {
	// Status is the HTTP status (for an error frame, the status it carries).
	Status int
	// Errcode is the stable code, e.g. CT_NOT_FOUND; empty when the answer
	// was not the contract's JSON (a proxy's error page, say).
	Errcode string
	// Msg is the server's human sentence, or the start of a foreign body.
	Msg string
	// RetryAfter is the Retry-After header of a 429 or 503, 0 if none.
	RetryAfter time.Duration
	// Body is the whole answer, for errors that carry more than errcode
	// and msg (a 503 from /readyz names the dependency that is down).
	Body []byte
}

// Error reads like "HTTP 404 CT_NOT_FOUND: no such user".
func (e *APIError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Errcode, e.Msg)
}

// Errcode returns the errcode of the *APIError in err's chain, or "" if
// there is none.
func Errcode(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Errcode
	}
	return ""
}

// errorBody is the contract's error object, also the data of an error
// frame. Status is false in an HTTP body and the HTTP status in a frame.
type errorBody struct {
	Errcode string          `json:"errcode"`
	Msg     string          `json:"msg"`
	Status  json.RawMessage `json:"status"`
}

// parseAPIError builds the error of a non-2xx answer.
func parseAPIError(status int, h http.Header, raw []byte) *APIError {
	e := &APIError{Status: status, RetryAfter: retryAfter(h.Get("Retry-After"), time.Now()), Body: raw}
	var body errorBody
	if json.Unmarshal(raw, &body) == nil && body.Errcode != "" {
		e.Errcode, e.Msg = body.Errcode, body.Msg
		return e
	}
	// Not ours (a proxy, a crash page): keep a readable start of it.
	const keep = 200
	if len(raw) > keep {
		raw = raw[:keep]
	}
	e.Msg = strings.TrimSpace(string(raw))
	return e
}

// retryAfter reads Retry-After as seconds or as an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Do sends one request and decodes a 2xx answer into out (nil: discard).
// body may be nil (no body), []byte, json.RawMessage or an io.Reader (sent
// as is, so tests can send malformed JSON), or any other value, which is
// sent as its JSON encoding. A non-2xx answer is returned as *APIError; other
// failures are wrapped with the method and path.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	_, err := c.doHeader(ctx, method, path, body, out)
	return err
}

// doHeader is Do that also answers the response headers (paging cursors
// travel there, so that list answers stay plain arrays).
func (c *Client) doHeader(ctx context.Context, method, path string, body, out any) (http.Header, error) {
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if len(raw) > maxAnswer {
		return nil, fmt.Errorf("%s %s: %w", method, path, ErrAnswerTooLarge)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, parseAPIError(resp.StatusCode, resp.Header, raw)
	}
	if out == nil || len(raw) == 0 {
		return resp.Header, nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return resp.Header, nil
}

func (c *Client) newRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case json.RawMessage:
		r = bytes.NewReader(b)
	case io.Reader:
		r = b
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("encode body: %w", err)
		}
		r = bytes.NewReader(enc)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}
