package matrix

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/store"
)

// The end-to-end routes: the key directory and to-device relay of
// package chat, in Matrix's shapes. The server runs no crypto; clients
// (mautrix-go, matrix-js-sdk, vodozemac) do all of it.
func (h *handler) mountKeys(v3 fiber.Router) {
	v3.Post("/keys/upload", h.auth(h.keysUpload))
	v3.Post("/keys/query", h.auth(h.keysQuery))
	v3.Post("/keys/claim", h.auth(h.keysClaim))
	v3.Get("/keys/changes", h.auth(h.keysChanges))
	v3.Post("/keys/device_signing/upload", h.auth(h.deviceSigningUpload))
	v3.Post("/keys/signatures/upload", h.auth(h.signaturesUpload))
	v3.Put("/sendToDevice/:type/:txn", h.auth(h.sendToDevice))
	v3.Put("/rooms/:room/state/:type/:stateKey?", h.auth(h.putState))
	v3.Get("/rooms/:room/state/:type/:stateKey?", h.auth(h.getState))
	v3.Get("/rooms/:room/members", h.auth(h.members))
}

const typeEncryption = "m.room.encryption"

func (h *handler) keysUpload(c *fiber.Ctx, p *chat.Principal) error {
	var r struct {
		DeviceKeys   json.RawMessage            `json:"device_keys"`
		OneTimeKeys  map[string]json.RawMessage `json:"one_time_keys"`
		FallbackKeys map[string]json.RawMessage `json:"fallback_keys"`
		Unstable     map[string]json.RawMessage `json:"org.matrix.msc2732.fallback_keys"`
	}
	if err := h.decode(c, &r, false); err != nil {
		return err
	}
	if r.FallbackKeys == nil {
		r.FallbackKeys = r.Unstable
	}
	counts, err := h.svc.UploadKeys(c.UserContext(), p, chat.UploadKeysRequest{DeviceKeys: r.DeviceKeys, OneTimeKeys: r.OneTimeKeys, FallbackKeys: r.FallbackKeys})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"one_time_key_counts": counts})
}

func (h *handler) keysQuery(c *fiber.Ctx, p *chat.Principal) error {
	var r struct {
		DeviceKeys map[string][]string `json:"device_keys"`
	}
	if err := h.decode(c, &r, false); err != nil {
		return err
	}
	res, err := h.svc.QueryKeys(c.UserContext(), p, r.DeviceKeys)
	if err != nil {
		return err
	}
	return c.JSON(res)
}

func (h *handler) keysClaim(c *fiber.Ctx, p *chat.Principal) error {
	var r struct {
		OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
	}
	if err := h.decode(c, &r, false); err != nil {
		return err
	}
	keys, failures, err := h.svc.ClaimKeys(c.UserContext(), p, r.OneTimeKeys)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"one_time_keys": keys, "failures": failures})
}

// keysChanges answers who changed devices between two sync tokens.
func (h *handler) keysChanges(c *fiber.Ctx, p *chat.Principal) error {
	from, ok := parseSince(c.Query("from"))
	if !ok {
		return badParam("from must be a sync token")
	}
	var to time.Time
	if t := c.Query("to"); t != "" {
		tok, ok := parseSince(t)
		if !ok {
			return badParam("to must be a sync token")
		}
		to = time.UnixMilli(tok.at)
	}
	changed, _, err := h.svc.DeviceListChanges(c.UserContext(), p, time.UnixMilli(from.at), to)
	if err != nil {
		return err
	}
	if changed == nil {
		changed = []string{}
	}
	return c.JSON(fiber.Map{"changed": changed, "left": []string{}})
}

func (h *handler) deviceSigningUpload(c *fiber.Ctx, p *chat.Principal) error {
	var r struct {
		Master json.RawMessage `json:"master_key"`
		Self   json.RawMessage `json:"self_signing_key"`
		User   json.RawMessage `json:"user_signing_key"`
	}
	if err := h.decode(c, &r, false); err != nil {
		return err
	}
	keys := map[string]json.RawMessage{"master": r.Master, "self_signing": r.Self, "user_signing": r.User}
	if err := h.svc.UploadCrossSigning(c.UserContext(), p, keys); err != nil {
		return err
	}
	return c.JSON(fiber.Map{})
}

func (h *handler) signaturesUpload(c *fiber.Ctx, p *chat.Principal) error {
	var r map[string]map[string]json.RawMessage
	if err := h.decode(c, &r, false); err != nil {
		return err
	}
	failures, err := h.svc.UploadSignatures(c.UserContext(), p, r)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"failures": failures})
}

func (h *handler) sendToDevice(c *fiber.Ctx, p *chat.Principal) error {
	typ, err := param(c, "type")
	if err != nil {
		return err
	}
	txn, err := param(c, "txn")
	if err != nil {
		return err
	}
	var r struct {
		Messages map[string]map[string]json.RawMessage `json:"messages"`
	}
	if err := h.decode(c, &r, false); err != nil {
		return err
	}
	if err := h.svc.SendToDevice(c.UserContext(), p, typ, txn, r.Messages); err != nil {
		return err
	}
	return c.JSON(fiber.Map{})
}

// stateTarget resolves a state route: the room the caller joined and
// whether the event named is m.room.encryption (the only state a DM has
// that a client may set).
func (h *handler) stateTarget(c *fiber.Ctx, p *chat.Principal) (*store.Conversation, bool, error) {
	conv, _, err := h.roomFor(c, p)
	if err != nil {
		return nil, false, err
	}
	typ, err := param(c, "type")
	if err != nil {
		return nil, false, err
	}
	key, err := param(c, "stateKey")
	if err != nil {
		return nil, false, err
	}
	return conv, typ == typeEncryption && key == "", nil
}

// putState takes the one state event a DM can change: m.room.encryption,
// which turns end-to-end encryption on for good.
func (h *handler) putState(c *fiber.Ctx, p *chat.Principal) error {
	conv, isEncryption, err := h.stateTarget(c, p)
	if err != nil {
		return err
	}
	if !isEncryption {
		return forbidden("only m.room.encryption state can be set in a direct room")
	}
	var r struct {
		Algorithm string `json:"algorithm"`
	}
	if err := h.decode(c, &r, false); err != nil {
		return err
	}
	if err := h.svc.EnableE2EE(c.UserContext(), p, conv.ID, r.Algorithm); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"event_id": encryptionEventID(conv.ID)})
}

func (h *handler) getState(c *fiber.Ctx, p *chat.Principal) error {
	conv, isEncryption, err := h.stateTarget(c, p)
	if err != nil {
		return err
	}
	if !isEncryption || !conv.E2EE {
		return &mxError{status: 404, code: "M_NOT_FOUND", msg: "no such state event"}
	}
	return c.JSON(encryptionContent())
}

func encryptionContent() map[string]any { return map[string]any{"algorithm": chat.MegolmAlgorithm} }

func encryptionEventID(convID string) string {
	return "$st." + strings.TrimPrefix(convID, "!") + "." + typeEncryption
}

// initialEncryption finds m.room.encryption in createRoom's initial_state.
func initialEncryption(initial []any) (string, bool) {
	for _, raw := range initial {
		ev, ok := raw.(map[string]any)
		if !ok || ev["type"] != typeEncryption {
			continue
		}
		content, _ := ev["content"].(map[string]any)
		algo, _ := content["algorithm"].(string)
		return algo, true
	}
	return "", false
}

// syncE2EE adds the end-to-end sections to a sync answer: to-device
// messages (acknowledging the batch since came back from), device list
// changes since the token, and the device's key counts. It returns the
// batch to put in the next token and whether anything is new.
func (h *handler) syncE2EE(c *fiber.Ctx, p *chat.Principal, since *syncToken, convs []*store.Conversation, resp fiber.Map) (int64, bool, error) {
	ctx := c.UserContext()
	var acked int64
	if since != nil {
		acked = since.batch
	}
	evs, batch, err := h.svc.TakeToDevice(ctx, p, acked)
	if err != nil {
		return acked, false, err
	}
	changed := len(evs) > 0
	if evs == nil {
		evs = []chat.ToDeviceEvent{}
	}
	resp["to_device"] = fiber.Map{"events": evs}
	if since != nil {
		users, fresh, err := h.svc.DeviceListChangesIn(ctx, p, convs, time.UnixMilli(since.at), time.Time{})
		if err != nil {
			return acked, false, err
		}
		if users == nil {
			users = []string{}
		}
		resp["device_lists"] = fiber.Map{"changed": users, "left": []string{}}
		changed = changed || fresh
	}
	counts, fallback, err := h.svc.KeyCounts(ctx, p)
	if err != nil {
		return acked, false, err
	}
	if fallback == nil {
		fallback = []string{}
	}
	resp["device_one_time_keys_count"] = counts
	resp["device_unused_fallback_key_types"] = fallback
	resp["org.matrix.msc2732.device_unused_fallback_key_types"] = fallback
	return batch, changed, nil
}

// sendEncrypted stores an m.room.encrypted event as it came (opaque).
func (h *handler) sendEncrypted(c *fiber.Ctx, p *chat.Principal, txn string) error {
	b, err := h.body(c)
	if err != nil {
		return err
	}
	if !json.Valid(b) {
		return &mxError{status: 400, code: "M_NOT_JSON", msg: "the body is not JSON"}
	}
	conv, _, err := h.roomFor(c, p)
	if err != nil {
		return err
	}
	v, err := h.svc.SendEncrypted(c.UserContext(), p, chat.EncryptedRequest{To: peerOf(conv, p.User.UserID), Content: b, TxnID: "mx:" + deviceID(p) + ":" + txn})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"event_id": "$" + v.ID})
}

// members lists the room's member events: E2EE clients (matrix-js-sdk's
// RoomEncryptor) load them to know whose devices get the room key.
func (h *handler) members(c *fiber.Ctx, p *chat.Principal) error {
	conv, room, err := h.roomFor(c, p)
	if err != nil {
		return err
	}
	inv, err := h.loadInvites(c, p.User.UserID)
	if err != nil {
		return err
	}
	chunk := []event{}
	for _, e := range h.stateEvents(conv, p.User.UserID, inv) {
		if e["type"] == "m.room.member" {
			e["room_id"] = room
			chunk = append(chunk, e)
		}
	}
	return c.JSON(fiber.Map{"chunk": chunk})
}
