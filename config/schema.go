package config

import (
	"reflect"
	"strings"
	"sync"
)

// field is one leaf key of Config. The list of fields is read from the
// struct tags, so a key added to the struct is known everywhere (defaults,
// environment, unknown-key warnings, printing) without a second list.
type field struct {
	key     string // "server.listen"
	section int    // index of the section in Config
	index   int    // index of the field in its section
}

// fields lists every leaf key in struct order.
var fields = sync.OnceValue(func() []field {
	var out []field
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		st := ct.Field(i)
		for j := range st.Type.NumField() {
			key := st.Tag.Get("mapstructure") + "." + st.Type.Field(j).Tag.Get("mapstructure")
			out = append(out, field{key: key, section: i, index: j})
		}
	}
	return out
})

// known maps every key to its field.
var known = sync.OnceValue(func() map[string]field {
	m := make(map[string]field, len(fields()))
	for _, f := range fields() {
		m[f.key] = f
	}
	return m
})

// value is the field f of c, settable when c is.
func (c *Config) value(f field) reflect.Value {
	return reflect.ValueOf(c).Elem().Field(f.section).Field(f.index)
}

// contractEnv are the environment names of SPEC.md that differ from the
// generic CRYPTTALK_SECTION_KEY. Both are read; the contract name wins.
var contractEnv = map[string]string{
	"server.listen":          "CRYPTTALK_LISTEN",
	"server.admin_listen":    "CRYPTTALK_ADMIN_LISTEN",
	"server.server_name":     "CRYPTTALK_SERVER_NAME",
	"store.data_dir":         "CRYPTTALK_DATA_DIR",
	"store.mongo_url":        "MONGO_URL",
	"bus.redis_url":          "REDIS_URL",
	"keys.master_keys":       "CRYPTTALK_MASTER_KEYS",
	"keys.active_master_key": "CRYPTTALK_ACTIVE_MASTER_KEY",
	"keys.admin_token":       "CRYPTTALK_ADMIN_TOKEN",
	"keys.bcrypt_cost":       "CRYPTTALK_BCRYPT_COST",
}

// portEnv is the seed's variable: it sets the port of server.listen alone,
// below every other way of setting server.listen.
const portEnv = "PORT"

// otherEnv are CRYPTTALK_ variables that belong to other programs; they are
// not reported as unknown.
var otherEnv = map[string]bool{"CRYPTTALK_SERVER_URL": true} // ctl

// otherEnvPrefix marks test switches such as CRYPTTALK_TEST_MONGO_URL.
const otherEnvPrefix = "CRYPTTALK_TEST_"

// genericEnv is the CRYPTTALK_SECTION_KEY name of a key.
func genericEnv(key string) string {
	return "CRYPTTALK_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// envNames lists the environment names of a key, weakest first.
func envNames(key string) []string {
	names := []string{genericEnv(key)}
	if alias, ok := contractEnv[key]; ok {
		names = append(names, alias)
	}
	return names
}

// envName is the name to show an operator: the contract one if any.
func envName(key string) string {
	names := envNames(key)
	return names[len(names)-1]
}

// secretKeys are printed as "[redacted]" whole.
var secretKeys = map[string]bool{"keys.master_keys": true, "keys.admin_token": true}

// fileKeys may be read from a file: <ENV>_FILE in the environment or
// <key>_file in YAML. URLs are included because they carry passwords.
var fileKeys = []string{"keys.master_keys", "keys.admin_token", "store.mongo_url", "bus.redis_url"}

// fileSuffix turns a key or variable into the one that names its file.
const (
	fileSuffix    = "_file"
	envFileSuffix = "_FILE"
)

// flagSpec is one command-line flag and the key it overrides.
type flagSpec struct{ name, key, usage string }

// flagSpecs are the flags of BindFlags. Secrets have none: flags show in
// process listings, which is also why the URL flags point at the env.
var flagSpecs = []flagSpec{
	{"listen", "server.listen", "public listener host:port"},
	{"admin-listen", "server.admin_listen", "listener of /metrics and the admin API; empty: none"},
	{"server-name", "server.server_name", "the server's name in user ids and federation"},
	{"data-dir", "store.data_dir", "embedded database, generated keys, blobs"},
	{"mongo-url", "store.mongo_url", "MongoDB URL; empty: embedded store (with a password, use MONGO_URL_FILE)"},
	{"redis-url", "bus.redis_url", "Redis URL; empty: in-process bus (with a password, use REDIS_URL_FILE)"},
	{"log-level", "log.level", "debug, info, warn or error"},
	{"log-format", "log.format", "json or text"},
	{"demo", "server.demo", "create the demo users (never in production)"},
}
