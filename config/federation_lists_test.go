package config

import (
	"strings"
	"testing"
	"time"
)

// TestFederationListsAndRetry: the federation keys of issue 10 validate
// their values and name themselves in the error.
func TestFederationListsAndRetry(t *testing.T) {
	t.Parallel()
	c := Default()
	c.Federation.AllowServers = []string{"*.friends.example", "b.example:8448"}
	c.Federation.DenyServers = []string{"bad.example"}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid lists refused: %v", err)
	}
	c.Federation.AllowServers = []string{"bad name"}
	c.Federation.DenyServers = []string{"*."}
	c.Federation.OriginRateCount = 0
	c.Federation.RetryMin, c.Federation.RetryMax = time.Minute, time.Second
	err := c.Validate()
	if err == nil {
		t.Fatal("bad federation settings accepted")
	}
	for _, key := range []string{"federation.allow_servers", "federation.deny_servers", "federation.origin_rate_count", "federation.retry_max"} {
		if !strings.Contains(err.Error(), "config: "+key+" (") {
			t.Errorf("%s not named:\n%v", key, err)
		}
	}
}
