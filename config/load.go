package config

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// LoadOptions are the sources of a configuration, weakest first after the
// defaults: File, then Env, then Flags.
type LoadOptions struct {
	// File is a YAML file; "" for none. A file that is named but missing is
	// an error.
	File string
	// Env is "KEY=value" pairs as os.Environ returns them; tests inject
	// their own. An empty value counts as unset; of duplicates the last one
	// wins, as with exec.Cmd.
	Env []string
	// Flags are parsed flags registered by BindFlags; may be nil. Only flags
	// set on the command line override.
	Flags *pflag.FlagSet
}

// layer is one source's settings by key, before decoding.
type layer map[string]any

// BindFlags registers the flags that override configuration keys. The
// caller owns --config. Defaults are shown for help only: an unset flag
// never overrides the file or the environment.
func BindFlags(fs *pflag.FlagSet) {
	def := Default()
	for _, s := range flagSpecs {
		v := def.value(known()[s.key])
		usage := fmt.Sprintf("%s (env %s)", s.usage, envName(s.key))
		if v.Kind() == reflect.Bool {
			fs.Bool(s.name, v.Bool(), usage)
		} else {
			fs.String(s.name, v.String(), usage)
		}
	}
}

// Load builds a Config from defaults, the file, the environment and flags,
// then validates it. It returns warnings to log (unknown keys, weak
// settings) even when it fails. A file that cannot be read or parsed fails
// at once; every other problem is collected, so the error lists them all,
// each naming its key (see FieldError).
func Load(o LoadOptions) (*Config, []string, error) {
	v := viper.New()
	def := Default()
	for _, f := range fields() {
		v.SetDefault(f.key, setting(def.value(f)))
	}
	var warnings []string
	var problems []error
	if o.File != "" {
		l, w, p, err := fileLayer(o.File)
		if err != nil {
			return nil, nil, err
		}
		warnings, problems = append(warnings, w...), append(problems, p...)
		if err := v.MergeConfigMap(l.nested()); err != nil {
			return nil, warnings, fmt.Errorf("config file %s: %w", o.File, err)
		}
	}
	l, w, p := envLayer(parseEnv(o.Env))
	warnings, problems = append(warnings, w...), append(problems, p...)
	if err := v.MergeConfigMap(l.nested()); err != nil {
		return nil, warnings, fmt.Errorf("config: environment: %w", err)
	}
	bindFlagSet(v, o.Flags)

	c := Default()
	failed := map[string]bool{}
	if err := v.Unmarshal(&c, viper.DecodeHook(decodeHook()), zeroFields); err != nil {
		problems = append(problems, decodeProblems(err, failed)...)
	}
	c.normalize()
	for _, err := range c.problems() {
		// A value that did not decode kept its default; do not also blame
		// the default.
		if fe := (*FieldError)(nil); !errors.As(err, &fe) || !failed[fe.Key] {
			problems = append(problems, err)
		}
	}
	if len(problems) > 0 {
		slices.SortStableFunc(problems, func(a, b error) int { return cmp.Compare(rank(a), rank(b)) })
		return nil, warnings, errors.Join(problems...)
	}
	return &c, append(warnings, c.Warnings()...), nil
}

// zeroFields makes decoding replace lists and maps instead of merging them
// into the defaults.
func zeroFields(dc *mapstructure.DecoderConfig) { dc.ZeroFields = true }

// setting is the form of a default that Viper keeps: the peers map is held
// as its environment spelling, because Viper splits map keys on dots and
// peer names are full of them.
func setting(v reflect.Value) any {
	if m, ok := v.Interface().(map[string]string); ok {
		return formatPeers(m)
	}
	return v.Interface()
}

// nested turns "section.key" entries into the maps Viper merges.
func (l layer) nested() map[string]any {
	out := map[string]any{}
	for key, val := range l {
		section, name, _ := strings.Cut(key, ".")
		m, ok := out[section].(map[string]any)
		if !ok {
			m = map[string]any{}
			out[section] = m
		}
		m[name] = val
	}
	return out
}

// parseEnv reads "KEY=value" pairs; empty values are unset.
func parseEnv(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if v == "" {
			delete(m, k) // a later empty value unsets an earlier one
			continue
		}
		m[k] = v
	}
	return m
}

// envLayer reads every key from the environment. Of a key's names the
// contract one wins over CRYPTTALK_SECTION_KEY, and PORT counts only when
// neither is set.
func envLayer(env map[string]string) (layer, []string, []error) {
	l := layer{}
	seen := map[string]bool{}
	for _, f := range fields() {
		for _, name := range envNames(f.key) {
			seen[name] = true
			if val, ok := env[name]; ok {
				l[f.key] = val
			}
		}
	}
	if port, ok := env[portEnv]; ok && l["server.listen"] == nil {
		l["server.listen"] = ":" + port
	}
	refs := map[string]secretRef{}
	for _, key := range fileKeys {
		for _, name := range envNames(key) {
			seen[name+envFileSuffix] = true
			if path, ok := env[name+envFileSuffix]; ok {
				refs[key] = secretRef{path: path, from: name + envFileSuffix}
			}
		}
	}
	problems := readSecrets(l, refs)
	return l, unknownEnv(env, seen), problems
}

// unknownEnv warns about CRYPTTALK_ variables nobody reads: most likely a
// typo that would otherwise silently leave a default in place.
func unknownEnv(env map[string]string, seen map[string]bool) []string {
	var warnings []string
	for _, name := range slices.Sorted(maps.Keys(env)) {
		if strings.HasPrefix(name, "CRYPTTALK_") && !seen[name] && !otherEnv[name] && !strings.HasPrefix(name, otherEnvPrefix) {
			warnings = append(warnings, fmt.Sprintf("unknown environment variable %s is ignored", name))
		}
	}
	return warnings
}

// bindFlagSet lets the flags of BindFlags override, when they were set.
func bindFlagSet(v *viper.Viper, fs *pflag.FlagSet) {
	if fs == nil {
		return
	}
	for _, s := range flagSpecs {
		if f := fs.Lookup(s.name); f != nil {
			_ = v.BindPFlag(s.key, f) // fails only for a nil flag
		}
	}
}

// decodeProblems turns mapstructure's joined errors into FieldErrors and
// records which keys failed.
func decodeProblems(err error, failed map[string]bool) []error {
	switch e := err.(type) {
	case *mapstructure.DecodeError:
		key, _, _ := strings.Cut(e.Name(), "[") // "server.trusted_proxies[0]"
		failed[key] = true
		return []error{newFieldError(key, "%s", decodeMessage(e.Unwrap()))}
	case interface{ Unwrap() []error }:
		var out []error
		for _, inner := range e.Unwrap() {
			out = append(out, decodeProblems(inner, failed)...)
		}
		return out
	case interface{ Unwrap() error }:
		return decodeProblems(e.Unwrap(), failed)
	}
	return []error{fmt.Errorf("config: %w", err)}
}

// decodeMessage words a decoding failure for an operator. The value is
// shown: only numbers, booleans and durations can fail to decode, and
// secrets are none of those.
func decodeMessage(err error) string {
	var pe *mapstructure.ParseError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	want := "a " + pe.Expected.Type().String()
	switch pe.Expected.Kind() {
	case reflect.Bool:
		want = "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		want = "a whole number"
	}
	return fmt.Sprintf("%q: want %s", fmt.Sprint(pe.Value), want)
}

// rank orders problems as the keys are ordered in Config, so the list an
// operator reads follows the file's layout; other errors go last.
func rank(err error) int {
	var fe *FieldError
	if errors.As(err, &fe) {
		for i, f := range fields() {
			if f.key == fe.Key || strings.HasPrefix(f.key, fe.Key+".") {
				return i
			}
		}
	}
	return len(fields())
}

// normalize tidies values whose spelling does not matter, so consumers
// compare them plainly.
func (c *Config) normalize() {
	c.Log.Level = strings.ToLower(strings.TrimSpace(c.Log.Level))
	c.Log.Format = strings.ToLower(strings.TrimSpace(c.Log.Format))
	c.Server.PublicBaseURL = strings.TrimRight(strings.TrimSpace(c.Server.PublicBaseURL), "/")
	c.Server.TrustedProxies = tidyList(c.Server.TrustedProxies, "")
	c.Server.AllowedOrigins = tidyList(c.Server.AllowedOrigins, "/")
}

// tidyList trims spaces and the cutset from each entry and drops empty ones.
func tidyList(list []string, cutset string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		if s = strings.TrimRight(strings.TrimSpace(s), cutset); s != "" {
			out = append(out, s)
		}
	}
	return out
}
