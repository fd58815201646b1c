package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestFederationPeersFromEnv(t *testing.T) {
	c, _ := mustLoad(t, LoadOptions{Env: []string{
		"CRYPTTALK_FEDERATION_PEERS= b.example = http://127.0.0.1:5002/ ,c.example:8448=https://c.example/base/,",
	}})
	want := map[string]string{"b.example": "http://127.0.0.1:5002", "c.example:8448": "https://c.example/base"}
	if !reflect.DeepEqual(c.Federation.Peers, want) {
		t.Fatalf("peers %v, want %v", c.Federation.Peers, want)
	}
}

func TestFederationPeersFromYAML(t *testing.T) {
	c, warnings := mustLoad(t, LoadOptions{File: writeFile(t, "c.yaml", `
federation:
  peers:
    b.example: http://127.0.0.1:5002
    C.Example: https://c.example/
`)})
	want := map[string]string{"b.example": "http://127.0.0.1:5002", "C.Example": "https://c.example"}
	if !reflect.DeepEqual(c.Federation.Peers, want) || len(warnings) != 0 {
		t.Fatalf("peers %v, warnings %v", c.Federation.Peers, warnings)
	}
	// The environment's string replaces the file's map whole.
	c, _ = mustLoad(t, LoadOptions{File: writeFile(t, "c.yaml", "federation:\n  peers:\n    b.example: http://b\n"),
		Env: []string{"CRYPTTALK_FEDERATION_PEERS=d.example=http://d"}})
	if !reflect.DeepEqual(c.Federation.Peers, map[string]string{"d.example": "http://d"}) {
		t.Fatalf("env did not replace the file's peers: %v", c.Federation.Peers)
	}
	// The string form works in YAML too.
	c, _ = mustLoad(t, LoadOptions{File: writeFile(t, "c.yaml", "federation:\n  peers: b.example=http://b\n")})
	if c.Federation.Peers["b.example"] != "http://b" {
		t.Fatalf("string peers in YAML: %v", c.Federation.Peers)
	}
}

func TestFederationPeersErrors(t *testing.T) {
	for _, tc := range []struct {
		name, env, file, want string
	}{
		{name: "no equals", env: "b.example", want: `entry 1 "b.example"`},
		{name: "no name", env: "=http://b", want: "want server_name=base_url"},
		{name: "no URL", env: "b.example=", want: "want server_name=base_url"},
		{name: "twice", env: "b.example=http://1,b.example=http://2", want: "listed twice"},
		{name: "bad URL", env: "b.example=gopher://b", want: "want an http:// or https:// URL"},
		{name: "query", env: "b.example=http://b/?x", want: "query"},
		{name: "own name", env: "localhost=http://127.0.0.1:1", want: "own name"},
		{name: "bad name", env: "b example=http://b", want: "DNS name"},
		{name: "yaml list", file: "federation:\n  peers: [a, b]\n", want: "want a mapping of server name to base URL"},
		{name: "yaml nested", file: "federation:\n  peers:\n    b.example: {url: http://b}\n", want: `peer "b.example"`},
		{name: "yaml comma", file: "federation:\n  peers:\n    b.example: http://b,c\n", want: "without commas"},
	} {
		o := LoadOptions{}
		if tc.env != "" {
			o.Env = []string{"CRYPTTALK_FEDERATION_PEERS=" + tc.env}
		} else {
			o.File = writeFile(t, "c.yaml", tc.file)
		}
		msg := loadErr(t, o)
		if !strings.Contains(msg, "federation.peers") || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: want federation.peers and %q in:\n%s", tc.name, tc.want, msg)
		}
	}
}

func TestPeersRoundTrip(t *testing.T) {
	in := map[string]string{"b.example": "http://127.0.0.1:5002", "a.example:8448": "https://a/x"}
	out, err := parsePeers(formatPeers(in))
	if err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: %v %v", out, err)
	}
	if s := formatPeers(in); s != "a.example:8448=https://a/x,b.example=http://127.0.0.1:5002" {
		t.Fatalf("not in name order: %s", s)
	}
}
