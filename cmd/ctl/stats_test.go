package main

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// jsonOut runs a command with -o json and decodes its answer into v,
// zeroed first (decoding into a used map would merge).
func (c *ctl) jsonOut(server, token string, v any, args ...string) {
	c.t.Helper()
	reflect.ValueOf(v).Elem().SetZero()
	out := c.ok(server, token, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("ctl %v: %v\n%s", args, err, out)
	}
}

func TestCtlStatsKeysStatusAndPurgeDryRun(t *testing.T) {
	t.Parallel()
	redis := testenv.StartRedis(t)
	// The node's own purge worker takes this lease each second; held by
	// the test, it never runs, so expired messages stay until ctl purges.
	rdb := goredis.NewClient(&goredis.Options{Addr: redis.Addr()})
	defer rdb.Close()
	if err := rdb.Set(context.Background(), "ct:lease:purge", "the-test", 0).Err(); err != nil {
		t.Fatal(err)
	}
	n, srv := startNode(t, "REDIS_URL="+redis.URL())
	c := newCtl(t)
	ctx := context.Background()
	alice := register(t, n, "alice")
	bob := register(t, n, "bob")
	if _, err := alice.SetTimer(ctx, "@bob:localhost", client.Timer{Seconds: 1, Mode: "after_send"}); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"one", "two", "three"} {
		if _, err := alice.AddMsg(ctx, "@bob:localhost", text, ""); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := bob.Connect(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// Every message of the conversation (the timer notice too) has the
	// timer; wait until all are due, so that no count moves on its own.
	var dry client.PurgeReport
	var before, after client.Stats
	if !testenv.Poll(20*time.Second, func() bool {
		c.jsonOut(srv, adminToken, &before, "stats")
		c.jsonOut(srv, adminToken, &dry, "purge", "--dry-run")
		return dry.Messages >= 3 && int64(dry.Messages) == before.Counts.Messages
	}) {
		t.Fatalf("the messages never came due: %+v of %d", dry, before.Counts.Messages)
	}
	var again client.PurgeReport
	c.jsonOut(srv, adminToken, &again, "purge", "--dry-run")
	c.jsonOut(srv, adminToken, &after, "stats")
	if !again.DryRun || again != dry || before.Counts.Messages != after.Counts.Messages || before.Counts.Conversations != after.Counts.Conversations {
		t.Fatalf("a dry run changed something: dry %+v then %+v; messages %d then %d", dry, again, before.Counts.Messages, after.Counts.Messages)
	}
	c1 := before.Counts
	if c1.Users != 2 || c1.ActiveDay != 2 || c1.ActiveMonth != 2 || c1.Conversations != 1 || c1.Messages < 3 || c1.Deactivated != 0 || before.Connections != 1 {
		t.Fatalf("stats: %+v", before)
	}

	var done client.PurgeReport
	c.jsonOut(srv, adminToken, &done, "purge", "--yes")
	if done.DryRun || done.Messages != dry.Messages {
		t.Fatalf("purge removed %+v, the dry run said %+v", done, dry)
	}
	c.jsonOut(srv, adminToken, &again, "purge", "--dry-run")
	c.jsonOut(srv, adminToken, &after, "stats")
	if again.Messages != 0 || after.Counts.Messages != before.Counts.Messages-int64(done.Messages) {
		t.Fatalf("after the purge: dry run %+v, messages %d (were %d)", again, after.Counts.Messages, before.Counts.Messages)
	}

	var ks client.KeysStatus
	c.jsonOut(srv, adminToken, &ks, "keys", "status")
	if ks.Active == "" || len(ks.Configured) == 0 || ks.DataKeys[ks.Active] < 1 || len(ks.DataKeys) != 1 {
		t.Fatalf("keys status: %+v", ks)
	}
	if out := c.ok(srv, adminToken, "keys", "status"); !strings.Contains(out, ks.Active) || !strings.Contains(out, "active,configured") {
		t.Fatalf("keys status table:\n%s", out)
	}
	if out := c.ok(srv, adminToken, "stats"); !strings.Contains(out, "users_active_24h") || !strings.Contains(out, "connections_this_node") {
		t.Fatalf("stats table:\n%s", out)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
