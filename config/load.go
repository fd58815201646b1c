package config

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// LoadOptions are the sources of a configuration.
type LoadOptions struct {
	File  string         // YAML file; "" for none
	Env   []string       // "KEY=value" pairs, usually os.Environ()
	Flags *pflag.FlagSet // flags registered by BindFlags; may be nil
}

// flagKeys maps flag names to config keys.
var flagKeys = map[string]string{
	"listen":       "server.listen",
	"admin-listen": "server.admin_listen",
	"server-name":  "server.server_name",
	"data-dir":     "store.data_dir",
	"mongo-url":    "store.mongo_url",
	"redis-url":    "bus.redis_url",
	"log-level":    "log.level",
	"log-format":   "log.format",
	"demo":         "server.demo",
}

// BindFlags registers the flags that override configuration.
func BindFlags(fs *pflag.FlagSet) {
	fs.String("listen", "", "address to listen on (CRYPTTALK_LISTEN)")
	fs.String("admin-listen", "", "admin listener address, /metrics and /_admin (CRYPTTALK_ADMIN_LISTEN)")
	fs.String("server-name", "", "server name in user ids (CRYPTTALK_SERVER_NAME)")
	fs.String("data-dir", "", "embedded database, generated keys, blobs (CRYPTTALK_DATA_DIR)")
	fs.String("mongo-url", "", "MongoDB URL; unset: embedded store (MONGO_URL)")
	fs.String("redis-url", "", "Redis URL; unset: in-process bus (REDIS_URL)")
	fs.String("log-level", "", "debug, info, warn or error")
	fs.String("log-format", "", "json or text")
	fs.Bool("demo", false, "create demo users alice and bob (never in production)")
}

// EnvName is the generic environment variable of a key.
func EnvName(key string) string {
	return "CRYPTTALK_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Load builds a Config: defaults, then the file, then the environment, then
// flags. It returns warnings (unknown keys) and every validation error.
func Load(o LoadOptions) (*Config, []string, error) {
	v := viper.New()
	for k, d := range defaults {
		v.SetDefault(k, d)
	}
	var warnings []string
	if o.File != "" {
		w, err := mergeFile(v, o.File)
		if err != nil {
			return nil, nil, err
		}
		warnings = w
	}
	env := envMap(o.Env)
	applyEnv(v, env)
	if err := applySecretFiles(v, env); err != nil {
		return nil, warnings, err
	}
	applyFlags(v, o.Flags)
	var c Config
	if err := v.Unmarshal(&c); err != nil {
		return nil, warnings, fmt.Errorf("config: %w", err)
	}
	var perr error
	c.Federation.Peers, perr = parsePeers(c.Federation.PeersSpec)
	if err := c.Validate(); err != nil || perr != nil {
		return nil, warnings, joinErrs(perr, err)
	}
	return &c, warnings, nil
}

// mergeFile reads a YAML file and warns about keys nobody reads.
func mergeFile(v *viper.Viper, path string) ([]string, error) {
	fv := viper.New()
	fv.SetConfigFile(path)
	fv.SetConfigType("yaml")
	if err := fv.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	var warnings []string
	keys := fv.AllKeys()
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := defaults[k]; !ok && !isSecretFileKey(k) {
			warnings = append(warnings, fmt.Sprintf("unknown key %q in %s is ignored", k, path))
		}
	}
	if err := v.MergeConfigMap(fv.AllSettings()); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return warnings, nil
}

func isSecretFileKey(k string) bool {
	for _, s := range secrets {
		if k == s+"_file" {
			return true
		}
	}
	return false
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && v != "" {
			m[k] = v
		}
	}
	return m
}

// applyEnv sets every key found in the environment; the contract's alias
// name wins over the generic one. The seed's PORT sets the port alone,
// below CRYPTTALK_LISTEN.
func applyEnv(v *viper.Viper, env map[string]string) {
	for key := range defaults {
		if val, ok := env[EnvName(key)]; ok {
			v.Set(key, val)
		}
		if alias, ok := aliases[key]; ok {
			if val, ok := env[alias]; ok {
				v.Set(key, val)
			}
		}
	}
	_, listen := env["CRYPTTALK_LISTEN"]
	_, generic := env[EnvName("server.listen")]
	if port, ok := env["PORT"]; ok && !listen && !generic {
		v.Set("server.listen", ":"+port)
	}
}

// applySecretFiles reads secrets named by <ENV>_FILE or <key>_file.
func applySecretFiles(v *viper.Viper, env map[string]string) error {
	for _, key := range secrets {
		path := env[aliases[key]+"_FILE"]
		if path == "" {
			path = env[EnvName(key)+"_FILE"]
		}
		if path == "" {
			path = v.GetString(key + "_file")
		}
		if path == "" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%s: read secret file: %w", key, err)
		}
		v.Set(key, strings.TrimRight(string(b), "\r\n"))
	}
	return nil
}

func applyFlags(v *viper.Viper, fs *pflag.FlagSet) {
	if fs == nil {
		return
	}
	for name, key := range flagKeys {
		f := fs.Lookup(name)
		if f != nil && f.Changed {
			v.Set(key, f.Value.String())
		}
	}
}

// parsePeers reads "b.example=http://127.0.0.1:5002,c.example=...".
func parsePeers(spec string) (map[string]string, error) {
	peers := map[string]string{}
	if strings.TrimSpace(spec) == "" {
		return peers, nil
	}
	for _, entry := range strings.Split(spec, ",") {
		name, url, ok := strings.Cut(strings.TrimSpace(entry), "=")
		if !ok || name == "" || !(strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://")) {
			return nil, fmt.Errorf("federation.peers: entry %q: want name=http(s)://host:port", entry)
		}
		peers[name] = strings.TrimRight(url, "/")
	}
	return peers, nil
}
