package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// health is `ctl health -o json` against srv: the report and the exit
// code.
func (c *ctl) health(srv string) (healthReport, int, string) {
	var rep healthReport
	out, errOut, code := c.run("", "--server", srv, "--token", adminToken, "health", "-o", "json")
	if json.Unmarshal([]byte(out), &rep) != nil {
		c.t.Fatalf("health -o json: exit %d\n%s%s", code, out, errOut)
	}
	return rep, code, errOut
}

func nodeAt(rep healthReport, addr string) *client.Node {
	for i := range rep.Nodes {
		if rep.Nodes[i].Address == addr {
			return &rep.Nodes[i]
		}
	}
	return nil
}

// TestCtlClusterHealthStatsAndJobTakeover runs two nodes on one MongoDB
// wire server and one redis-server:
//   - ctl health lists both nodes with their store, bus, purge and jobs
//     checks and exits 0; ctl stats shows each node's sockets;
//   - a reencrypt job running on one node survives that node's SIGKILL:
//     the other takes over the lease, resumes from the checkpoint and
//     finishes with every message read back;
//   - the killed node turns stale in ctl health, which then exits 1.
func TestCtlClusterHealthStatsAndJobTakeover(t *testing.T) {
	t.Parallel()
	redis, mongo := testenv.StartRedis(t), testenv.StartMongo(t)
	env := []string{"MONGO_URL=" + mongo.URL(), "REDIS_URL=" + redis.URL(), "CRYPTTALK_MASTER_KEYS=" + masterKey("v1"),
		"CRYPTTALK_STORE_OP_TIMEOUT=5s", "CRYPTTALK_LIMITS_JOB_BATCH_PAUSE=300ms"}
	n1, srv1 := startNode(t, env...)
	n2, srv2 := startNode(t, env...)
	c := newCtl(t)
	ctx := context.Background()

	var rep healthReport
	var code int
	if !testenv.Poll(20*time.Second, func() bool {
		rep, code, _ = c.health(srv1)
		return code == 0 && len(rep.Nodes) == 2 && nodeAt(rep, n1.Addr) != nil && nodeAt(rep, n2.Addr) != nil
	}) {
		t.Fatalf("ctl health does not list both healthy nodes: exit %d %+v", code, rep.Nodes)
	}
	for _, n := range rep.Nodes {
		if !n.Healthy || n.Stale || n.Version == "" {
			t.Fatalf("node %+v", n)
		}
		for _, check := range []string{"store", "bus", "purge", "jobs"} {
			if v, ok := n.Checks[check]; !ok || !strings.HasPrefix(v, "ok") {
				t.Fatalf("node %s check %s = %q", n.ID, check, v)
			}
		}
	}
	if out := c.ok(srv1, adminToken, "health"); !strings.Contains(out, "node "+nodeAt(rep, n2.Addr).ID) || !strings.Contains(out, "(this one)") {
		t.Fatalf("health table:\n%s", out)
	}

	// Sockets per node: one on n2, seen through n1.
	clients, texts := chatRing(t, n1, 6, 3)
	conn, err := client.WithBase(clients[0], n2.URL()).Connect(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	id2 := nodeAt(rep, n2.Addr).ID
	var st client.Stats
	if !testenv.Poll(10*time.Second, func() bool {
		c.jsonOut(srv1, adminToken, &st, "stats")
		for _, n := range st.Nodes {
			if n.ID == id2 && n.Connections == 1 {
				return true
			}
		}
		return false
	}) || len(st.Nodes) != 2 || st.Connections != 0 {
		t.Fatalf("stats per node: %+v", st)
	}
	if out := c.ok(srv1, adminToken, "stats"); !strings.Contains(out, "connections "+id2) || !strings.Contains(out, "connections_cluster") {
		t.Fatalf("stats table:\n%s", out)
	}
	conn.Close()

	// The job: kill whichever node runs it once a checkpoint is saved.
	var j client.Job
	c.jsonOut(srv1, adminToken, &j, "keys", "rotate", "--reencrypt")
	var running client.Job
	if !testenv.Poll(60*time.Second, func() bool {
		got, ok := c.showJob(srv1, j.ID)
		running = got
		return ok && (got.Done > 15 || got.Finished())
	}) || running.Finished() || running.Node == "" {
		t.Fatalf("the job did not make progress, or ended before it could be killed: %+v", running)
	}
	victim, survivor, survivorSrv := n1, n2, srv2
	if running.Node == id2 {
		victim, survivor, survivorSrv = n2, n1, srv1
	}
	victimID := nodeAt(rep, victim.Addr).ID
	if running.Node != victimID {
		t.Fatalf("the job runs on %q, not a node of the registry %+v", running.Node, rep.Nodes)
	}
	victim.Kill()
	killedAt := time.Now()

	var after client.Job
	if !testenv.Poll(90*time.Second, func() bool {
		got, ok := c.showJob(survivorSrv, j.ID)
		after = got
		return ok && got.Finished()
	}) {
		t.Fatalf("the job did not finish on the other node: %+v", after)
	}
	const messages = 45
	// Runs is 2 at least: the victim's, then the survivor's (under load a
	// late lease renewal may hand the job over once more; it resumes).
	if after.State != "done" || after.Runs < 2 || after.Node == victimID || after.Done != messages || after.Total != messages || after.Failed != 0 {
		t.Fatalf("the job after the takeover: %+v", after)
	}
	tookOver := time.Since(killedAt)
	for i := range clients {
		clients[i] = client.WithBase(clients[i], survivor.URL())
	}
	readsBack(t, clients, texts)

	// The dead node turns stale and ctl health fails.
	var errOut string
	if !testenv.Poll(30*time.Second, func() bool {
		rep, code, errOut = c.health(survivorSrv)
		v := nodeAt(rep, victim.Addr)
		return v != nil && v.Stale
	}) {
		t.Fatalf("the killed node is not stale: %+v", rep.Nodes)
	}
	t.Logf("killed at %d/%d; the other node finished the job %s later; ctl health, asked after that, showed the dead one stale %s after the kill",
		running.Done, running.Total, tookOver.Truncate(time.Millisecond), time.Since(killedAt).Truncate(time.Millisecond))
	v := nodeAt(rep, victim.Addr)
	if code != 1 || v.Healthy || len(v.Problems) == 0 || !strings.Contains(errOut, "unhealthy") || !nodeAt(rep, survivor.Addr).Healthy {
		t.Fatalf("health with a dead node: exit %d %q %+v", code, errOut, rep.Nodes)
	}
	out, _, _ := c.run("", "--server", survivorSrv, "--token", adminToken, "health")
	if !strings.Contains(out, "UNHEALTHY: no heartbeat for") {
		t.Fatalf("health table with a dead node:\n%s", out)
	}
}
