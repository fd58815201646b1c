package matrix

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/store"
)

// roomID names a conversation (whose id already starts with "!").
func (h *handler) roomID(convID string) string { return convID + ":" + h.svc.ServerName() }

// convOf parses a room id of this server back into a conversation id.
func (h *handler) convOf(room string) (string, error) {
	id, server, ok := strings.Cut(room, ":")
	if !ok || !strings.HasPrefix(id, "!") || len(id) < 2 || server != h.svc.ServerName() {
		return "", &mxError{status: 404, code: "M_NOT_FOUND", msg: "unknown room"}
	}
	return id, nil
}

type event = map[string]any

func peerOf(c *store.Conversation, me string) string {
	for _, m := range c.Members {
		if m != me {
			return m
		}
	}
	return ""
}

// stateEvents is a DM's state in createRoom's order (spec create_room):
// create, creator's join, power levels, join rules, history visibility,
// guest access, then the other member (invite with is_direct, or join).
func (h *handler) stateEvents(c *store.Conversation, me string, inv *invites) []event {
	peer := peerOf(c, me)
	room := h.roomID(c.ID)
	creator, other, otherPending := c.Members[0], c.Members[len(c.Members)-1], false
	if by, ok := inv.In[room]; ok {
		creator, other, otherPending = by, me, true
	} else if _, ok := inv.Out[room]; ok {
		creator, other, otherPending = me, peer, true
	}
	ts := c.CreatedAt.UnixMilli()
	st := func(typ, key, sender string, content map[string]any) event {
		return event{"type": typ, "state_key": key, "sender": sender, "content": content, "origin_server_ts": ts,
			"event_id": "$st." + strings.TrimPrefix(c.ID, "!") + "." + typ + "." + key}
	}
	evs := []event{
		st("m.room.create", "", creator, map[string]any{"creator": creator, "room_version": "10"}),
		memberEvent(c, creator, creator, "join", false),
		st("m.room.power_levels", "", creator, map[string]any{"users": map[string]int{creator: 100, other: 100}, "users_default": 0, "events_default": 0, "state_default": 50}),
		st("m.room.join_rules", "", creator, map[string]any{"join_rule": "invite"}),
		st("m.room.history_visibility", "", creator, map[string]any{"history_visibility": "shared"}),
		st("m.room.guest_access", "", creator, map[string]any{"guest_access": "forbidden"}),
	}
	if otherPending {
		evs = append(evs, memberEvent(c, creator, other, "invite", true))
	} else {
		evs = append(evs, memberEvent(c, other, other, "join", false))
	}
	if c.E2EE {
		e := st(typeEncryption, "", creator, encryptionContent())
		e["event_id"] = encryptionEventID(c.ID)
		evs = append(evs, e)
	}
	return evs
}

// memberEvent has an id per (user, membership), so an invite and the join
// that follows are two events, as clients expect.
func memberEvent(c *store.Conversation, sender, user, membership string, direct bool) event {
	content := map[string]any{"membership": membership}
	if direct {
		content["is_direct"] = true
	}
	return event{"type": "m.room.member", "state_key": user, "sender": sender, "content": content,
		"origin_server_ts": c.CreatedAt.UnixMilli(),
		"event_id":         "$st." + strings.TrimPrefix(c.ID, "!") + ".member." + membership + "." + strings.TrimPrefix(user, "@")}
}

// stripped is an invite_state event.
func stripped(e event) event {
	return event{"type": e["type"], "state_key": e["state_key"], "sender": e["sender"], "content": e["content"]}
}

// messageEvent renders a message; files and voice are named, not served
// (media is not part of this subset).
func messageEvent(v *chat.MessageView) event {
	switch {
	case v.Type == store.TypeEncrypted:
		return event{"type": "m.room.encrypted", "event_id": "$" + v.ID, "sender": v.From,
			"origin_server_ts": v.CreatedAt.UnixMilli(), "content": json.RawMessage(v.Message)}
	case v.Type == store.TypeSystem && v.Message == chat.E2EEOnText:
		return event{"type": typeEncryption, "state_key": "", "event_id": "$" + v.ID, "sender": v.From,
			"origin_server_ts": v.CreatedAt.UnixMilli(), "content": encryptionContent()}
	}
	content := map[string]any{"msgtype": "m.text", "body": v.Message}
	if v.File != nil {
		content = map[string]any{"msgtype": "m.file", "body": v.File.Filename}
		if v.Type == store.TypeVoice {
			content["msgtype"] = "m.audio"
		}
	}
	return event{"type": "m.room.message", "event_id": "$" + v.ID, "sender": v.From,
		"origin_server_ts": v.CreatedAt.UnixMilli(), "content": content}
}

type createRequest struct {
	Invite   []string `json:"invite"`
	IsDirect bool     `json:"is_direct"`
	Preset   string   `json:"preset"`
	Name     string   `json:"name"`
	Topic    string   `json:"topic"`
	Version  string   `json:"room_version"`
	Visible  string   `json:"visibility"`
	Initial  []any    `json:"initial_state"`
	Creation any      `json:"creation_content"`
	Powers   any      `json:"power_level_content_override"`
}

// createRoom opens the DM with the one invitee. A conversation that exists
// already (either side wrote before) is answered with its room, with no
// second invite: in Crypt-Talk both members are in it.
func (h *handler) createRoom(c *fiber.Ctx, p *chat.Principal) error {
	var r createRequest
	if err := h.decode(c, &r, false); err != nil {
		return err
	}
	if len(r.Invite) != 1 {
		return badParam("only direct rooms with exactly one invitee are supported")
	}
	if r.Preset == "public_chat" || r.Visible == "public" {
		return badParam("public rooms are not supported")
	}
	conv, peer, created, err := h.svc.OpenDM(c.UserContext(), p, r.Invite[0])
	if err != nil {
		return err
	}
	room := h.roomID(conv.ID)
	if algo, ok := initialEncryption(r.Initial); ok {
		if err := h.svc.EnableE2EE(c.UserContext(), p, conv.ID, algo); err != nil {
			return err
		}
	}
	if created {
		inv, err := h.loadInvites(c, peer.UserID)
		if err != nil {
			return err
		}
		inv.In[room] = p.User.UserID
		if err := h.saveInvites(c, peer.UserID, inv); err != nil {
			return err
		}
		mine, err := h.loadInvites(c, p.User.UserID)
		if err != nil {
			return err
		}
		mine.Out[room] = peer.UserID
		if err := h.saveInvites(c, p.User.UserID, mine); err != nil {
			return err
		}
	}
	return c.JSON(fiber.Map{"room_id": room})
}

// join accepts an invite; joining a room one is in already is a no-op, as
// the spec allows (the invite arrives twice, pitfall 8).
func (h *handler) join(c *fiber.Ctx, p *chat.Principal) error {
	room, err := param(c, "room")
	if err != nil {
		return err
	}
	if strings.HasPrefix(room, "#") {
		return &mxError{status: 404, code: "M_NOT_FOUND", msg: "room aliases are not supported"}
	}
	convID, err := h.convOf(room)
	if err != nil {
		return err
	}
	conv, err := h.svc.RoomOf(c.UserContext(), p, convID)
	if err != nil {
		return forbidden("you are not invited to this room")
	}
	inv, err := h.loadInvites(c, p.User.UserID)
	if err != nil {
		return err
	}
	if _, ok := inv.In[room]; ok {
		delete(inv.In, room)
		if err := h.saveInvites(c, p.User.UserID, inv); err != nil {
			return err
		}
		peer := peerOf(conv, p.User.UserID)
		theirs, err := h.loadInvites(c, peer)
		if err != nil {
			return err
		}
		delete(theirs.Out, room)
		if err := h.saveInvites(c, peer, theirs); err != nil {
			return err
		}
	}
	return c.JSON(fiber.Map{"room_id": room})
}

// roomFor resolves a :room parameter to a conversation the caller joined.
func (h *handler) roomFor(c *fiber.Ctx, p *chat.Principal) (*store.Conversation, string, error) {
	room, err := param(c, "room")
	if err != nil {
		return nil, "", err
	}
	convID, err := h.convOf(room)
	if err != nil {
		return nil, "", err
	}
	conv, err := h.svc.RoomOf(c.UserContext(), p, convID)
	if err != nil {
		return nil, "", forbidden("you are not in this room")
	}
	inv, err := h.loadInvites(c, p.User.UserID)
	if err != nil {
		return nil, "", err
	}
	if _, ok := inv.In[room]; ok {
		return nil, "", forbidden("join the room first")
	}
	return conv, room, nil
}

const maxTxn = 100

// send maps the Matrix transaction id onto chat's txn_id, scoped by the
// device (the token): a retry returns the stored message's event id.
func (h *handler) send(c *fiber.Ctx, p *chat.Principal) error {
	typ, err := param(c, "type")
	if err != nil {
		return err
	}
	txn, err := param(c, "txn")
	if err != nil {
		return err
	}
	if typ != "m.room.message" && typ != "m.room.encrypted" {
		return badParam("only m.room.message and m.room.encrypted events are supported")
	}
	if txn == "" || len(txn) > maxTxn {
		return badParam("the transaction id must be 1 to 100 bytes")
	}
	if typ == "m.room.encrypted" {
		return h.sendEncrypted(c, p, txn)
	}
	var body struct {
		MsgType string `json:"msgtype"`
		Body    string `json:"body"`
	}
	if err := h.decode(c, &body, false); err != nil {
		return err
	}
	switch body.MsgType {
	case "m.text", "m.notice", "m.emote":
	default:
		return badParam("only m.text, m.notice and m.emote messages are supported")
	}
	conv, _, err := h.roomFor(c, p)
	if err != nil {
		return err
	}
	v, err := h.svc.Send(c.UserContext(), p, chat.SendRequest{To: peerOf(conv, p.User.UserID), Text: body.Body, TxnID: "mx:" + deviceID(p) + ":" + txn})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"event_id": "$" + v.ID})
}

// Pagination tokens: "t<N>" is the point just after seq N.
func posToken(seq int64) string { return "t" + strconv.FormatInt(seq, 10) }

func parsePos(s string) (int64, bool) {
	if !strings.HasPrefix(s, "t") {
		return 0, false
	}
	n, err := strconv.ParseInt(s[1:], 10, 64)
	return n, err == nil && n >= 0
}

// messages pages a room's history: dir=b walks back from `from` (newest
// when absent), dir=f forward; `end` is given only while more may exist.
func (h *handler) messages(c *fiber.Ctx, p *chat.Principal) error {
	conv, room, err := h.roomFor(c, p)
	if err != nil {
		return err
	}
	dir := c.Query("dir")
	if dir != "b" && dir != "f" {
		return badParam("dir must be b or f")
	}
	limit := 10
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 || strings.HasPrefix(l, "+") {
			return badParam("limit must be a non-negative integer")
		}
		limit = min(max(n, 1), 100)
	}
	from, hasFrom := parsePos(c.Query("from"))
	if c.Query("from") != "" && !hasFrom && !strings.HasPrefix(c.Query("from"), syncPrefix) {
		return badParam("unknown from token")
	}
	to, hasTo := parsePos(c.Query("to"))
	r := chat.HistoryRequest{To: peerOf(conv, p.User.UserID), Limit: limit}
	if dir == "b" {
		if hasFrom {
			r.BeforeSeq = from + 1
		}
	} else {
		r.AfterSeq = from
	}
	views, err := h.svc.History(c.UserContext(), p, r)
	if err != nil {
		return err
	}
	if hasFrom && dir == "b" && from == 0 {
		views = nil // before the first message there is nothing
	}
	chunk := make([]event, 0, len(views))
	start := c.Query("from")
	if !hasFrom {
		start = posToken(conv.LastSeq)
		if dir == "f" {
			start = posToken(0)
		}
	}
	resp := fiber.Map{"start": start}
	var edge int64
	more := len(views) == limit
	if dir == "b" {
		for i := len(views) - 1; i >= 0; i-- {
			if hasTo && views[i].Seq <= to {
				more = false
				break
			}
			e := messageEvent(views[i])
			e["room_id"] = room
			chunk = append(chunk, e)
			edge = views[i].Seq - 1
		}
	} else {
		for _, v := range views {
			if hasTo && v.Seq > to {
				more = false
				break
			}
			e := messageEvent(v)
			e["room_id"] = room
			chunk = append(chunk, e)
			edge = v.Seq
		}
	}
	resp["chunk"] = chunk
	if more && len(chunk) > 0 {
		resp["end"] = posToken(edge)
	}
	return c.JSON(resp)
}
