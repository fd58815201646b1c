package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// secretConfig has a secret in every place one can be.
func secretConfig() (Config, []string) {
	c := Default()
	c.Keys.MasterKeys = "v1:" + masterKey('s')
	c.Keys.AdminToken = "admin-token-SECRET-0123456789"
	c.Store.MongoURL = "mongodb://app:mongo-SECRET@db1:27017,db2:27017/ct?tlsCertificateKeyFilePassword=tls-SECRET&replicaSet=rs"
	c.Bus.RedisURL = "rediss://:redis-SECRET@redis:6380/0"
	c.Federation.Peers = map[string]string{"b.example": "http://u:peer-SECRET@b"}
	return c, []string{masterKey('s'), "admin-token", "mongo-SECRET", "tls-SECRET", "redis-SECRET", "peer-SECRET"}
}

func TestRedactionNeverPrintsSecrets(t *testing.T) {
	c, secrets := secretConfig()
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "config", c)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("cfg", "config", c, "keys", c.Keys)
	outputs := map[string]string{
		"%v":          fmt.Sprintf("%v", c),
		"%+v":         fmt.Sprintf("%+v", c),
		"%#v":         fmt.Sprintf("%#v", c),
		"%s":          fmt.Sprintf("%s", c),
		"pointer %v":  fmt.Sprintf("%v", &c),
		"keys %+v":    fmt.Sprintf("%+v", c.Keys),
		"keys %#v":    fmt.Sprintf("%#v", c.Keys),
		"store %+v":   fmt.Sprintf("%+v", c.Store),
		"bus %#v":     fmt.Sprintf("%#v", c.Bus),
		"Redacted()":  fmt.Sprintf("%+v", c.Redacted().Keys.MasterKeys+c.Redacted().Keys.AdminToken),
		"slog":        logs.String(),
		"redacted %v": fmt.Sprint(c.Redacted()),
	}
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s leaks %q:\n%s", name, s, out)
			}
		}
		if !strings.Contains(out, redacted) {
			t.Errorf("%s shows no %s:\n%s", name, redacted, out)
		}
	}
	// What is not secret is still shown, so the output stays useful.
	out := c.String()
	for _, want := range []string{`keys.admin_token = "[redacted]"`, "app:[redacted]@db1:27017,db2:27017/ct", "replicaSet=rs", `server.listen = ":5000"`} {
		if !strings.Contains(out, want) {
			t.Errorf("String lacks %s:\n%s", want, out)
		}
	}
}

func TestRedactedIsACopy(t *testing.T) {
	c, _ := secretConfig()
	r := c.Redacted()
	if c.Keys.AdminToken != "admin-token-SECRET-0123456789" || c.Federation.Peers["b.example"] != "http://u:peer-SECRET@b" {
		t.Fatalf("Redacted changed the original: %q %q", c.Keys.AdminToken, c.Federation.Peers["b.example"])
	}
	// The same mark whatever the length; unset stays visibly unset.
	short := Default()
	short.Keys.AdminToken = "x"
	if short.Redacted().Keys.AdminToken != r.Keys.AdminToken || Default().Redacted().Keys.AdminToken != "" {
		t.Fatal("redaction reveals length or hides that a secret is unset")
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                                      "",
		"mongodb://db:27017/ct":                 "mongodb://db:27017/ct",
		"mongodb://app@db/ct":                   "mongodb://app@db/ct",
		"mongodb://app:pw@db/ct":                "mongodb://app:[redacted]@db/ct",
		"mongodb://app:p@ss:w/rd@db/ct":         "mongodb://app:[redacted]@db/ct",
		"redis://:pw@r:6379/0":                  "redis://:[redacted]@r:6379/0",
		"redis://r/0?password=pw&db=1":          "redis://r/0?password=[redacted]&db=1",
		"mongodb://db/?authSource=admin&x=1":    "mongodb://db/?authSource=admin&x=1",
		"not a url but maybe a password":        "[redacted]",
		"mongodb://u:%zz@db/ct?apiKey=k&tls=on": "mongodb://u:[redacted]@db/ct?apiKey=[redacted]&tls=on",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
