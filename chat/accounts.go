package chat

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/mail"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/crypttalk/crypttalk/store"
)

// Account limits.
const (
	minUsername = 3
	maxUsername = 32
	minPassword = 8
	maxPassword = 1024
	maxEmail    = 254
)

// dummyHash is compared against when the user is unknown, so that an
// unknown user and a wrong password cost the same time.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("crypttalk-timing-equaliser"), bcrypt.MinCost)

// Credentials are the inputs of Register and Login.
type Credentials struct {
	Username string
	Email    string
	Password string
	// ClientIP is used for rate limits only.
	ClientIP string
}

// Register creates an account and its first session.
func (s *Service) Register(ctx context.Context, c Credentials) (*store.User, string, error) {
	if err := s.allow(ctx, "register:ip:"+c.ClientIP, s.opts.RegisterPerIP, s.opts.RegisterWindow); err != nil {
		return nil, "", err
	}
	localpart, err := validUsername(c.Username)
	if err != nil {
		return nil, "", err
	}
	email, err := validEmail(c.Email)
	if err != nil {
		return nil, "", err
	}
	if err := validPassword(c.Password); err != nil {
		return nil, "", err
	}
	hash, err := bcrypt.GenerateFromPassword(prehash(c.Password), s.opts.BcryptCost)
	if err != nil {
		return nil, "", Internal(err)
	}
	u := &store.User{
		ID:           store.NewID(),
		UserID:       "@" + localpart + ":" + s.opts.ServerName,
		Username:     c.Username,
		Localpart:    localpart,
		Email:        email,
		PasswordHash: hash,
		CreatedAt:    s.now().UTC(),
	}
	if err := s.store.PutUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, "", s.whichTaken(ctx, localpart)
		}
		return nil, "", storeError(err)
	}
	tok, err := s.newSession(ctx, u)
	if err != nil {
		return nil, "", err
	}
	s.log.InfoContext(ctx, "user registered", "user_id", u.UserID)
	return u, tok, nil
}

// whichTaken tells a name conflict from an email conflict.
func (s *Service) whichTaken(ctx context.Context, localpart string) error {
	if _, err := s.store.GetUserByLocalpart(ctx, localpart); err == nil {
		return Conflict(CodeUserTaken, "username already used")
	}
	return Conflict(CodeEmailTaken, "email already used")
}

// Login checks a username and password and opens a session. An unknown user
// and a wrong password get the same answer.
func (s *Service) Login(ctx context.Context, c Credentials) (*store.User, string, error) {
	localpart := strings.ToLower(strings.TrimSpace(c.Username))
	if err := s.allow(ctx, "login:ip:"+c.ClientIP, s.opts.LoginPerIP, s.opts.LoginWindow); err != nil {
		return nil, "", err
	}
	if len(localpart) > maxUsername || len(c.Password) > maxPassword {
		return nil, "", Unauthorized("incorrect username or password")
	}
	if err := s.allow(ctx, "login:user:"+localpart, s.opts.LoginPerUser, s.opts.LoginWindow); err != nil {
		return nil, "", err
	}
	u, err := s.store.GetUserByLocalpart(ctx, localpart)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, "", storeError(err)
	}
	hash := dummyHash
	if u != nil {
		hash = u.PasswordHash
	}
	if bcrypt.CompareHashAndPassword(hash, prehash(c.Password)) != nil || u == nil {
		return nil, "", Unauthorized("incorrect username or password")
	}
	if u.Deactivated {
		return nil, "", &Error{Status: 403, Code: CodeDeactivated, Msg: "this account is deactivated"}
	}
	tok, err := s.newSession(ctx, u)
	if err != nil {
		return nil, "", err
	}
	return u, tok, nil
}

// prehash maps a password of any length to 44 bytes before bcrypt, which
// would otherwise silently ignore everything past 72 bytes.
func prehash(password string) []byte {
	sum := sha256.Sum256([]byte(password))
	return []byte(base64.StdEncoding.EncodeToString(sum[:]))
}

func validUsername(name string) (string, error) {
	if len(name) < minUsername || len(name) > maxUsername {
		return "", Invalid("username must be 3 to 32 characters")
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return "", Invalid("username may contain only letters, digits, '.', '_' and '-'")
		}
	}
	return strings.ToLower(name), nil
}

func validEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	if email == "" || len(email) > maxEmail {
		return "", Invalid("a valid email address is required")
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || !strings.Contains(email[strings.LastIndexByte(email, '@')+1:], ".") {
		return "", Invalid("a valid email address is required")
	}
	return strings.ToLower(email), nil
}

func validPassword(p string) error {
	if len(p) < minPassword {
		return Invalid("password must be at least 8 characters")
	}
	if len(p) > maxPassword {
		return Invalid("password must be at most 1024 bytes")
	}
	return nil
}

// allow applies one rate limit; a limiter failure lets the request through
// (a Redis outage must not lock everybody out) but is logged.
func (s *Service) allow(ctx context.Context, key string, limit int, window time.Duration) error {
	if s.limiter == nil || limit <= 0 || window <= 0 {
		return nil
	}
	ok, retry, err := s.limiter.Allow(ctx, key, limit, window)
	if err != nil {
		s.log.WarnContext(ctx, "rate limiter unavailable", "err", err)
		return nil
	}
	if !ok {
		return RateLimited(retry)
	}
	return nil
}
