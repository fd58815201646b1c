package main

import (
	"context"
	"testing"

	"github.com/crypttalk/crypttalk/client"
)

// TestCtlUsersListSearchesEmails: users list -q with an address, or with
// @domain, finds users by email (any case); a user_id or a name still
// searches names.
func TestCtlUsersListSearchesEmails(t *testing.T) {
	t.Parallel()
	n, srv := startNode(t)
	c := newCtl(t)
	register(t, n, "alice") // alice@example.org
	bob := client.New(n.URL())
	if _, err := bob.Register(context.Background(), "bob", "Bob.Builder@Corp.Example", "long enough pw"); err != nil {
		t.Fatal(err)
	}
	register(t, n, "carol")
	for q, want := range map[string]string{
		"alice@example.org": "alice", "ALICE@EXAMPLE.ORG": "alice", "@corp.example": "bob", "builder@corp": "bob",
		"nobody@nowhere.example": "", "@example.net": "", "bo": "bob",
	} {
		var us []client.AdminUser
		c.jsonOut(srv, adminToken, &us, "users", "list", "-q", q)
		switch {
		case want == "" && len(us) != 0, want != "" && (len(us) != 1 || us[0].Username != want):
			t.Errorf("users list -q %q = %+v, want %q", q, us, want)
		}
	}
	var all []client.AdminUser
	c.jsonOut(srv, adminToken, &all, "users", "list", "-q", "@example.org", "--limit", "1")
	if len(all) != 1 || all[0].Email == "" {
		t.Fatalf("email search page: %+v", all)
	}
}
