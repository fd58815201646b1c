package config

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxFileBytes bounds the config file and each secret file, so a path that
// names /dev/zero or a log cannot exhaust memory.
const maxFileBytes = 1 << 20

// secretRef is a file to read a key from and the name that asked for it.
type secretRef struct{ path, from string }

// fileLayer reads the YAML file. The YAML is parsed here rather than by
// Viper so unknown keys can be named and the peers map, whose keys hold
// dots, survives. It fails only when the file cannot be read or parsed.
func fileLayer(path string) (layer, []string, []error, error) {
	b, err := readSmallFile(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("config file %s: %w", path, err)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, nil, nil, fmt.Errorf("config file %s: %w", path, err)
	}
	top, ok := asMap(doc)
	if !ok && doc != nil {
		return nil, nil, nil, fmt.Errorf("config file %s: want a mapping of sections (server:, store:, ...) at the top", path)
	}
	l, refs := layer{}, map[string]secretRef{}
	var warnings []string
	var problems []error
	for _, section := range slices.Sorted(maps.Keys(top)) {
		entries, ok := asMap(top[section])
		switch {
		case !knownSection(section):
			warnings = append(warnings, fmt.Sprintf("unknown key %q in %s is ignored", section, path))
			continue
		case !ok && top[section] != nil:
			problems = append(problems, newFieldError(section, "want a mapping of keys"))
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(entries)) {
			key, val := section+"."+name, entries[name]
			if w, err := l.add(key, val, refs); err != nil {
				problems = append(problems, err)
			} else if w {
				warnings = append(warnings, fmt.Sprintf("unknown key %q in %s is ignored", key, path))
			}
		}
	}
	problems = append(problems, readSecrets(l, refs)...)
	return l, warnings, problems, nil
}

// add puts one YAML entry into the layer or, for <key>_file, into refs.
// It reports whether the key is unknown.
func (l layer) add(key string, val any, refs map[string]secretRef) (unknown bool, err error) {
	if key == "federation.peers" {
		spec, err := peersSetting(val)
		if err != nil {
			return false, newFieldError(key, "%v", err)
		}
		l[key] = spec
		return false, nil
	}
	if _, ok := known()[key]; ok {
		l[key] = val
		return false, nil
	}
	secret, isRef := strings.CutSuffix(key, fileSuffix)
	if !isRef || !slices.Contains(fileKeys, secret) {
		return true, nil
	}
	path, ok := val.(string)
	if !ok {
		return false, newFieldError(secret, "%s: want a file path", key)
	}
	refs[secret] = secretRef{path: path, from: key}
	return false, nil
}

// knownSection reports whether a top-level YAML key is a section.
func knownSection(section string) bool {
	for _, f := range fields() {
		if strings.HasPrefix(f.key, section+".") {
			return true
		}
	}
	return false
}

// asMap returns a YAML mapping with lower-case string keys, as Viper
// treats keys case-insensitively.
func asMap(v any) (map[string]any, bool) {
	out := map[string]any{}
	switch m := v.(type) {
	case map[string]any:
		for k, val := range m {
			out[strings.ToLower(k)] = val
		}
	case map[any]any:
		for k, val := range m {
			out[strings.ToLower(fmt.Sprint(k))] = val
		}
	default:
		return nil, false
	}
	return out, true
}

// peersSetting turns the YAML spelling of federation.peers (a mapping, or
// the environment's string) into the string Viper holds.
func peersSetting(val any) (string, error) {
	switch v := val.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case map[string]any:
		peers := make(map[string]string, len(v))
		for name, u := range v {
			s, ok := u.(string)
			if !ok || strings.ContainsAny(name, ",=") || strings.Contains(s, ",") {
				return "", fmt.Errorf("peer %q: want a server name mapped to a base URL without commas", name)
			}
			peers[name] = s
		}
		return formatPeers(peers), nil
	}
	return "", fmt.Errorf("want a mapping of server name to base URL")
}

// readSecrets replaces each reference in refs with its file's contents in
// l. Setting a value and a file for one key in the same source is refused:
// which one wins would be a guess.
func readSecrets(l layer, refs map[string]secretRef) []error {
	var problems []error
	for _, key := range slices.Sorted(maps.Keys(refs)) {
		ref := refs[key]
		if _, dup := l[key]; dup {
			problems = append(problems, newFieldError(key, "both the value and %s are set; keep one", ref.from))
			continue
		}
		s, err := readSecret(ref.path)
		if err != nil {
			problems = append(problems, newFieldError(key, "%s: %v", ref.from, err))
			continue
		}
		l[key] = s
	}
	return problems
}

// readSecret reads a secret file without its trailing newline, which
// editors and `echo` add.
func readSecret(path string) (string, error) {
	b, err := readSmallFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// readSmallFile reads a regular file of at most maxFileBytes. Devices and
// FIFOs are refused: reading one could block or never end.
func readSmallFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFileBytes)
	}
	return b, nil
}
