package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// authAnswer is the answer of register and login.
type authAnswer struct {
	User  User   `json:"user"`
	Token string `json:"token"`
}

// Register creates an account and keeps its token in c.Token.
func (c *Client) Register(ctx context.Context, username, email, password string) (*User, error) {
	body := map[string]string{"username": username, "email": email, "password": password}
	return c.authenticate(ctx, "/api/auth/register", body)
}

// Login opens a session and keeps its token in c.Token.
func (c *Client) Login(ctx context.Context, username, password string) (*User, error) {
	body := map[string]string{"username": username, "password": password}
	return c.authenticate(ctx, "/api/auth/login", body)
}

func (c *Client) authenticate(ctx context.Context, path string, body map[string]string) (*User, error) {
	var a authAnswer
	if err := c.Do(ctx, http.MethodPost, path, body, &a); err != nil {
		return nil, err
	}
	c.Token = a.Token
	return &a.User, nil
}

// Logout revokes the token on every node and forgets it.
func (c *Client) Logout(ctx context.Context) error {
	if err := c.Do(ctx, http.MethodPost, "/api/auth/logout", nil, nil); err != nil {
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
	if err := c.Do(ctx, http.MethodGet, "/api/auth/me", nil, &a); err != nil {
		return nil, err
	}
	return &a.User, nil
}

// AllUsers lists everyone but the caller, ordered by localpart. userID must
// name the caller (either id form). q filters, after is the last localpart
// of the previous page ("" for the first), limit 0 means the server's default.
func (c *Client) AllUsers(ctx context.Context, userID, q, after string, limit int) ([]User, error) {
	v := url.Values{}
	if q != "" {
		v.Set("q", q)
	}
	if after != "" {
		v.Set("after", after)
	}
	if limit != 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	path := "/api/auth/allusers/" + url.PathEscape(userID)
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out []User
	if err := c.Do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// SetAvatar sets the caller's avatar from a data URL or bare base64 image.
func (c *Client) SetAvatar(ctx context.Context, userID, image string) error {
	path := "/api/auth/setavatar/" + url.PathEscape(userID)
	return c.Do(ctx, http.MethodPost, path, map[string]string{"image": image}, nil)
}

// AddMsg sends a text message over REST. A non-empty txnID makes a retry
// safe: the same txnID from the same user is stored once.
func (c *Client) AddMsg(ctx context.Context, to, text, txnID string) (*Message, error) {
	body := struct {
		To      string `json:"to"`
		Message string `json:"message"`
		TxnID   string `json:"txn_id,omitempty"`
	}{to, text, txnID}
	var a struct {
		Msg Message `json:"msg"`
	}
	if err := c.Do(ctx, http.MethodPost, "/api/messages/addmsg", body, &a); err != nil {
		return nil, err
	}
	return &a.Msg, nil
}

// GetMsg returns one page of the conversation with r.To, oldest first.
func (c *Client) GetMsg(ctx context.Context, r GetMsgRequest) ([]Message, error) {
	var out []Message
	if err := c.Do(ctx, http.MethodPost, "/api/messages/getmsg", r, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Conversations lists the caller's conversations, most recent first.
func (c *Client) Conversations(ctx context.Context) ([]Conversation, error) {
	var out []Conversation
	if err := c.Do(ctx, http.MethodGet, "/api/conversations", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// SetTimer sets the self-destruct timer of the conversation with peer
// (seconds 0 turns it off, mode may then be empty) and returns it.
func (c *Client) SetTimer(ctx context.Context, peer string, t Timer) (*Timer, error) {
	var out Timer
	path := "/api/conversations/" + url.PathEscape(peer) + "/timer"
	if err := c.Do(ctx, http.MethodPut, path, t, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteConversation destroys the conversation with peer for both sides.
func (c *Client) DeleteConversation(ctx context.Context, peer string) error {
	return c.Do(ctx, http.MethodDelete, "/api/conversations/"+url.PathEscape(peer), nil, nil)
}
