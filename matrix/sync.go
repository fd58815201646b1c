package matrix

import (
	"context"
	"encoding/base64"
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

// A sync token is the user's position in their own conversations: per
// room the highest seq seen and two flags (still invited; the invited
// peer has not joined yet), plus a hash of the m.direct last sent. Seqs
// are the store's, so the token means the same on every node. Rooms are
// keyed by the first 10 characters of the conversation id (60 bits).
const (
	syncPrefix  = "ct1_"
	roomKeyLen  = 10
	flagInvited = 1
	flagPeerInv = 2
	maxTimeout  = 60 * time.Second
	maxSince    = 64 << 10
)

type roomPos struct {
	seq   int64
	flags int
}

type syncToken struct {
	direct uint32
	rooms  map[string]roomPos
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
	b.WriteString(strconv.FormatUint(uint64(t.direct), 36))
	for k, p := range t.rooms {
		b.WriteString(";" + k + "," + strconv.FormatInt(p.seq, 36) + "," + strconv.Itoa(p.flags))
	}
	return syncPrefix + base64.RawURLEncoding.EncodeToString([]byte(b.String()))
}

func parseSince(s string) (*syncToken, bool) {
	if !strings.HasPrefix(s, syncPrefix) || len(s) > maxSince {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(s[len(syncPrefix):])
	if err != nil {
		return nil, false
	}
	parts := strings.Split(string(raw), ";")
	d, err := strconv.ParseUint(parts[0], 36, 32)
	if err != nil {
		return nil, false
	}
	t := &syncToken{direct: uint32(d), rooms: map[string]roomPos{}}
	for _, p := range parts[1:] {
		f := strings.Split(p, ",")
		if len(f) != 3 {
			return nil, false
		}
		seq, err1 := strconv.ParseInt(f[1], 36, 64)
		flags, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || seq < 0 {
			return nil, false
		}
		t.rooms[f[0]] = roomPos{seq: seq, flags: flags}
	}
	return t, true
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
	timeout := time.Duration(0)
	if t := c.Query("timeout"); t != "" {
		ms, err := strconv.ParseInt(t, 10, 64)
		if err != nil || ms < 0 {
			return badParam("timeout must be a non-negative integer")
		}
		timeout = min(time.Duration(ms)*time.Millisecond, maxTimeout)
	}
	ctx := c.UserContext()
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
				return err
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
			// A revoked token ends here with M_UNKNOWN_TOKEN.
			if _, err := h.svc.Authenticate(ctx, token(c)); err != nil {
				return err
			}
		case <-deadline.C:
			return c.JSON(resp)
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
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
	next := &syncToken{direct: dh.Sum32(), rooms: map[string]roomPos{}}
	joined, invited := fiber.Map{}, fiber.Map{}
	changed := false
	for _, conv := range convs {
		room := h.roomID(conv.ID)
		key := roomKey(conv.ID)
		pos := roomPos{seq: conv.LastSeq}
		if _, ok := inv.In[room]; ok {
			pos.flags |= flagInvited
		}
		if _, ok := inv.Out[room]; ok {
			pos.flags |= flagPeerInv
		}
		next.rooms[key] = pos
		old, known := roomPos{}, false
		if since != nil {
			old, known = since.rooms[key]
		}
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
		after := old.seq
		if newJoin {
			after = 0
		} else if old.flags&flagPeerInv != 0 && pos.flags&flagPeerInv == 0 {
			timeline = append(timeline, memberEvent(conv, peerOf(conv, me), peerOf(conv, me), "join", false))
		}
		msgs, limited, first, err := h.timeline(c, p, conv, after, limit)
		if err != nil {
			return nil, false, err
		}
		if !newJoin && len(timeline) == 0 && len(msgs) == 0 {
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
		joined[room] = r
	}
	resp := fiber.Map{"next_batch": next.encode(), "rooms": fiber.Map{"join": joined, "invite": invited}}
	if since == nil || since.direct != next.direct {
		changed = true
		resp["account_data"] = fiber.Map{"events": []event{{"type": typeDirect, "content": json.RawMessage(direct)}}}
	}
	return resp, changed, nil
}

// timeline is the newest limit messages after seq `after`; limited when
// more exist, first the point before the first one (prev_batch).
func (h *handler) timeline(c *fiber.Ctx, p *chat.Principal, conv *store.Conversation, after int64, limit int) ([]event, bool, int64, error) {
	if conv.LastSeq <= after {
		return nil, false, conv.LastSeq, nil
	}
	views, err := h.svc.History(c.UserContext(), p, chat.HistoryRequest{To: peerOf(conv, p.User.UserID), Limit: limit + 1})
	if err != nil {
		return nil, false, 0, err
	}
	kept := views[:0]
	for _, v := range views {
		if v.Seq > after {
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
