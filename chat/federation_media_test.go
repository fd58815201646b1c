package chat_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/crypttalk/crypttalk/chat"
)

// mediaOut is a fakeOut that can also fetch files from its peer, as the
// asking server self.
type mediaOut struct {
	*fakeOut
	self    string
	fetches int
}

func (m *mediaOut) FetchMedia(ctx context.Context, origin, fileID string) (io.ReadCloser, error) {
	m.fetches++
	d, err := m.peer.LocalMedia(ctx, m.self, fileID)
	if err != nil {
		return nil, err
	}
	return d.Open(ctx, 0)
}

func TestFederationVoiceAcross(t *testing.T) {
	t.Parallel()
	x, y, _, _ := fedPair(t)
	ym := &mediaOut{fakeOut: &fakeOut{peer: x.svc}, self: "y"}
	y.svc.SetOutbound(ym)
	ctx := context.Background()
	wav := wavBytes(300)
	pf, err := x.svc.ReceiveFile(ctx, x.users["alice"], "voice", "note.wav", bytes.NewReader(wav))
	if err != nil {
		t.Fatal(err)
	}
	res, err := x.svc.CompleteUpload(ctx, x.users["alice"], pf, chat.UploadFields{To: "@bob:y", Kind: "voice", MaxPlays: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Only a server with a user in the conversation may fetch it.
	if _, err := x.svc.LocalMedia(ctx, "z", res.FileID); chat.AsError(err).Status != 404 {
		t.Fatalf("LocalMedia for a server without a recipient: %v, want 404", err)
	}
	drain(t, x, "y", y)
	drain(t, x, "y", y) // nothing left: the item was acked
	if ym.fetches != 1 {
		t.Fatalf("fetched %d times, want 1", ym.fetches)
	}
	ms, err := y.svc.History(ctx, y.users["bob"], chat.HistoryRequest{To: "@alice:x"})
	if err != nil || len(ms) != 1 || ms[0].Type != "voice" || ms[0].File == nil {
		t.Fatalf("bob's history = %+v, %v", ms, err)
	}
	fv := ms[0].File
	if fv.FileID == res.FileID || fv.Size != int64(len(wav)) || fv.Filename != "note.wav" || fv.Mime != res.Mime {
		t.Fatalf("bob's file = %+v (alice's id %s)", fv, res.FileID)
	}
	// y sealed its own copy; bob reads it from y, and y counts his plays.
	d, err := y.svc.OpenFile(ctx, y.users["bob"], fv.FileID, chat.Read{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := d.Open(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, wav) {
		t.Fatal("bob's copy differs from alice's file")
	}
	f, err := y.st.GetFile(ctx, fv.FileID)
	if err != nil || f.MaxPlays != 2 || f.Owner != "@alice:x" {
		t.Fatalf("y's file record = %+v, %v", f, err)
	}
}

func TestFederationFileRefusals(t *testing.T) {
	t.Parallel()
	x, y, _, _ := fedPair(t)
	ctx := context.Background()
	ev := func(content string) chat.RemoteEvent {
		return chat.RemoteEvent{Origin: "x", Sender: "@alice:x", Recipient: "@bob:y", Type: chat.FedMessage, Content: []byte(content)}
	}
	// Without a media fetcher: 415.
	if err := y.svc.Receive(ctx, ev(`{"msgtype":"file","body":"a","message_id":"m","file":{"file_id":"f","size":10}}`)); chat.AsError(err).Status != 415 {
		t.Fatalf("file without a fetcher: %v, want 415", err)
	}
	y.svc.SetOutbound(&mediaOut{fakeOut: &fakeOut{peer: x.svc}, self: "y"})
	cases := []struct {
		content string
		status  int
	}{
		{`{"msgtype":"file","body":"a","message_id":"m"}`, 400},
		{`{"msgtype":"file","body":"a","message_id":"m","file":{"file_id":"f","size":0}}`, 400},
		{`{"msgtype":"file","body":"a","message_id":"m","file":{"file_id":"f","size":99999999999}}`, 413},
		{`{"msgtype":"file","body":"a","message_id":"m","file":{"file_id":"missing","size":10}}`, 404},
	}
	for _, c := range cases {
		err := y.svc.Receive(ctx, ev(c.content))
		var ce *chat.Error
		if !errors.As(err, &ce) || ce.Status != c.status {
			t.Errorf("%s: %v, want %d", c.content, err, c.status)
		}
	}
}

// TestFederationMediaBeforeFileNamesMessage: the receiver may fetch a file
// as soon as its message is queued, before the file record names the
// message (announce writes that afterwards). That fetch was answered 404,
// which the origin's sender takes as final: the file message was lost.
func TestFederationMediaBeforeFileNamesMessage(t *testing.T) {
	t.Parallel()
	x, _, _, _ := fedPair(t)
	ctx := context.Background()
	pf, err := x.svc.ReceiveFile(ctx, x.users["alice"], "voice", "n.wav", bytes.NewReader(wavBytes(100)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := x.svc.CompleteUpload(ctx, x.users["alice"], pf, chat.UploadFields{To: "@bob:y", Kind: "voice"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := x.st.GetFile(ctx, res.FileID)
	if err != nil {
		t.Fatal(err)
	}
	f.MessageID = "" // the moment between the message's commit and the file's update
	if err := x.st.UpdateFile(ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, err := x.svc.LocalMedia(ctx, "y", res.FileID); err != nil {
		t.Fatalf("LocalMedia before the file names its message: %v", err)
	}
	for _, origin := range []string{"z", "x"} {
		if _, err := x.svc.LocalMedia(ctx, origin, res.FileID); chat.AsError(err).Status != 404 {
			t.Fatalf("LocalMedia for %s: %v, want 404", origin, err)
		}
	}
}
