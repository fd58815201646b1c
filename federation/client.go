package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/vault"
)

// Response size limits of outbound requests.
const (
	MaxKeyDocBytes     = 64 << 10
	MaxTxnResultBytes  = 1 << 20 // 50 results with messages of up to a few KiB each
	MaxProfileBytes    = 512 << 10
	MaxTransactionBody = (MaxTransactionEvents + 1) * MaxEventSize
)

// PeerError is a peer's refusal: its HTTP status and the errcode and msg
// of its error body, when it had one.
type PeerError struct {
	Server     string
	Status     int
	Code, Msg  string
	RetryAfter time.Duration
}

func (e *PeerError) Error() string {
	return fmt.Sprintf("federation: %s answered %d %s: %s", e.Server, e.Status, e.Code, e.Msg)
}

// Client makes signed requests to other servers.
type Client struct {
	ServerName string
	Resolver   *Resolver
	keys       atomic.Pointer[vault.SigningKeys]
}

// NewClient signs with keys (SetKeys swaps them after a rotation).
func NewClient(serverName string, keys *vault.SigningKeys, r *Resolver) *Client {
	c := &Client{ServerName: serverName, Resolver: r}
	c.keys.Store(keys)
	return c
}

// SetKeys replaces the signing keys.
func (c *Client) SetKeys(k *vault.SigningKeys) { c.keys.Store(k) }

// Keys are the current signing keys.
func (c *Client) Keys() *vault.SigningKeys { return c.keys.Load() }

// Do sends a request to dest, signed when sign is set, and returns the
// body of a 2xx answer read within limit bytes; any other answer is a
// *PeerError.
func (c *Client) Do(ctx context.Context, dest, method, pathQuery string, body []byte, sign bool, limit int64) ([]byte, error) {
	resp, err := c.open(ctx, dest, method, pathQuery, body, sign)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("federation: answer of %s over %d bytes", dest, limit)
	}
	return b, nil
}

// open sends the request and returns a 2xx response with its body unread;
// any other answer is a *PeerError.
func (c *Client) open(ctx context.Context, dest, method, pathQuery string, body []byte, sign bool) (*http.Response, error) {
	t, err := c.Resolver.Resolve(ctx, dest)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(t.BaseURL + pathQuery)
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if sign {
		h, err := SignRequest(c.Keys().Active(), Request{Method: method, URI: u.RequestURI(), Origin: c.ServerName, Destination: dest, Content: body})
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", h)
	}
	resp, err := c.Resolver.Client(t).Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	pe := &PeerError{Server: dest, Status: resp.StatusCode}
	var eb struct {
		Errcode string `json:"errcode"`
		Msg     string `json:"msg"`
	}
	if json.Unmarshal(b, &eb) == nil {
		pe.Code, pe.Msg = eb.Errcode, truncate(eb.Msg, 200)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		pe.RetryAfter = time.Duration(min(s, 3600)) * time.Second
	}
	return nil, pe
}

// FetchMedia gets a file of origin for one of our users (signed GET
// /media/{fileId}); the caller reads and closes the body, and checks size
// and type. A peer's 404 is a *chat.Error NotFound.
func (c *Client) FetchMedia(ctx context.Context, origin, fileID string) (io.ReadCloser, error) {
	resp, err := c.open(ctx, origin, http.MethodGet, "/_crypttalk/federation/v1/media/"+url.PathEscape(fileID), nil, true)
	var pe *PeerError
	if errors.As(err, &pe) && pe.Status == http.StatusNotFound {
		return nil, chat.NotFound("the origin has no such file")
	}
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// TxnResults is the answer to PUT /send/{txnId}: per event id, nil for an
// accepted event or the refusal.
type TxnResults map[string]*EventResult

// EventResult is one event's refusal in a transaction's answer.
type EventResult struct {
	Errcode string `json:"errcode,omitempty"`
	Msg     string `json:"msg,omitempty"`
}

// SendTransaction puts one transaction to dest.
func (c *Client) SendTransaction(ctx context.Context, dest, txnID string, events []*Event) (TxnResults, error) {
	body, err := BuildTransaction(c.ServerName, time.Now(), events)
	if err != nil {
		return nil, err
	}
	b, err := c.Do(ctx, dest, http.MethodPut, "/_crypttalk/federation/v1/send/"+url.PathEscape(txnID), body, true, MaxTxnResultBytes)
	if err != nil {
		return nil, err
	}
	var ans struct {
		Results map[string]EventResult `json:"results"`
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		return nil, fmt.Errorf("federation: transaction answer of %s: %w", dest, err)
	}
	out := TxnResults{}
	for id, r := range ans.Results {
		if r.Errcode != "" {
			out[id] = &r
		} else {
			out[id] = nil
		}
	}
	return out, nil
}

// QueryProfile asks userID's server for the user's profile. A peer's 404
// is a *chat.Error NotFound (the user does not exist there).
func (c *Client) QueryProfile(ctx context.Context, userID string) (chat.ProfileView, error) {
	dest := ServerOf(userID)
	if dest == "" {
		return chat.ProfileView{}, chat.Invalid("not a user id: " + userID)
	}
	b, err := c.Do(ctx, dest, http.MethodGet, "/_crypttalk/federation/v1/query/profile?user_id="+url.QueryEscape(userID), nil, true, MaxProfileBytes)
	if errors.Is(err, ErrServerNotAllowed) {
		return chat.ProfileView{}, chat.NotFound("federation with " + dest + " is not allowed")
	}
	var pe *PeerError
	if errors.As(err, &pe) && pe.Status == http.StatusNotFound && pe.Code == chat.CodeNotFound {
		return chat.ProfileView{}, chat.NotFound("unknown user")
	}
	if err != nil {
		return chat.ProfileView{}, err
	}
	var p chat.ProfileView
	if err := json.Unmarshal(b, &p); err != nil {
		return chat.ProfileView{}, fmt.Errorf("federation: profile answer of %s: %w", dest, err)
	}
	if p.UserID != userID {
		return chat.ProfileView{}, errors.New("federation: profile answer is about " + p.UserID + ", not " + userID)
	}
	return p, nil
}

// FetchKeys gets and verifies server's key document.
func (c *Client) FetchKeys(ctx context.Context, server string) (*ServerKeys, error) {
	b, err := c.Do(ctx, server, http.MethodGet, "/_crypttalk/key/v1/server", nil, false, MaxKeyDocBytes)
	if err != nil {
		return nil, err
	}
	return ParseServerKeys(b, server)
}
