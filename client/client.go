// Package client is the Go client of Crypt-Talk's client API (REST and
// WebSocket), used by the end-to-end tests and by ctbench. It follows
// docs/API.md exactly.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Client talks to one homeserver as one user.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// New returns a client for baseURL (e.g. http://127.0.0.1:5000).
func New(baseURL string) *Client {
	return &Client{BaseURL: baseURL, HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// WithBase returns a copy of c, same token, talking to another node.
func WithBase(c *Client, baseURL string) *Client {
	cp := *c
	cp.BaseURL = baseURL
	return &cp
}

// APIError is a non-2xx answer.
type APIError struct {
	Status     int
	Errcode    string
	Msg        string
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Errcode, e.Msg)
}

// User is the contract's `user`.
type User struct {
	ID               string `json:"_id"`
	UserID           string `json:"user_id"`
	Username         string `json:"username"`
	Email            string `json:"email"`
	AvatarImage      string `json:"avatarImage"`
	IsAvatarImageSet bool   `json:"isAvatarImageSet"`
	Online           bool   `json:"online"`
}

// FileInfo is the `file` of a file or voice message.
type FileInfo struct {
	FileID     string `json:"file_id"`
	Filename   string `json:"filename"`
	Mime       string `json:"mime"`
	Size       int64  `json:"size"`
	DurationMS int64  `json:"duration_ms"`
}

// Message is the contract's `message`.
type Message struct {
	ID             string     `json:"_id"`
	Seq            int64      `json:"seq"`
	ConversationID string     `json:"conversation_id"`
	From           string     `json:"from"`
	To             string     `json:"to"`
	FromSelf       bool       `json:"fromSelf"`
	Type           string     `json:"type"`
	Message        string     `json:"message"`
	File           *FileInfo  `json:"file"`
	CreatedAt      time.Time  `json:"createdAt"`
	ExpiresAt      *time.Time `json:"expiresAt"`
}

// Timer is a conversation's self-destruct timer.
type Timer struct {
	Seconds int64  `json:"seconds"`
	Mode    string `json:"mode"`
}

// Conversation is one entry of GET /api/conversations.
type Conversation struct {
	ConversationID string   `json:"conversation_id"`
	Peer           User     `json:"peer"`
	LastMessage    *Message `json:"last_message"`
	Unread         int      `json:"unread"`
	LastSeq        int64    `json:"last_seq"`
	ReadSeq        int64    `json:"read_seq"`
	Timer          Timer    `json:"timer"`
}

// Do sends a JSON request (body may be nil) and decodes a 2xx answer into
// out (may be nil). Non-2xx answers are *APIError.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return apiError(resp, raw)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

func apiError(resp *http.Response, raw []byte) error {
	e := &APIError{Status: resp.StatusCode}
	var body struct {
		Errcode string `json:"errcode"`
		Msg     string `json:"msg"`
	}
	if json.Unmarshal(raw, &body) == nil {
		e.Errcode, e.Msg = body.Errcode, body.Msg
	} else {
		e.Msg = string(raw)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

type authAnswer struct {
	User  User   `json:"user"`
	Token string `json:"token"`
}

// Register creates an account and keeps its token.
func (c *Client) Register(ctx context.Context, username, email, password string) (*User, error) {
	var a authAnswer
	if err := c.Do(ctx, "POST", "/api/auth/register", map[string]string{"username": username, "email": email, "password": password}, &a); err != nil {
		return nil, err
	}
	c.Token = a.Token
	return &a.User, nil
}

// Login opens a session and keeps its token.
func (c *Client) Login(ctx context.Context, username, password string) (*User, error) {
	var a authAnswer
	if err := c.Do(ctx, "POST", "/api/auth/login", map[string]string{"username": username, "password": password}, &a); err != nil {
		return nil, err
	}
	c.Token = a.Token
	return &a.User, nil
}

// Logout revokes the token.
func (c *Client) Logout(ctx context.Context) error {
	if err := c.Do(ctx, "POST", "/api/auth/logout", nil, nil); err != nil {
		return err
	}
	c.Token = ""
	return nil
}

// Me returns the caller.
func (c *Client) Me(ctx context.Context) (*User, error) {
	var a struct {
		User User `json:"user"`
	}
	if err := c.Do(ctx, "GET", "/api/auth/me", nil, &a); err != nil {
		return nil, err
	}
	return &a.User, nil
}

// AllUsers lists everyone but the caller (userID must be the caller).
func (c *Client) AllUsers(ctx context.Context, userID, q, after string, limit int) ([]User, error) {
	path := "/api/auth/allusers/" + pathEscape(userID) + "?q=" + queryEscape(q) + "&after=" + queryEscape(after)
	if limit > 0 {
		path += "&limit=" + strconv.Itoa(limit)
	}
	var out []User
	return out, c.Do(ctx, "GET", path, nil, &out)
}

// SetAvatar sets the caller's avatar (a data URL or base64).
func (c *Client) SetAvatar(ctx context.Context, userID, image string) error {
	return c.Do(ctx, "POST", "/api/auth/setavatar/"+pathEscape(userID), map[string]string{"image": image}, nil)
}

// AddMsg sends a text message over REST.
func (c *Client) AddMsg(ctx context.Context, to, text, txnID string) (*Message, error) {
	var a struct {
		Msg Message `json:"msg"`
	}
	body := map[string]string{"to": to, "message": text}
	if txnID != "" {
		body["txn_id"] = txnID
	}
	if err := c.Do(ctx, "POST", "/api/messages/addmsg", body, &a); err != nil {
		return nil, err
	}
	return &a.Msg, nil
}

// GetMsgRequest pages through a conversation.
type GetMsgRequest struct {
	To        string `json:"to"`
	BeforeSeq int64  `json:"before_seq,omitempty"`
	AfterSeq  int64  `json:"after_seq,omitempty"`
	Limit     int    `json:"limit,omitempty"`
}

// GetMsg returns messages, oldest first.
func (c *Client) GetMsg(ctx context.Context, r GetMsgRequest) ([]Message, error) {
	var out []Message
	return out, c.Do(ctx, "POST", "/api/messages/getmsg", r, &out)
}

// Conversations lists the caller's conversations.
func (c *Client) Conversations(ctx context.Context) ([]Conversation, error) {
	var out []Conversation
	return out, c.Do(ctx, "GET", "/api/conversations", nil, &out)
}
