package config

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// ErrInvalid is wrapped by every FieldError, so errors.Is(err, ErrInvalid)
// tells a bad value from a file that cannot be read.
var ErrInvalid = errors.New("invalid configuration")

// FieldError is one invalid value, named by its key and the environment
// variable an operator would set. Its message never holds a secret.
type FieldError struct {
	Key string // "server.listen"
	Env string // "CRYPTTALK_LISTEN"; "" for a section
	Msg string
}

// newFieldError builds a FieldError for key.
func newFieldError(key, format string, a ...any) *FieldError {
	e := &FieldError{Key: key, Msg: fmt.Sprintf(format, a...)}
	if _, ok := known()[key]; ok {
		e.Env = envName(key)
	}
	return e
}

// Error reads "config: server.listen (CRYPTTALK_LISTEN): ...".
func (e *FieldError) Error() string {
	if e.Env == "" {
		return fmt.Sprintf("config: %s: %s", e.Key, e.Msg)
	}
	return fmt.Sprintf("config: %s (%s): %s", e.Key, e.Env, e.Msg)
}

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// errNoUnit refuses bare numbers as durations: 10 would be 10ns.
var errNoUnit = errors.New("a duration needs a unit, such as 10s, 15m or 720h")

// decodeHook converts the strings of the environment and YAML into typed
// values. Viper's own hooks are replaced because they keep spaces around
// list entries and read bare numbers as nanoseconds.
func decodeHook() mapstructure.DecodeHookFunc {
	return mapstructure.ComposeDecodeHookFunc(durationHook, listHook, peersHook)
}

func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[time.Duration]() || from == to {
		return data, nil
	}
	switch from.Kind() {
	case reflect.String:
		return time.ParseDuration(strings.TrimSpace(data.(string)))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return nil, errNoUnit
	}
	return data, nil
}

func listHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[[]string]() || from.Kind() != reflect.String {
		return data, nil
	}
	return tidyList(strings.Split(data.(string), ","), ""), nil
}

func peersHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[map[string]string]() || from.Kind() != reflect.String {
		return data, nil
	}
	return parsePeers(data.(string))
}

// parsePeers reads "b.example=http://127.0.0.1:5002, c.example=https://c".
// It checks the shape only; Validate checks names and URLs, so a Config
// built in code gets the same checks.
func parsePeers(spec string) (map[string]string, error) {
	peers := map[string]string{}
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue // a trailing comma is harmless
		}
		name, url, ok := strings.Cut(entry, "=")
		name, url = strings.TrimSpace(name), strings.TrimSpace(url)
		if !ok || name == "" || url == "" {
			return nil, fmt.Errorf("entry %d %q: want server_name=base_url", i+1, entry)
		}
		if _, dup := peers[name]; dup {
			return nil, fmt.Errorf("peer %s is listed twice", name)
		}
		peers[name] = strings.TrimRight(url, "/")
	}
	return peers, nil
}

// formatPeers is the inverse of parsePeers, in name order.
func formatPeers(peers map[string]string) string {
	var b strings.Builder
	for i, name := range slices.Sorted(maps.Keys(peers)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(name + "=" + peers[name])
	}
	return b.String()
}
