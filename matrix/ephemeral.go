package matrix

import (
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
)

// receipt maps m.read onto chat.MarkRead, so a read in Element counts like
// a read in Crypt-Talk's own clients (and starts after_read timers).
// Receipts on state events, and private or thread receipts, are accepted
// and change nothing.
func (h *handler) receipt(c *fiber.Ctx, p *chat.Principal) error {
	typ, err := param(c, "type")
	if err != nil {
		return err
	}
	ev, err := param(c, "event")
	if err != nil {
		return err
	}
	if typ != "m.read" && typ != "m.read.private" && typ != "m.fully_read" {
		return badParam("unknown receipt type")
	}
	var body map[string]any
	if err := h.decode(c, &body, true); err != nil {
		return err
	}
	if typ == "m.read" {
		if err := h.markRead(c, p, ev); err != nil {
			return err
		}
	}
	return c.JSON(fiber.Map{})
}

// readMarkers is js-sdk's way of sending m.read with the fully-read marker.
func (h *handler) readMarkers(c *fiber.Ctx, p *chat.Principal) error {
	var body struct {
		Read string `json:"m.read"`
	}
	if err := h.decode(c, &body, true); err != nil {
		return err
	}
	if body.Read != "" {
		if err := h.markRead(c, p, body.Read); err != nil {
			return err
		}
	}
	return c.JSON(fiber.Map{})
}

func (h *handler) markRead(c *fiber.Ctx, p *chat.Principal, eventID string) error {
	conv, _, err := h.roomFor(c, p)
	if err != nil {
		return err
	}
	msgID, ok := strings.CutPrefix(eventID, "$")
	if !ok || strings.HasPrefix(msgID, "st.") {
		return nil // a state event: nothing to mark
	}
	if len(msgID) > 64 {
		return &mxError{status: 404, code: "M_NOT_FOUND", msg: "unknown event"}
	}
	seq, err := h.svc.MessageSeq(c.UserContext(), p, conv.ID, msgID)
	if err != nil {
		return err
	}
	if seq <= 0 {
		return nil
	}
	_, err = h.svc.MarkRead(c.UserContext(), p, conv.ID, seq)
	return err
}

// typing forwards a Matrix typing notice to the peer's Crypt-Talk clients
// (the same `typing` event the WebSocket sends), through the gate below.
func (h *handler) typing(c *fiber.Ctx, p *chat.Principal) error {
	if err := self(c, p); err != nil {
		return err
	}
	var body struct {
		Typing bool `json:"typing"`
	}
	if err := h.decode(c, &body, false); err != nil {
		return err
	}
	conv, _, err := h.roomFor(c, p)
	if err != nil {
		return err
	}
	peer := peerOf(conv, p.User.UserID)
	if h.gate.pass(p.User.UserID+"\x00"+peer, body.Typing, time.Now()) {
		h.svc.NotifyTyping(c.UserContext(), p, peer, body.Typing)
	}
	return c.JSON(fiber.Map{})
}

// typingGate lets through only changes of a pair's typing state, a start
// at most every typingEvery (a stop always, so no one is left "typing"):
// a client toggling in a loop reaches the peer a few times a second.
type typingGate struct {
	mu   sync.Mutex
	last map[string]typingState
}

type typingState struct {
	typing bool
	at     time.Time
}

const (
	typingEvery = 500 * time.Millisecond
	typingPairs = 10000 // past this, entries idle for a minute are dropped
)

func (g *typingGate) pass(key string, typing bool, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.last == nil {
		g.last = map[string]typingState{}
	}
	prev, seen := g.last[key]
	if seen && prev.typing == typing {
		return false
	}
	if typing && seen && now.Sub(prev.at) < typingEvery {
		return false
	}
	if !seen && !typing {
		return false
	}
	if len(g.last) >= typingPairs {
		for k, v := range g.last {
			if now.Sub(v.at) > time.Minute {
				delete(g.last, k)
			}
		}
	}
	g.last[key] = typingState{typing: typing, at: now}
	return true
}
