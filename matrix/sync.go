package matrix

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/store"
)

// A sync token is the user's position in their own conversations: the
// time it was made, and per room recently active (or with an invitation
// pending) the highest seq seen and two flags (still invited; the invited
// peer has not joined yet), plus a hash of the m.direct last sent. Seqs
// are the store's, so the token means the same on every node. A room
// quiet for syncWindow when the token was made is left out: everything it
// held was older than at-syncWindow, so what is new in it is what was
// written after that. This keeps the token to the rooms of the last
// minutes (it travels in every /sync URL, and the server reads request
// lines of a few KiB); the price is that a node whose clock is behind by
// more than syncWindow could write a message a quiet room's token misses.
// Rooms are keyed by the first 8 characters of the conversation id (48
// bits); the token uses only URL-safe characters.
const (
	syncPrefix  = "ct2."
	roomKeyLen  = 8
	flagInvited = 1
	flagPeerInv = 2
	syncWindow  = 10 * time.Minute
	maxTimeout  = 60 * time.Second
	busDownPoll = 2 * time.Second
	maxSince    = 16 << 10
)

type roomPos struct {
	seq   int64
	flags int
	read  int64 // the peer's read position last sent as m.receipt
}

type syncToken struct {
	direct uint32
	at     int64 // unix ms
	rooms  map[string]roomPos
	batch  int64 // the to-device batch this answer handed out (keys.go)
}

func roomKey(convID string) string {
	k := strings.TrimPrefix(convID, "!")
	if len(k) > roomKeyLen {
		k = k[:roomKeyLen]
	}
	return k
}

func (t *syncToken) encode() string {
	var b strings.Builder
	b.WriteString(syncPrefix + strconv.FormatUint(uint64(t.direct), 36) + "." + strconv.FormatInt(t.at, 36))
	if t.batch > 0 {
		b.WriteString("." + strconv.FormatInt(t.batch, 36))
	}
	for k, p := range t.rooms {
		b.WriteString("~" + k + "." + strconv.FormatInt(p.seq, 36))
		if p.flags != 0 || p.read != 0 {
			b.WriteString("." + strconv.Itoa(p.flags))
		}
		if p.read != 0 {
			b.WriteString("." + strconv.FormatInt(p.read, 36))
		}
	}
	return b.String()
}

func parseSince(s string) (*syncToken, bool) {
	if !strings.HasPrefix(s, syncPrefix) || len(s) > maxSince {
		return nil, false
	}
	parts := strings.Split(s[len(syncPrefix):], "~")
	head := strings.Split(parts[0], ".")
	if len(head) != 2 && len(head) != 3 {
		return nil, false
	}
	d, err1 := strconv.ParseUint(head[0], 36, 32)
	at, err2 := strconv.ParseInt(head[1], 36, 64)
	if err1 != nil || err2 != nil || at < 0 {
		return nil, false
	}
	t := &syncToken{direct: uint32(d), at: at, rooms: map[string]roomPos{}}
	if len(head) == 3 {
		if t.batch, err1 = strconv.ParseInt(head[2], 36, 64); err1 != nil || t.batch <= 0 {
			return nil, false
		}
	}
	for _, p := range parts[1:] {
		f := strings.Split(p, ".")
		if len(f) < 2 || len(f) > 4 || f[0] == "" {
			return nil, false
		}
		seq, err := strconv.ParseInt(f[1], 36, 64)
		if err != nil || seq < 0 {
			return nil, false
		}
		pos := roomPos{seq: seq}
		if len(f) >= 3 {
			if pos.flags, err = strconv.Atoi(f[2]); err != nil || pos.flags < 0 || pos.flags > 3 {
				return nil, false
			}
		}
		if len(f) == 4 {
			if pos.read, err = strconv.ParseInt(f[3], 36, 64); err != nil || pos.read < 0 {
				return nil, false
			}
		}
		t.rooms[f[0]] = pos
	}
	return t, true
}

// seen is what since knows of conv: known, and either the seq seen or
// (for a room left out as quiet) the time after which messages are new.
func (t *syncToken) seen(conv *store.Conversation) (pos roomPos, after time.Time, known bool) {
	if t == nil {
		return roomPos{}, time.Time{}, false
	}
	if p, ok := t.rooms[roomKey(conv.ID)]; ok {
		return p, time.Time{}, true
	}
	cut := time.UnixMilli(t.at).Add(-syncWindow)
	if !conv.CreatedAt.After(cut) {
		return roomPos{seq: -1}, cut, true
	}
	return roomPos{}, time.Time{}, false
}

// sync answers at once without `since` (or with timeout 0); with `since`
// it long-polls until something is new for the user: a message on their
// bus topic (the one the WebSocket uses, so any node's send wakes it), a
// Matrix wake-up (invite, join, account data), or a revoked token.
func (h *handler) sync(c *fiber.Ctx, p *chat.Principal) error {
	limit := timelineLimit(c.Query("filter"))
	var since *syncToken
	if s := c.Query("since"); s != "" {
		var ok bool
		if since, ok = parseSince(s); !ok {
			return &mxError{status: 400, code: "M_INVALID_PARAM", msg: "unknown since token"}
		}
	}
	timeout, err := parseTimeout(c.Query("timeout"))
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	var poll <-chan time.Time
	w := &waiter{tokenHash: p.TokenHash, userID: p.User.ID, wake: make(chan struct{}, 1)}
	if since != nil && timeout > 0 {
		// Subscribed before the first look, so nothing published between
		// that look and the wait is missed.
		done := h.addWaiter(w)
		defer done()
		wake := func(string, []byte) { poke(w.wake) }
		for _, topic := range []string{pubsub.UserTopic(p.User.UserID), chat.MatrixTopic(p.User.UserID)} {
			sub, err := h.svc.Bus().Subscribe(ctx, topic, wake)
			if err != nil {
				// The store still has everything: without the bus the
				// wait looks again every few seconds instead.
				if poll == nil {
					t := time.NewTicker(busDownPoll)
					defer t.Stop()
					poll = t.C
				}
				continue
			}
			defer sub.Close()
		}
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		resp, changed, err := h.build(c, p, since, limit)
		if err != nil {
			return err
		}
		if since == nil || changed || timeout == 0 {
			return c.JSON(resp)
		}
		select {
		case <-w.wake:
		case <-poll:
		case <-deadline.C:
			return c.JSON(resp)
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		// A token revoked meanwhile ends the wait with M_UNKNOWN_TOKEN.
		if _, err := h.svc.Authenticate(ctx, token(c)); err != nil {
			return err
		}
	}
}

// parseTimeout reads /sync's timeout (ms), capped before it is scaled so
// that a huge value cannot overflow into an instant answer.
func parseTimeout(t string) (time.Duration, error) {
	if t == "" {
		return 0, nil
	}
	ms, err := strconv.ParseInt(t, 10, 64)
	if err != nil || ms < 0 || strings.HasPrefix(t, "+") {
		return 0, badParam("timeout must be a non-negative integer")
	}
	return time.Duration(min(ms, maxTimeout.Milliseconds())) * time.Millisecond, nil
}

// build computes the sync response from since; changed says whether it
// holds anything new.
func (h *handler) build(c *fiber.Ctx, p *chat.Principal, since *syncToken, limit int) (fiber.Map, bool, error) {
	ctx, me := c.UserContext(), p.User.UserID
	convs, err := h.svc.RoomsOf(ctx, p)
	if err != nil {
		return nil, false, err
	}
	inv, err := h.loadInvites(c, me)
	if err != nil {
		return nil, false, err
	}
	direct, err := h.direct(c, me, convs)
	if err != nil {
		return nil, false, err
	}
	dh := fnv.New32a()
	dh.Write(direct)
	now := time.Now()
	next := &syncToken{direct: dh.Sum32(), at: now.UnixMilli(), rooms: map[string]roomPos{}}
	joined, invited := fiber.Map{}, fiber.Map{}
	changed := false
	for _, conv := range convs {
		room := h.roomID(conv.ID)
		peer := peerOf(conv, me)
		pos := roomPos{seq: conv.LastSeq, read: conv.ReadSeq[peer]}
		if _, ok := inv.In[room]; ok {
			pos.flags |= flagInvited
		}
		if _, ok := inv.Out[room]; ok {
			pos.flags |= flagPeerInv
		}
		if pos.flags != 0 || conv.LastMessageAt.After(now.Add(-syncWindow)) {
			next.rooms[roomKey(conv.ID)] = pos
		}
		old, afterTime, known := since.seen(conv)
		if pos.flags&flagInvited != 0 {
			if !known || old.flags&flagInvited == 0 {
				var st []event
				for _, e := range h.stateEvents(conv, me, inv) {
					st = append(st, stripped(e))
				}
				invited[room] = fiber.Map{"invite_state": fiber.Map{"events": st}}
				changed = true
			}
			continue
		}
		newJoin := !known || old.flags&flagInvited != 0
		var timeline []event
		if newJoin {
			old, afterTime = roomPos{}, time.Time{}
		} else if old.flags&flagPeerInv != 0 && pos.flags&flagPeerInv == 0 {
			timeline = append(timeline, memberEvent(conv, peerOf(conv, me), peerOf(conv, me), "join", false))
		}
		msgs, limited, first, err := h.timeline(c, p, conv, old.seq, afterTime, limit)
		if err != nil {
			return nil, false, err
		}
		var ephemeral []event
		// A quiet room's token has no read position: its receipt is not
		// sent again (receipts travel for rooms active in the window).
		if pos.read > 0 && (newJoin || (old.seq >= 0 && pos.read > old.read)) {
			if r, err := h.receiptEvent(c, p, conv, peer, pos.read); err != nil {
				return nil, false, err
			} else if r != nil {
				ephemeral = append(ephemeral, r)
			}
		}
		if !newJoin && len(timeline) == 0 && len(msgs) == 0 && len(ephemeral) == 0 {
			continue
		}
		changed = true
		r := fiber.Map{
			"timeline": fiber.Map{"events": append(timeline, msgs...), "limited": limited, "prev_batch": posToken(first)},
			"state":    fiber.Map{"events": []event{}},
		}
		if newJoin {
			r["state"] = fiber.Map{"events": h.stateEvents(conv, me, inv)}
		}
		if len(ephemeral) > 0 {
			r["ephemeral"] = fiber.Map{"events": ephemeral}
		}
		joined[room] = r
	}
	resp := fiber.Map{"rooms": fiber.Map{"join": joined, "invite": invited}}
	if since == nil || since.direct != next.direct {
		changed = true
		resp["account_data"] = fiber.Map{"events": []event{{"type": typeDirect, "content": json.RawMessage(direct)}}}
	}
	batch, fresh, err := h.syncE2EE(c, p, since, convs, resp)
	if err != nil {
		return nil, false, err
	}
	next.batch, changed = batch, changed || fresh
	resp["next_batch"] = next.encode()
	return resp, changed, nil
}

// timeline is the newest limit messages after seq `after` (or, with
// after < 0, written after afterTime); limited when more exist, first the
// point before the first one (prev_batch).
func (h *handler) timeline(c *fiber.Ctx, p *chat.Principal, conv *store.Conversation, after int64, afterTime time.Time, limit int) ([]event, bool, int64, error) {
	if (after >= 0 && conv.LastSeq <= after) || (after < 0 && !conv.LastMessageAt.After(afterTime)) {
		return nil, false, conv.LastSeq, nil
	}
	views, err := h.svc.History(c.UserContext(), p, chat.HistoryRequest{To: peerOf(conv, p.User.UserID), Limit: limit + 1})
	if err != nil {
		return nil, false, 0, err
	}
	kept := views[:0]
	for _, v := range views {
		if (after >= 0 && v.Seq > after) || (after < 0 && v.CreatedAt.After(afterTime)) {
			kept = append(kept, v)
		}
	}
	limited := len(kept) > limit
	if limited {
		kept = kept[1:]
	}
	out := make([]event, 0, len(kept))
	for _, v := range kept {
		out = append(out, messageEvent(v))
	}
	first := conv.LastSeq
	if len(kept) > 0 {
		first = kept[0].Seq - 1
	}
	return out, limited, first, nil
}

// receiptEvent is the peer's read position as an m.receipt on the message
// at (or, if that one is gone, just after) seq; nil when none is left.
func (h *handler) receiptEvent(c *fiber.Ctx, p *chat.Principal, conv *store.Conversation, peer string, seq int64) (event, error) {
	views, err := h.svc.History(c.UserContext(), p, chat.HistoryRequest{To: peer, AfterSeq: seq - 1, Limit: 1})
	if err != nil || len(views) == 0 {
		return nil, err
	}
	return event{"type": "m.receipt", "content": map[string]any{
		"$" + views[0].ID: map[string]any{"m.read": map[string]any{peer: map[string]any{"ts": views[0].CreatedAt.UnixMilli()}}},
	}}, nil
}

// direct is the stored m.direct, or one computed from the conversations
// when the client never wrote it (neither library writes it by itself).
func (h *handler) direct(c *fiber.Ctx, me string, convs []*store.Conversation) ([]byte, error) {
	b, err := h.svc.AccountData(c.UserContext(), me, typeDirect)
	if err == nil {
		return b, nil
	}
	if chat.AsError(err).Status != 404 {
		return nil, err
	}
	d := map[string][]string{}
	for _, conv := range convs {
		peer := peerOf(conv, me)
		d[peer] = append(d[peer], h.roomID(conv.ID))
	}
	return json.Marshal(d)
}
