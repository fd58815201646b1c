package storetest

import (
	"context"
	"maps"
	"strings"

	"github.com/crypttalk/crypttalk/store"
)

// storeCalls calls every method of store.Store (and of its BlobStore) once,
// on records that convWithEverything(t, s, "!c") made, so that with a live
// context each call would reach the database and succeed or answer a
// domain error. The Context cases run them with an ended context.
func storeCalls(s store.Store) map[string]func(ctx context.Context) error {
	calls := accountCalls(s)
	maps.Copy(calls, contentCalls(s))
	return calls
}

// ignore1 drops a result, keeping the error.
func ignore1(_ any, err error) error { return err }

// accountCalls covers users, sessions and conversations.
func accountCalls(s store.Store) map[string]func(ctx context.Context) error {
	user := newUser("late")
	return map[string]func(ctx context.Context) error{
		"Ping":               s.Ping,
		"PutUser":            func(ctx context.Context) error { return s.PutUser(ctx, user) },
		"GetUser":            func(ctx context.Context) error { return ignore1(s.GetUser(ctx, user.ID)) },
		"GetUserByLocalpart": func(ctx context.Context) error { return ignore1(s.GetUserByLocalpart(ctx, "late")) },
		"UpdateUser":         func(ctx context.Context) error { return s.UpdateUser(ctx, user) },
		"ListUsers":          func(ctx context.Context) error { return ignore1(s.ListUsers(ctx, store.UserQuery{})) },
		"PutSession":         func(ctx context.Context) error { return s.PutSession(ctx, &store.Session{TokenHash: "h", UserID: "u"}) },
		"GetSession":         func(ctx context.Context) error { return ignore1(s.GetSession(ctx, "h")) },
		"DeleteSession":      func(ctx context.Context) error { return s.DeleteSession(ctx, "h") },
		"DeleteUserSessions": func(ctx context.Context) error { return ignore1(s.DeleteUserSessions(ctx, "u")) },
		"EnsureConversation": func(ctx context.Context) error {
			return ignore1(s.EnsureConversation(ctx, &store.Conversation{ID: "!new", Members: []string{alice, bob}}))
		},
		"GetConversation":    func(ctx context.Context) error { return ignore1(s.GetConversation(ctx, "!c")) },
		"ListConversations":  func(ctx context.Context) error { return ignore1(s.ListConversations(ctx, alice)) },
		"NextSeq":            func(ctx context.Context) error { return ignore1(s.NextSeq(ctx, "!c", t0)) },
		"SetTimer":           func(ctx context.Context) error { return s.SetTimer(ctx, "!c", 0, store.TimerOff, t0) },
		"ListIdleExpired":    func(ctx context.Context) error { return ignore1(s.ListIdleExpired(ctx, t0, 10)) },
		"MarkRead":           func(ctx context.Context) error { return ignore1(s.MarkRead(ctx, "!c", bob, 1)) },
		"MarkDelivered":      func(ctx context.Context) error { return ignore1(s.MarkDelivered(ctx, "!c", bob, 1)) },
		"DeleteConversation": func(ctx context.Context) error { return s.DeleteConversation(ctx, "!c") },
	}
}

// contentCalls covers messages, keys, files and blobs.
func contentCalls(s store.Store) map[string]func(ctx context.Context) error {
	msg := &store.Message{ID: "late", ConversationID: "!c", Seq: 99, Sender: alice, Recipient: bob, CreatedAt: t0}
	return map[string]func(ctx context.Context) error{
		"PutMessage":      func(ctx context.Context) error { return s.PutMessage(ctx, msg) },
		"GetMessage":      func(ctx context.Context) error { return ignore1(s.GetMessage(ctx, "late")) },
		"GetMessageByTxn": func(ctx context.Context) error { return ignore1(s.GetMessageByTxn(ctx, alice, "txn-!c")) },
		"ListMessages": func(ctx context.Context) error {
			return ignore1(s.ListMessages(ctx, "!c", store.MessageRange{Now: t0}))
		},
		"CountMessages":            func(ctx context.Context) error { return ignore1(s.CountMessages(ctx, "!c", 0, bob, t0)) },
		"SetMessagesExpiry":        func(ctx context.Context) error { return s.SetMessagesExpiry(ctx, "!c", alice, 10, t0) },
		"ListExpiredMessages":      func(ctx context.Context) error { return ignore1(s.ListExpiredMessages(ctx, t0, 10)) },
		"DeleteMessages":           func(ctx context.Context) error { return s.DeleteMessages(ctx, []string{"late"}) },
		"PutDataKey":               func(ctx context.Context) error { return s.PutDataKey(ctx, &store.DataKey{ID: "late", Owner: "!c"}) },
		"GetDataKey":               func(ctx context.Context) error { return ignore1(s.GetDataKey(ctx, "dk!c")) },
		"ListDataKeys":             func(ctx context.Context) error { return ignore1(s.ListDataKeys(ctx, "!c")) },
		"ListDataKeysNotWrappedBy": func(ctx context.Context) error { return ignore1(s.ListDataKeysNotWrappedBy(ctx, "v2", "", 10)) },
		"UpdateDataKey": func(ctx context.Context) error {
			return s.UpdateDataKey(ctx, &store.DataKey{ID: "dk!c", MasterVersion: "v2"})
		},
		"DeleteDataKeys":        func(ctx context.Context) error { return s.DeleteDataKeys(ctx, "!c") },
		"PutFile":               func(ctx context.Context) error { return s.PutFile(ctx, newFile("late", "!c")) },
		"GetFile":               func(ctx context.Context) error { return ignore1(s.GetFile(ctx, "filec")) },
		"UpdateFile":            func(ctx context.Context) error { return s.UpdateFile(ctx, newFile("filec", "!c")) },
		"AddPlay":               func(ctx context.Context) error { return ignore1(s.AddPlay(ctx, "filec", t0)) },
		"DeleteFile":            func(ctx context.Context) error { return s.DeleteFile(ctx, "filec") },
		"ListConversationFiles": func(ctx context.Context) error { return ignore1(s.ListConversationFiles(ctx, "!c")) },
		"WriteBlob": func(ctx context.Context) error {
			return ignore1(s.Blobs().WriteBlob(ctx, "late", strings.NewReader("x")))
		},
		"OpenBlob": func(ctx context.Context) error {
			rc, err := s.Blobs().OpenBlob(ctx, "filec", 0)
			if err == nil {
				rc.Close()
			}
			return err
		},
		"DeleteBlob": func(ctx context.Context) error { return s.Blobs().DeleteBlob(ctx, "filec") },
	}
}
