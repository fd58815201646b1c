package chat

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/mail"
	"strings"
	"sync"
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

// dummyHashes holds, per bcrypt cost, the hash compared against when the
// user is unknown, so that an unknown user and a wrong password cost the
// same time. It must have the configured cost: bcrypt's time doubles with
// each step, so a cheaper dummy tells an attacker which names exist.
var dummyHashes sync.Map // cost -> func() []byte

func dummyHash(cost int) []byte {
	f, _ := dummyHashes.LoadOrStore(cost, sync.OnceValue(func() []byte {
		h, err := bcrypt.GenerateFromPassword(prehash("crypttalk-timing-equaliser"), cost)
		if err != nil {
			panic(err) // cost was validated by config; a broken cost is a bug
		}
		return h
	}))
	return f.(func() []byte)()
}

// Credentials are the inputs of Register and Login.
type Credentials struct {
	Username string
	Email    string
	Password string
	// ClientIP is used for rate limits and shown as the device's last IP.
	ClientIP string
	// DeviceID names the device to open the session on (empty: a new
	// one); a device the user has gets a new token, the old one ends.
	DeviceID string
	// DisplayName names a new device (a known one keeps its name unless
	// one is given).
	DisplayName string
	// UserAgent is shown with the device.
	UserAgent string
}

// LoginResult is an opened session.
type LoginResult struct {
	User     *store.User
	Token    string
	DeviceID string
}

// checkDevice validates the device fields of a login or registration.
func (c Credentials) checkDevice() error {
	if c.DeviceID != "" {
		if err := validDeviceID(c.DeviceID); err != nil {
			return err
		}
	}
	return validDeviceName(c.DisplayName)
}

// Register creates an account and its first session.
func (s *Service) Register(ctx context.Context, c Credentials) (*store.User, string, error) {
	r, err := s.RegisterDevice(ctx, c)
	if err != nil {
		return nil, "", err
	}
	return r.User, r.Token, nil
}

// RegisterDevice is Register that also answers the first device's id.
func (s *Service) RegisterDevice(ctx context.Context, c Credentials) (*LoginResult, error) {
	if err := s.allow(ctx, "register:ip:"+c.ClientIP, s.opts.RegisterPerIP, s.opts.RegisterWindow); err != nil {
		return nil, err
	}
	localpart, err := validUsername(c.Username)
	if err != nil {
		return nil, err
	}
	email, err := validEmail(c.Email)
	if err != nil {
		return nil, err
	}
	if err := validPassword(c.Password); err != nil {
		return nil, err
	}
	if err := c.checkDevice(); err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword(prehash(c.Password), s.opts.BcryptCost)
	if err != nil {
		return nil, Internal(err)
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
			return nil, s.whichTaken(ctx, localpart)
		}
		return nil, storeError(err)
	}
	tok, dev, err := s.newSession(ctx, u, c)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "user registered", "user_id", u.UserID)
	return &LoginResult{User: u, Token: tok, DeviceID: dev}, nil
}

// whichTaken tells a name conflict from an email conflict.
func (s *Service) whichTaken(ctx context.Context, localpart string) error {
	if _, err := s.store.GetUserByLocalpart(ctx, localpart); err == nil {
		return Conflict(CodeUserTaken, "username already used")
	}
	return Conflict(CodeEmailTaken, "email already used")
}

// Login checks a username and password and opens a session. An unknown user
// and a wrong password get the same answer, after the same bcrypt work.
//
// Limits follow Synapse's rc_login: every attempt counts against the client
// IP, and failed attempts count against the (account, IP) pair, so a
// stranger guessing passwords never locks the owner out from elsewhere.
func (s *Service) Login(ctx context.Context, c Credentials) (*store.User, string, error) {
	r, err := s.LoginDevice(ctx, c)
	if err != nil {
		return nil, "", err
	}
	return r.User, r.Token, nil
}

// LoginDevice is Login that also answers the session's device id.
func (s *Service) LoginDevice(ctx context.Context, c Credentials) (*LoginResult, error) {
	u, err := s.checkLogin(ctx, c)
	if err != nil {
		return nil, err
	}
	tok, dev, err := s.newSession(ctx, u, c)
	if err != nil {
		return nil, err
	}
	return &LoginResult{User: u, Token: tok, DeviceID: dev}, nil
}

func (s *Service) checkLogin(ctx context.Context, c Credentials) (*store.User, error) {
	if err := s.allow(ctx, "login:ip:"+c.ClientIP, s.opts.LoginPerIP, s.opts.LoginWindow); err != nil {
		return nil, err
	}
	if err := c.checkDevice(); err != nil {
		return nil, err
	}
	localpart, err := canonicalUsername(strings.TrimSpace(c.Username))
	if err != nil || len(c.Password) > maxPassword {
		// No account can have this name: there is nothing to guess.
		return nil, Unauthorized("incorrect username or password")
	}
	failKey := "login:fail:" + localpart + ":" + c.ClientIP
	if err := s.check(ctx, failKey, s.opts.LoginPerUser, s.opts.LoginWindow); err != nil {
		return nil, err
	}
	u, err := s.store.GetUserByLocalpart(ctx, localpart)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, storeError(err)
	}
	hash := dummyHash(s.opts.BcryptCost)
	if u != nil {
		hash = u.PasswordHash
	}
	if bcrypt.CompareHashAndPassword(hash, prehash(c.Password)) != nil || u == nil {
		// Counted after the fact: this attempt is answered 401 either way.
		_ = s.allow(ctx, failKey, s.opts.LoginPerUser, s.opts.LoginWindow)
		return nil, Unauthorized("incorrect username or password")
	}
	if u.Deactivated {
		return nil, &Error{Status: 403, Code: CodeDeactivated, Msg: "this account is deactivated"}
	}
	return u, nil
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
	localpart, err := canonicalUsername(name)
	if err != nil {
		return "", Invalid("username may contain only letters, digits, '.', '_' and '-'")
	}
	return localpart, nil
}

// errBadUsername: the name cannot belong to any account.
var errBadUsername = errors.New("not a username")

// canonicalUsername is the one rule that maps a name to a localpart, for
// registration, login and every reference to a user (`to`, user ids,
// admin lookups): ASCII letters, digits, '.', '_' and '-', lower-cased in
// ASCII only. Unicode case folding would map 'İ' (U+0130) to 'i' and the
// Kelvin sign to 'k', so that "ALİCE" reached alice's account although no
// such name could ever be registered.
func canonicalUsername(name string) (string, error) {
	if name == "" || len(name) > maxUsername {
		return "", errBadUsername
	}
	b := []byte(name)
	for i, r := range b {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		case r >= 'A' && r <= 'Z':
			b[i] = r + ('a' - 'A')
		default:
			return "", errBadUsername
		}
	}
	return string(b), nil
}

// asciiLower lower-cases ASCII letters only (search prefixes, emails), for
// the same reason as canonicalUsername.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
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
	return asciiLower(email), nil
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

// allow counts one hit against a rate limit. It never fails open: the
// limiter counts on this node alone while a shared backend is away, and any
// error it still reports refuses the request.
func (s *Service) allow(ctx context.Context, key string, limit int, window time.Duration) error {
	return s.limit(ctx, key, limit, window, true)
}

// check is allow without counting (for limits on failed attempts).
func (s *Service) check(ctx context.Context, key string, limit int, window time.Duration) error {
	return s.limit(ctx, key, limit, window, false)
}

func (s *Service) limit(ctx context.Context, key string, limit int, window time.Duration, count bool) error {
	if s.limiter == nil || limit <= 0 || window <= 0 {
		return nil
	}
	f := s.limiter.Check
	if count {
		f = s.limiter.Allow
	}
	ok, retry, err := f(ctx, key, limit, window)
	if err != nil {
		s.log.WarnContext(ctx, "rate limiter failed; refusing", "err", err)
		return Unavailable("rate limiter", err)
	}
	if !ok {
		return RateLimited(retry)
	}
	return nil
}
