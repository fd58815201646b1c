package config

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func key32(b byte) string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(rune(b)), 32)))
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c := Default()
	if c.Server.Listen != ":5000" || c.Store.DataDir != "./data" || c.Server.ServerName != "localhost" || c.Keys.BcryptCost != 12 {
		t.Fatalf("defaults: %+v", c)
	}
	if c.Limits.MessageBytes != 16384 || c.Limits.FileBytes != 10<<20 || c.Limits.JSONDepth != 32 {
		t.Fatalf("limits: %+v", c.Limits)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "server:\n  listen: ':6000'\n  server_name: file.example\nstore:\n  data_dir: /from/file\nkeys:\n  bcrypt_cost: 10\n")
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	BindFlags(fs)
	if err := fs.Parse([]string{"--data-dir=/from/flag"}); err != nil {
		t.Fatal(err)
	}
	env := []string{"CRYPTTALK_SERVER_NAME=env.example", "CRYPTTALK_DATA_DIR=/from/env", "CRYPTTALK_BCRYPT_COST=11"}
	c, _, err := Load(LoadOptions{File: file, Env: env, Flags: fs})
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Listen != ":6000" {
		t.Errorf("file did not beat default: %s", c.Server.Listen)
	}
	if c.Server.ServerName != "env.example" || c.Keys.BcryptCost != 11 {
		t.Errorf("env did not beat file: %s %d", c.Server.ServerName, c.Keys.BcryptCost)
	}
	if c.Store.DataDir != "/from/flag" {
		t.Errorf("flag did not beat env: %s", c.Store.DataDir)
	}
}

func TestListenAndPort(t *testing.T) {
	c, _, err := Load(LoadOptions{Env: []string{"PORT=7000"}})
	if err != nil || c.Server.Listen != ":7000" {
		t.Fatalf("PORT: %v %v", c, err)
	}
	c, _, err = Load(LoadOptions{Env: []string{"PORT=7000", "CRYPTTALK_LISTEN=127.0.0.1:7001"}})
	if err != nil || c.Server.Listen != "127.0.0.1:7001" {
		t.Fatalf("CRYPTTALK_LISTEN must win over PORT: %+v %v", c.Server, err)
	}
	c, _, err = Load(LoadOptions{Env: []string{"CRYPTTALK_SERVER_LISTEN=:7002"}})
	if err != nil || c.Server.Listen != ":7002" {
		t.Fatal("generic CRYPTTALK_SECTION_KEY name ignored")
	}
}

func TestSecretsFromFiles(t *testing.T) {
	keys := "v1:" + key32('a')
	c, _, err := Load(LoadOptions{Env: []string{
		"CRYPTTALK_MASTER_KEYS_FILE=" + writeFile(t, keys+"\n"),
		"CRYPTTALK_ADMIN_TOKEN_FILE=" + writeFile(t, "0123456789abcdef0123\n"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Keys.MasterKeys != keys || c.Keys.AdminToken != "0123456789abcdef0123" {
		t.Fatalf("secret files not read: %q %q", c.Keys.MasterKeys, c.Keys.AdminToken)
	}
	r := c.Redacted()
	if strings.Contains(r.Keys.MasterKeys+r.Keys.AdminToken, "abc") || r.Keys.AdminToken != "[redacted]" {
		t.Fatalf("redaction leaks: %+v", r.Keys)
	}
	if _, _, err := Load(LoadOptions{Env: []string{"CRYPTTALK_ADMIN_TOKEN_FILE=/nonexistent/x"}}); err == nil {
		t.Fatal("missing secret file accepted")
	}
}

func TestRedactURL(t *testing.T) {
	c := Default()
	c.Store.MongoURL = "mongodb://app:hunter2@db:27017/ct"
	if got := c.Redacted().Store.MongoURL; strings.Contains(got, "hunter2") || !strings.Contains(got, "app:[redacted]@db") {
		t.Fatalf("got %s", got)
	}
}

func TestUnknownKeyWarns(t *testing.T) {
	_, warnings, err := Load(LoadOptions{File: writeFile(t, "server:\n  lisen: ':1'\nbogus: 1\n")})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 2 || !strings.Contains(strings.Join(warnings, " "), "server.lisen") {
		t.Fatalf("warnings %v", warnings)
	}
}

func TestBadFile(t *testing.T) {
	p := writeFile(t, "server: [unclosed\n")
	_, _, err := Load(LoadOptions{File: p})
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("bad YAML: %v", err)
	}
	if _, _, err := Load(LoadOptions{File: "/nonexistent.yaml"}); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestValidateReportsEverything(t *testing.T) {
	_, _, err := Load(LoadOptions{Env: []string{
		"CRYPTTALK_LISTEN=nonsense",
		"CRYPTTALK_BCRYPT_COST=99",
		"MONGO_URL=mongodb://db/x",
		"REDIS_URL=http://redis",
		"CRYPTTALK_LIMITS_MESSAGE_BYTES=-1",
		"CRYPTTALK_LOG_LEVEL=loud",
		"CRYPTTALK_SERVER_NAME=bad name!",
		"CRYPTTALK_FEDERATION_PEERS=b.example",
	}})
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	msg := err.Error()
	for _, key := range []string{"server.listen", "keys.bcrypt_cost", "keys.master_keys", "bus.redis_url", "limits.message_bytes", "log.level", "server.server_name", "federation.peers"} {
		if !strings.Contains(msg, key) {
			t.Errorf("error does not name %s:\n%s", key, msg)
		}
	}
	if !strings.Contains(msg, "nodes must share keys") {
		t.Error("the cluster key rule is not explained")
	}
}

func TestMasterKeysChecked(t *testing.T) {
	secret := key32('z')
	_, _, err := Load(LoadOptions{Env: []string{"CRYPTTALK_MASTER_KEYS=v1:" + secret[:20]}})
	if err == nil || strings.Contains(err.Error(), secret[:20]) {
		t.Fatalf("bad key: %v", err)
	}
	c, _, err := Load(LoadOptions{Env: []string{"CRYPTTALK_MASTER_KEYS=v1:" + key32('a') + ",v2:" + key32('b'), "MONGO_URL=mongodb://db/x"}})
	if err != nil || c.Store.MongoURL == "" {
		t.Fatal(err)
	}
}

func TestFederationPeers(t *testing.T) {
	c, _, err := Load(LoadOptions{Env: []string{"CRYPTTALK_FEDERATION_PEERS=b.example=http://127.0.0.1:5002/, c.example=https://c:8448"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Federation.Peers["b.example"] != "http://127.0.0.1:5002" || c.Federation.Peers["c.example"] != "https://c:8448" {
		t.Fatalf("peers %v", c.Federation.Peers)
	}
}

func TestListsFromEnv(t *testing.T) {
	c, _, err := Load(LoadOptions{Env: []string{"CRYPTTALK_SERVER_TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Server.TrustedProxies) != 2 || c.Server.TrustedProxies[1] != "127.0.0.1" {
		t.Fatalf("proxies %v", c.Server.TrustedProxies)
	}
	if _, _, err := Load(LoadOptions{Env: []string{"CRYPTTALK_SERVER_TRUSTED_PROXIES=nope"}}); err == nil {
		t.Fatal("bad proxy accepted")
	}
}
