package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretsFromFiles(t *testing.T) {
	keys := "v1:" + masterKey('a') + ",v2:" + masterKey('b')
	token := "0123456789abcdef0123"
	mongo := "mongodb://app:hunter2@db:27017/ct"
	for _, tc := range []struct {
		name string
		env  []string
		file string
	}{
		{name: "contract env names", env: []string{
			"CRYPTTALK_MASTER_KEYS_FILE=" + writeFile(t, "mk", keys+"\n"),
			"CRYPTTALK_ADMIN_TOKEN_FILE=" + writeFile(t, "tok", token+"\r\n"),
			"MONGO_URL_FILE=" + writeFile(t, "mongo", mongo+"\n\n"),
		}},
		{name: "generic env names", env: []string{
			"CRYPTTALK_KEYS_MASTER_KEYS_FILE=" + writeFile(t, "mk", keys),
			"CRYPTTALK_KEYS_ADMIN_TOKEN_FILE=" + writeFile(t, "tok", token),
			"CRYPTTALK_STORE_MONGO_URL_FILE=" + writeFile(t, "mongo", mongo),
		}},
		{name: "yaml", file: "keys:\n  master_keys_file: " + writeFile(t, "mk", keys+"\n") +
			"\n  admin_token_file: " + writeFile(t, "tok", token+"\n") +
			"\nstore:\n  mongo_url_file: " + writeFile(t, "mongo", mongo+"\n") + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := LoadOptions{Env: tc.env}
			if tc.file != "" {
				o.File = writeFile(t, "c.yaml", tc.file)
			}
			c, warnings := mustLoad(t, o)
			if c.Keys.MasterKeys != keys || c.Keys.AdminToken != token || c.Store.MongoURL != mongo {
				t.Fatalf("secrets not read or newline kept: %q %q %q", c.Keys.MasterKeys, c.Keys.AdminToken, c.Store.MongoURL)
			}
			if len(warnings) != 0 {
				t.Fatalf("warnings %v", warnings)
			}
		})
	}
}

func TestSecretFileLayers(t *testing.T) {
	fromFile := writeFile(t, "tok1", "token-from-the-yaml-file")
	yaml := writeFile(t, "c.yaml", "keys:\n  admin_token_file: "+fromFile+"\n")
	// The environment's value beats the file's secret file.
	c, _ := mustLoad(t, LoadOptions{File: yaml, Env: []string{"CRYPTTALK_ADMIN_TOKEN=token-from-the-environment"}})
	if c.Keys.AdminToken != "token-from-the-environment" {
		t.Errorf("env lost to the YAML secret file: %q", c.Keys.AdminToken)
	}
	// ... and so does the environment's secret file.
	c, _ = mustLoad(t, LoadOptions{File: yaml, Env: []string{"CRYPTTALK_ADMIN_TOKEN_FILE=" + writeFile(t, "tok2", "token-from-env-file-xx")}})
	if c.Keys.AdminToken != "token-from-env-file-xx" {
		t.Errorf("env file lost to the YAML secret file: %q", c.Keys.AdminToken)
	}
}

func TestSecretFileProblems(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxFileBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  []string
		want []string
	}{
		{"missing", []string{"CRYPTTALK_ADMIN_TOKEN_FILE=" + filepath.Join(dir, "nope")}, []string{"keys.admin_token", "CRYPTTALK_ADMIN_TOKEN_FILE", "no such file"}},
		{"empty", []string{"CRYPTTALK_MASTER_KEYS_FILE=" + writeFile(t, "e", "\n")}, []string{"keys.master_keys", "empty"}},
		{"directory", []string{"REDIS_URL_FILE=" + dir}, []string{"bus.redis_url", "not a regular file"}},
		{"device", []string{"CRYPTTALK_ADMIN_TOKEN_FILE=/dev/zero"}, []string{"keys.admin_token", "not a regular file"}},
		{"too large", []string{"CRYPTTALK_ADMIN_TOKEN_FILE=" + big}, []string{"keys.admin_token", "larger than"}},
		{"value and file", []string{"CRYPTTALK_ADMIN_TOKEN=0123456789abcdefgh", "CRYPTTALK_ADMIN_TOKEN_FILE=" + writeFile(t, "t", "0123456789abcdefgh")}, []string{"keys.admin_token", "keep one"}},
		{"both at once", []string{"CRYPTTALK_ADMIN_TOKEN_FILE=" + filepath.Join(dir, "nope"), "CRYPTTALK_MASTER_KEYS_FILE=" + filepath.Join(dir, "nope")}, []string{"keys.admin_token", "keys.master_keys"}},
	} {
		msg := loadErr(t, LoadOptions{Env: tc.env})
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q missing from:\n%s", tc.name, w, msg)
			}
		}
	}
	msg := loadErr(t, LoadOptions{File: writeFile(t, "c.yaml", "keys:\n  admin_token_file: [a, b]\n")})
	if !strings.Contains(msg, "want a file path") {
		t.Errorf("non-string secret path: %s", msg)
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	secret := masterKey('z')
	_, _, err := Load(LoadOptions{Env: []string{
		"CRYPTTALK_MASTER_KEYS=v1:" + secret[:20],                    // too short
		"CRYPTTALK_ACTIVE_MASTER_KEY=" + secret,                      // a key pasted as a version
		"CRYPTTALK_ADMIN_TOKEN=short secret!",                        // too short, with spaces
		"MONGO_URL=postgres://app:hunter2@db/x",                      // wrong scheme
		"REDIS_URL=redis://:hunter3@",                                // no host
		"CRYPTTALK_FEDERATION_PEERS=b.example=http://u:hunter4@b:1/", // credentials in a peer URL
	}})
	if err == nil {
		t.Fatal("invalid secrets accepted")
	}
	msg := err.Error()
	for _, s := range []string{secret[:20], "short secret", "hunter2", "hunter3", "hunter4"} {
		if strings.Contains(msg, s) {
			t.Errorf("error leaks %q:\n%s", s, msg)
		}
	}
	for _, key := range []string{"keys.master_keys", "keys.admin_token", "store.mongo_url", "bus.redis_url", "federation.peers"} {
		if !strings.Contains(msg, key) {
			t.Errorf("%s not reported:\n%s", key, msg)
		}
	}
}
