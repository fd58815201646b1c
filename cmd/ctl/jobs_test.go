package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/vault"
)

func masterKey(version string) string {
	return version + ":" + base64.StdEncoding.EncodeToString(vault.NewDataKey())
}

// TestCtlJobSurvivesRestartRotationV1ToV2: a rewrap job queued under v2
// survives a SIGKILL of the node and finishes after the restart; then the
// node restarts without v1 and every old message still opens, and keys
// status shows no data key under v1.
func TestCtlJobSurvivesRestartRotationV1ToV2(t *testing.T) {
	t.Parallel()
	redis := testenv.StartRedis(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: redis.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	v1, v2 := masterKey("v1"), masterKey("v2")
	n, srv := startNode(t, "REDIS_URL="+redis.URL(), "CRYPTTALK_MASTER_KEYS="+v1)
	c := newCtl(t)
	alice := register(t, n, "alice")
	var sent []string
	for i := range 4 {
		peer := fmt.Sprintf("peer%d", i)
		register(t, n, peer)
		text := "before the rotation to " + peer
		if _, err := alice.AddMsg(ctx, "@"+peer+":localhost", text, ""); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, text)
	}
	pdf := make([]byte, 4000)
	_, _ = rand.Read(pdf)
	copy(pdf, "%PDF-1.7\n")
	fileID := uploadFile(t, n, alice.Token, "@peer0:localhost", pdf)
	var ks client.KeysStatus
	c.jsonOut(srv, adminToken, &ks, "keys", "status")
	under1 := ks.DataKeys["v1"]
	if ks.Active != "v1" || under1 < 5 || ks.FileKeys != 1 {
		t.Fatalf("keys status before: %+v", ks)
	}

	// v2 becomes active; the job is queued while the test holds the lease,
	// so no node can run it before the node is killed.
	setEnv(n, "CRYPTTALK_MASTER_KEYS="+v1+","+v2)
	n.Stop()
	n.Start()
	if err := rdb.Set(ctx, "ct:lease:job:rewrap", "the-test", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var j client.Job
	c.jsonOut(srv, adminToken, &j, "keys", "rewrap", "--background")
	if j.State != "queued" || j.Kind != "rewrap" || j.ID == "" {
		t.Fatalf("queued job: %+v", j)
	}
	if code, msg := c.code(srv, adminToken, "jobs", "start", "rewrap"); code != 1 || !strings.Contains(msg, "CT_JOB_BUSY") {
		t.Fatalf("a second rewrap job: exit %d, %q", code, msg)
	}
	n.Kill()
	n.Start()
	var still client.Job
	c.jsonOut(srv, adminToken, &still, "jobs", "show", j.ID)
	if still.State != "queued" {
		t.Fatalf("after the restart: %+v", still)
	}
	if err := rdb.Del(ctx, "ct:lease:job:rewrap").Err(); err != nil {
		t.Fatal(err)
	}
	out, msg, code := c.run("", "--server", srv, "--token", adminToken, "jobs", "show", j.ID, "--wait", "-o", "json")
	if code != 0 || jsonUnmarshal(out, &j) != nil || j.State != "done" || j.Done != under1 || j.Total != under1 || j.Failed != 0 {
		t.Fatalf("jobs show --wait: exit %d %+v\n%s%s", code, j, out, msg)
	}
	if !strings.Contains(msg, "job "+j.ID+" rewrap") {
		t.Errorf("no plain progress lines on a pipe: %q", msg)
	}
	c.jsonOut(srv, adminToken, &ks, "keys", "status")
	if ks.Active != "v2" || ks.DataKeys["v1"] != 0 || ks.DataKeys["v2"] < under1 {
		t.Fatalf("keys status after the job: %+v", ks)
	}

	// v1 goes: every old message still opens.
	setEnv(n, "CRYPTTALK_MASTER_KEYS="+v2)
	n.Stop()
	n.Start()
	for i, text := range sent {
		msgs, err := alice.GetMsg(ctx, client.GetMsgRequest{To: fmt.Sprintf("@peer%d:localhost", i)})
		found := false
		for _, m := range msgs {
			found = found || m.Message == text
		}
		if err != nil || !found {
			t.Fatalf("after v1 was removed, conversation %d: %v %+v", i, err, msgs)
		}
	}
	var vr client.VerifyReport
	c.jsonOut(srv, adminToken, &vr, "keys", "verify")
	if vr.Opened["v2"] != under1 || len(vr.Failed) != 0 {
		t.Fatalf("keys verify without v1: %+v", vr)
	}
	if got := downloadFile(t, n, alice.Token, fileID); !bytes.Equal(got, pdf) {
		t.Fatalf("after v1 was removed the file reads %d bytes, not the %d uploaded", len(got), len(pdf))
	}
	c.jsonOut(srv, adminToken, &ks, "keys", "status")
	if _, ok := ks.DataKeys["v1"]; ok || len(ks.Configured) != 1 {
		t.Fatalf("keys status without v1: %+v", ks)
	}

	// Cancel: a queued purge job held back by its lease.
	if err := rdb.Set(ctx, "ct:lease:job:purge", "the-test", 0).Err(); err != nil {
		t.Fatal(err)
	}
	c.jsonOut(srv, adminToken, &j, "jobs", "start", "purge")
	var cancelled client.Job
	c.jsonOut(srv, adminToken, &cancelled, "jobs", "cancel", j.ID)
	if cancelled.State != "cancelled" {
		t.Fatalf("cancel: %+v", cancelled)
	}
	if code, _ := c.code(srv, adminToken, "jobs", "cancel", j.ID); code != 1 {
		t.Fatal("a cancelled job was cancelled again")
	}
	var js []client.Job
	c.jsonOut(srv, adminToken, &js, "jobs", "list")
	if len(js) != 2 || js[0].Kind != "purge" || js[1].Kind != "rewrap" {
		t.Fatalf("jobs list: %+v", js)
	}
	var es []client.AuditEntry
	c.jsonOut(srv, adminToken, &es, "audit", "--action", "jobs.create")
	if len(es) != 3 || es[0].Result != "ok" || !strings.HasPrefix(es[1].Result, "CT_JOB_BUSY") || es[2].Result != "ok" || es[2].Status != 202 {
		t.Fatalf("audit of jobs.create: %+v", es)
	}
	if code, _ := c.code(srv, adminToken, "jobs", "start", "frobnicate"); code != 1 {
		t.Fatal("an unknown job kind was accepted")
	}
}

// setEnv replaces (or adds) one variable of the node's environment.
func setEnv(n *testenv.Node, kv string) {
	name, _, _ := strings.Cut(kv, "=")
	for i, e := range n.Env {
		if strings.HasPrefix(e, name+"=") {
			n.Env[i] = kv
			return
		}
	}
	n.Env = append(n.Env, kv)
}

// uploadFile sends data as a file to peer and answers the file id; with
// no peer, no message announces it.
func uploadFile(t *testing.T, n *testenv.Node, token, to string, data []byte) string {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	if to != "" {
		_ = w.WriteField("to", to)
	}
	part, _ := w.CreateFormFile("file", "report.pdf")
	_, _ = part.Write(data)
	_ = w.Close()
	req, _ := http.NewRequest("POST", n.URL()+"/api/files/upload", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct {
		FileID string `json:"file_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != 200 || a.FileID == "" {
		t.Fatalf("upload: %d %v %+v", resp.StatusCode, err, a)
	}
	return a.FileID
}

func downloadFile(t *testing.T, n *testenv.Node, token, id string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", n.URL()+"/api/files/download/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("download %s: %d %s", id, resp.StatusCode, b)
	}
	return b
}

// TestCtlJobFailsThenSucceedsWhenTheKeyIsBack follows the runbook of a
// failed job: a rewrap while the version wrapping the keys is missing
// fails with a count and exit 1; with the version back, a new job is done.
func TestCtlJobFailsThenSucceedsWhenTheKeyIsBack(t *testing.T) {
	t.Parallel()
	v1, v2 := masterKey("v1"), masterKey("v2")
	n, srv := startNode(t, "CRYPTTALK_MASTER_KEYS="+v1)
	c := newCtl(t)
	alice := register(t, n, "alice")
	register(t, n, "bob")
	if _, err := alice.AddMsg(context.Background(), "@bob:localhost", "under v1", ""); err != nil {
		t.Fatal(err)
	}
	var ks client.KeysStatus
	c.jsonOut(srv, adminToken, &ks, "keys", "status")
	keys := ks.DataKeys["v1"]

	setEnv(n, "CRYPTTALK_MASTER_KEYS="+v2) // v1 removed too early
	n.Stop()
	n.Start()
	if out := c.ok(srv, adminToken, "keys", "status"); !strings.Contains(out, "NOT CONFIGURED") {
		t.Fatalf("keys status does not flag v1:\n%s", out)
	}
	var vr client.VerifyReport
	out, msg, code := c.run("", "--server", srv, "--token", adminToken, "keys", "verify", "-o", "json")
	if code != 1 || jsonUnmarshal(out, &vr) != nil || vr.Failed["v1"] != keys || len(vr.FailedIDs) != int(keys) || !strings.Contains(msg, "do not open") {
		t.Fatalf("keys verify without v1: exit %d %+v %s", code, vr, msg)
	}
	out, msg, code = c.run("", "--server", srv, "--token", adminToken, "jobs", "start", "rewrap", "--wait", "-o", "json")
	var j client.Job
	if code != 1 || jsonUnmarshal(out, &j) != nil || j.State != "failed" || j.Failed != keys || j.Done != 0 || !strings.Contains(msg, "failed") {
		t.Fatalf("rewrap without v1: exit %d %+v\n%s%s", code, j, out, msg)
	}

	if out, _, code := c.run("", "--server", srv, "--token", adminToken, "health"); code != 1 || !strings.Contains(out, "job rewrap") || !strings.Contains(out, "failed") {
		t.Fatalf("health after a failed job: exit %d\n%s", code, out)
	}

	setEnv(n, "CRYPTTALK_MASTER_KEYS="+v1+","+v2)
	n.Stop()
	n.Start()
	c.jsonOut(srv, adminToken, &j, "jobs", "start", "rewrap", "--wait")
	if out := c.ok(srv, adminToken, "health"); !strings.Contains(out, "done") {
		t.Fatalf("health after the job was redone:\n%s", out)
	}
	if j.State != "done" || j.Done != keys || j.Failed != 0 {
		t.Fatalf("rewrap with v1 back: %+v", j)
	}
	c.jsonOut(srv, adminToken, &ks, "keys", "status")
	if ks.DataKeys["v1"] != 0 {
		t.Fatalf("keys status: %+v", ks)
	}
	c.jsonOut(srv, adminToken, &vr, "keys", "verify")
	if vr.Opened["v2"] != keys || len(vr.Failed) != 0 {
		t.Fatalf("keys verify after the rewrap: %+v", vr)
	}
}
