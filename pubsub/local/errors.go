package local

import (
	"errors"
	"fmt"
	"time"

	"github.com/crypttalk/crypttalk/pubsub"
)

// Errors shared by every Bus implementation of this module (pubsub/redis
// returns these same values), so callers and the conformance suite match
// one sentinel whatever the backend.
var (
	// ErrClosed is returned by a Bus, its Presence, Limiter and Locker
	// after Close.
	ErrClosed = errors.New("pubsub: bus closed")
	// ErrInvalid wraps every refusal of a bad argument (empty topic, nil
	// handler, non-positive limit, ...).
	ErrInvalid = errors.New("pubsub: invalid argument")
)

// CheckTopic validates a topic name given to Publish.
func CheckTopic(topic string) error {
	if topic == "" {
		return fmt.Errorf("%w: empty topic", ErrInvalid)
	}
	return nil
}

// CheckSubscribe validates the arguments of Subscribe.
func CheckSubscribe(topic string, h pubsub.Handler) error {
	if h == nil {
		return fmt.Errorf("%w: nil handler", ErrInvalid)
	}
	return CheckTopic(topic)
}

// CheckUser validates a user id given to Presence.
func CheckUser(userID string) error {
	if userID == "" {
		return fmt.Errorf("%w: empty user id", ErrInvalid)
	}
	return nil
}

// CheckLimit validates the arguments of Limiter.Allow. Windows are counted
// in whole milliseconds (Redis PEXPIRE), so shorter ones are refused.
func CheckLimit(key string, limit int, window time.Duration) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty rate-limit key", ErrInvalid)
	case limit <= 0:
		return fmt.Errorf("%w: rate limit %d, want > 0", ErrInvalid, limit)
	case window < time.Millisecond:
		return fmt.Errorf("%w: rate-limit window %s, want >= 1ms", ErrInvalid, window)
	}
	return nil
}

// CheckLease validates the arguments of Locker.TryLease.
func CheckLease(name string, ttl time.Duration) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty lease name", ErrInvalid)
	case ttl < time.Millisecond:
		return fmt.Errorf("%w: lease ttl %s, want >= 1ms", ErrInvalid, ttl)
	}
	return nil
}
