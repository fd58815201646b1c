package chat_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/pubsub/local"
	"github.com/crypttalk/crypttalk/store"
)

// uploadVoice has alice send bob a voice message of ms milliseconds.
func (e *env) uploadVoice(t *testing.T, ms int, fl chat.UploadFields) *chat.UploadResult {
	t.Helper()
	ctx := context.Background()
	pf, err := e.svc.ReceiveFile(ctx, e.users["alice"], "voice", "note.wav", bytes.NewReader(wavBytes(ms)))
	if err != nil {
		t.Fatal(err)
	}
	fl.Kind = "voice"
	res, err := e.svc.CompleteUpload(ctx, e.users["alice"], pf, fl)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (e *env) plays(t *testing.T, id string) int64 {
	t.Helper()
	f, err := e.st.GetFile(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return f.Plays
}

// TestVoicePlayCountsFromParsedRange: a play is a GET whose answer holds
// byte 0, however the Range header spells it; HEAD never counts. Before,
// only a header starting "bytes=0-" counted, so `bytes=-N`, `bytes= 0-`
// and `bytes=00-` read the whole voice message uncounted.
func TestVoicePlayCountsFromParsedRange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.uploadVoice(t, 100, chat.UploadFields{To: "@bob:x", MaxPlays: 1000})
	size := res.Size // 1644 bytes
	for _, c := range []struct {
		rng        string
		head       bool
		counts     bool
		start, end int64
		partial    bool
		status     int // 0: served
	}{
		{rng: "", counts: true, end: size},
		{rng: "bytes=0-", counts: true, end: size, partial: true},
		{rng: "bytes=0-99", counts: true, end: 100, partial: true},
		{rng: "bytes= 0-", counts: true, end: size, partial: true},
		{rng: "bytes=00-", counts: true, end: size, partial: true},
		{rng: "bytes=000-0", counts: true, end: 1, partial: true},
		{rng: "BYTES=0-", counts: true, end: size, partial: true},
		{rng: "bytes = 0 - ", counts: true, end: size, partial: true},
		{rng: fmt.Sprintf("bytes=-%d", size), counts: true, end: size, partial: true},
		{rng: "bytes=-99999999", counts: true, end: size, partial: true},
		{rng: "bytes=0-99999999999999999999", counts: true, end: size, partial: true},
		{rng: "bytes=100-200,0-10", counts: true, end: size},
		{rng: "bytes=100-,200-", counts: true, end: size},
		{rng: "bytes=,0-", counts: true, end: size, partial: true},
		{rng: "bytes=-10", start: size - 10, end: size, partial: true},
		{rng: "bytes=100-", start: 100, end: size, partial: true},
		{rng: "bytes=1-1", start: 1, end: 2, partial: true},
		{rng: "", head: true, end: size},
		{rng: "bytes=0-", head: true, end: size, partial: true},
		{rng: "bytes=-0", status: 416},
		{rng: "bytes=+0-", status: 416},
		{rng: "bytes=0x0-", status: 416},
		{rng: "bytes=abc", status: 416},
		{rng: "bytes=5-1", status: 416},
		{rng: fmt.Sprintf("bytes=%d-", size), status: 416},
		{rng: "items=0-", status: 416},
		{rng: "bytes=", status: 416},
	} {
		before := e.plays(t, res.FileID)
		d, err := e.svc.OpenFile(context.Background(), e.users["bob"], res.FileID, chat.Read{Range: c.rng, Head: c.head})
		counted := e.plays(t, res.FileID) - before
		name := fmt.Sprintf("%q head=%v", c.rng, c.head)
		if c.status != 0 {
			var re *chat.RangeError
			if chat.AsError(err).Status != c.status || !errors.As(err, &re) || re.Size != size {
				t.Errorf("%s: %v, want %d naming the size", name, err, c.status)
			}
			if counted != 0 {
				t.Errorf("%s: a refused range counted %d plays", name, counted)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if want := map[bool]int64{true: 1, false: 0}[c.counts]; counted != want {
			t.Errorf("%s: counted %d plays, want %d", name, counted, want)
		}
		if d.Start != c.start || d.End != c.end || d.Partial != c.partial {
			t.Errorf("%s: serves [%d,%d) partial=%v, want [%d,%d) partial=%v", name, d.Start, d.End, d.Partial, c.start, c.end, c.partial)
		}
	}
}

// TestVoiceRangeWithoutPlayCounts: a Range that skips byte 0 continues a
// play only while one can be running; otherwise it is a play itself, so
// `bytes=1-` again and again is no way around max_plays.
func TestVoiceRangeWithoutPlayCounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.uploadVoice(t, 1000, chat.UploadFields{To: "@bob:x", MaxPlays: 3})
	ctx := context.Background()
	bob := e.users["bob"]
	read := func(rng string) error {
		_, err := e.svc.OpenFile(ctx, bob, res.FileID, chat.Read{Range: rng})
		return err
	}
	if err := read("bytes=1-"); err != nil || e.plays(t, res.FileID) != 1 {
		t.Fatalf("bytes=1- with no play running: %v, plays %d, want counted", err, e.plays(t, res.FileID))
	}
	if err := read("bytes=500-"); err != nil || e.plays(t, res.FileID) != 1 {
		t.Fatalf("the rest of that play: %v, plays %d, want not counted", err, e.plays(t, res.FileID))
	}
	e.clk.Advance(time.Second + time.Minute) // duration + grace: that play is over
	if err := read("bytes=1-"); err != nil || e.plays(t, res.FileID) != 2 {
		t.Fatalf("bytes=1- after the play ended: %v, plays %d, want counted", err, e.plays(t, res.FileID))
	}
	e.clk.Advance(2 * time.Minute)
	if err := read("bytes=1-"); err != nil || e.plays(t, res.FileID) != 3 {
		t.Fatalf("third play: %v, plays %d", err, e.plays(t, res.FileID))
	}
	e.clk.Advance(2 * time.Minute)
	if err := read("bytes=1-"); chat.AsError(err).Status != 410 {
		t.Fatalf("a fourth play by Range: %v, want 410", err)
	}
	if _, err := e.svc.OpenFile(ctx, bob, res.FileID, chat.Read{Head: true}); chat.AsError(err).Status != 410 {
		t.Fatalf("HEAD of a played-out message: %v, want 410", err)
	}
}

// wantPurged checks that a voice message is gone with everything of it
// and that both members were told.
func (e *env) wantPurged(t *testing.T, res *chat.UploadResult, aliceEv, bobEv func() []string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.st.GetFile(ctx, res.FileID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("file record after purge: %v", err)
	}
	if _, err := e.st.Blobs().OpenBlob(ctx, res.FileID, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("blob after purge: %v", err)
	}
	if keys, err := e.st.ListDataKeys(ctx, res.FileID); err != nil || len(keys) != 0 {
		t.Errorf("file keys after purge: %d, %v", len(keys), err)
	}
	if _, err := e.st.GetMessage(ctx, res.Msg.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("message after purge: %v", err)
	}
	if !eventually(aliceEv, chat.EventDeleted) || !eventually(bobEv, chat.EventDeleted) {
		t.Errorf("msg-deleted: alice got %v, bob got %v", aliceEv(), bobEv())
	}
}

// TestPlayedOutVoiceIsPurged: after the last allowed play the rest of that
// play can still be fetched for the message's duration plus the grace
// period; a new play is 410; then purge removes message, blob and key.
func TestPlayedOutVoiceIsPurged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	aliceEv, bobEv := e.events(t, "alice"), e.events(t, "bob")
	res := e.uploadVoice(t, 1200, chat.UploadFields{To: "@bob:x", MaxPlays: 1})
	ctx := context.Background()
	bob := e.users["bob"]
	if _, err := e.svc.OpenFile(ctx, bob, res.FileID, chat.Read{Range: "bytes=0-1023"}); err != nil {
		t.Fatalf("the one play: %v", err)
	}
	if _, err := e.svc.OpenFile(ctx, bob, res.FileID, chat.Read{Range: "bytes=1024-"}); err != nil {
		t.Fatalf("the rest of the last play: %v", err)
	}
	if _, err := e.svc.OpenFile(ctx, bob, res.FileID, chat.Read{Range: "bytes=-100000"}); chat.AsError(err).Status != 410 {
		t.Fatalf("a second play: %v, want 410", err)
	}
	if rep, err := e.svc.PurgeOnce(ctx); err != nil || rep.Files != 0 {
		t.Fatalf("purge within the grace period: %+v, %v", rep, err)
	}
	e.clk.Advance(1200*time.Millisecond + time.Minute)
	if _, err := e.svc.OpenFile(ctx, bob, res.FileID, chat.Read{Range: "bytes=1024-"}); chat.AsError(err).Status != 410 {
		t.Fatalf("the rest after the grace period: %v, want 410", err)
	}
	rep, err := e.svc.PurgeOnce(ctx)
	if err != nil || rep.Files != 1 || rep.Messages != 1 {
		t.Fatalf("purge after the grace period: %+v, %v", rep, err)
	}
	e.wantPurged(t, res, aliceEv, bobEv)
	if ms := e.history(t, "bob", "alice"); len(ms) != 0 {
		t.Fatalf("history after purge holds %d messages", len(ms))
	}
}

// TestExpiredVoiceIsPurged: expires_in ran out: 410 at once, and purge
// removes the message with blob and key.
func TestExpiredVoiceIsPurged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	aliceEv, bobEv := e.events(t, "alice"), e.events(t, "bob")
	res := e.uploadVoice(t, 100, chat.UploadFields{To: "@bob:x", ExpiresIn: 300})
	other := e.uploadVoice(t, 100, chat.UploadFields{To: "@bob:x"})
	e.clk.Advance(300 * time.Second)
	rep, err := e.svc.PurgeOnce(context.Background())
	if err != nil || rep.Files != 1 {
		t.Fatalf("purge: %+v, %v", rep, err)
	}
	e.wantPurged(t, res, aliceEv, bobEv)
	if _, err := e.svc.OpenFile(context.Background(), e.users["bob"], other.FileID, chat.Read{}); err != nil {
		t.Fatalf("a voice message without expiry after purge: %v", err)
	}
}

// TestUnannouncedUploadExpires: an upload without `to` is removed after
// PendingUploadTTL unless a send-file announced it first.
func TestUnannouncedUploadExpires(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, chat.Options{ServerName: "x", BcryptCost: 4, PendingUploadTTL: 10 * time.Minute}, nil)
	ctx := context.Background()
	alice := e.users["alice"]
	upload := func() string {
		pf, err := e.svc.ReceiveFile(ctx, alice, "voice", "n.wav", bytes.NewReader(wavBytes(100)))
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.svc.CompleteUpload(ctx, alice, pf, chat.UploadFields{})
		if err != nil {
			t.Fatal(err)
		}
		return res.FileID
	}
	lone, sent := upload(), upload()
	if _, err := e.svc.AnnounceFile(ctx, alice, "@bob:x", sent); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(10*time.Minute - time.Second)
	if rep, _ := e.svc.PurgeOnce(ctx); rep.Files != 0 {
		t.Fatalf("purged %d files before their time", rep.Files)
	}
	e.clk.Advance(time.Second)
	if rep, err := e.svc.PurgeOnce(ctx); err != nil || rep.Files != 1 {
		t.Fatalf("purge at the TTL: %+v, %v", rep, err)
	}
	if _, err := e.st.Blobs().OpenBlob(ctx, lone, 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("blob of the expired upload: %v", err)
	}
	if _, err := e.svc.AnnounceFile(ctx, alice, "@bob:x", lone); chat.AsError(err).Status != 404 {
		t.Fatalf("send-file of an expired upload: %v, want 404", err)
	}
	if _, err := e.svc.OpenFile(ctx, e.users["bob"], sent, chat.Read{}); err != nil {
		t.Fatalf("the announced upload after purge: %v", err)
	}
}

// TestUploadQuota: once a user's stored files reach the quota, an upload
// is 413 CT_QUOTA_EXCEEDED and leaves nothing behind; others are not held.
func TestUploadQuota(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, chat.Options{ServerName: "x", BcryptCost: 4, UploadQuotaBytes: 2500}, nil)
	ctx := context.Background()
	try := func(who string) error {
		pf, err := e.svc.ReceiveFile(ctx, e.users[who], "voice", "n.wav", bytes.NewReader(wavBytes(100))) // 1644 bytes
		if err != nil {
			return err
		}
		_, err = e.svc.CompleteUpload(ctx, e.users[who], pf, chat.UploadFields{To: "@eve:x"})
		return err
	}
	if err := try("alice"); err != nil {
		t.Fatal(err)
	}
	err := try("alice")
	if e := chat.AsError(err); e.Status != 413 || e.Code != chat.CodeQuota {
		t.Fatalf("upload over the quota: %v, want 413 %s", err, chat.CodeQuota)
	}
	if n, _ := e.st.FileUsage(ctx, "@alice:x"); n != 1644 {
		t.Fatalf("usage after a refused upload = %d, want 1644", n)
	}
	if err := try("bob"); err != nil {
		t.Fatalf("another user: %v", err)
	}
}

// TestUploadRateLimit: uploads per user per window, 429 with Retry-After.
func TestUploadRateLimit(t *testing.T) {
	t.Parallel()
	opts := chat.Options{ServerName: "x", BcryptCost: 4, UploadPerUser: 2, UploadWindow: time.Hour}
	e := newEnvWith(t, opts, local.NewLimiter(nil))
	ctx := context.Background()
	try := func(who string) error {
		pf, err := e.svc.ReceiveFile(ctx, e.users[who], "voice", "n.wav", bytes.NewReader(wavBytes(10)))
		if err == nil {
			e.svc.DiscardUpload(ctx, pf)
		}
		return err
	}
	for range 2 {
		if err := try("alice"); err != nil {
			t.Fatal(err)
		}
	}
	err := try("alice")
	if e := chat.AsError(err); e.Status != 429 || e.Code != chat.CodeRateLimited || e.RetryAfter <= 0 {
		t.Fatalf("third upload: %v, want 429 with a retry time", err)
	}
	if err := try("bob"); err != nil {
		t.Fatalf("another user: %v", err)
	}
}

// cutReader yields the first n bytes of b, then fails as a body cut short.
type cutReader struct {
	b []byte
	n int
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	k := copy(p, c.b[:min(c.n, len(c.b))])
	c.b, c.n = c.b[k:], c.n-k
	return k, nil
}

// TestTruncatedUploadIs400: a body that breaks off mid-file is bad input,
// not a 500, and leaves nothing behind.
func TestTruncatedUploadIs400(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, n := range []int{0, 10, 5000} {
		_, err := e.svc.ReceiveFile(context.Background(), e.users["alice"], "voice", "n.wav", &cutReader{b: wavBytes(1000), n: n})
		if e := chat.AsError(err); e.Status != 400 {
			t.Errorf("cut after %d bytes: %v, want 400", n, err)
		}
	}
	if n, _ := e.st.FileUsage(context.Background(), "@alice:x"); n != 0 {
		t.Fatalf("usage after cut uploads = %d", n)
	}
}
