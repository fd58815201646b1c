package chat

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/store"
)

// WebSocket event names of the contract (the seed's spelling is kept).
const (
	EventMsg          = "msg-recieve"
	EventFile         = "file-recieve"
	EventVoice        = "voice-recieve"
	EventConnected    = "user-connected"
	EventDisconnected = "user-disconnected"
	EventTyping       = "typing"
	EventReceipt      = "receipt"
	EventDeleted      = "msg-deleted"
	EventTimer        = "timer-changed"
	EventDestroyed    = "conversation-destroyed"
)

// busEvent is what crosses the bus. A message travels sealed, exactly as
// stored; every other event carries only metadata the contract already
// shows to its recipient.
type busEvent struct {
	Msg   *store.Message  `json:"m,omitempty"`
	Event string          `json:"e,omitempty"`
	Data  json.RawMessage `json:"d,omitempty"`
}

// Delivery is one event ready for a viewer's sockets.
type Delivery struct {
	Event          string
	ConversationID string
	// Seq is set for message events so replay can drop duplicates.
	Seq  int64
	Data any
	// Sender and SentAt let the gateway emit delivered receipts and
	// measure delivery latency.
	Message *store.Message
}

// publishMessage sends a sealed message as its binary record
// (store.AppendMessageRecord), not JSON: every node decodes it once per
// topic, and reflection-based JSON was a tenth of the CPU per message.
// OpenEvent still reads the JSON form an older node publishes.
func (s *Service) publishMessage(ctx context.Context, m *store.Message) {
	b := store.AppendMessageRecord(make([]byte, 0, 256+len(m.Body)), m)
	s.publishRaw(ctx, m.Recipient, b)
	s.publishRaw(ctx, m.Sender, b)
}

// publishEvent sends a metadata event to the given users' topics.
func (s *Service) publishEvent(ctx context.Context, event string, data any, users ...string) {
	d, err := json.Marshal(data)
	if err != nil {
		s.log.ErrorContext(ctx, "encode event", "event", event, "err", err)
		return
	}
	b, _ := json.Marshal(busEvent{Event: event, Data: d})
	for _, u := range users {
		s.publishRaw(ctx, u, b)
	}
}

// publishRaw publishes and logs a failure: the message is already stored,
// so a bus failure only delays it until the client's `since` replay.
func (s *Service) publishRaw(ctx context.Context, userID string, b []byte) {
	if err := s.bus.Publish(ctx, pubsub.UserTopic(userID), b); err != nil {
		s.log.WarnContext(ctx, "bus publish failed; clients catch up with since", "err", err)
	}
}

// OpenEvent decodes a bus payload for viewer (a user_id), opening a sealed
// message with its conversation's data key.
func (s *Service) OpenEvent(ctx context.Context, viewer string, payload []byte) (*Delivery, error) {
	var ev busEvent
	if len(payload) > 0 && payload[0] == store.MessageRecordMagic {
		ev.Msg = new(store.Message)
		if err := store.DecodeMessageRecord(payload, ev.Msg); err != nil {
			return nil, fmt.Errorf("decode bus event: %w", err)
		}
	} else if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("decode bus event: %w", err)
	}
	if ev.Msg == nil {
		return &Delivery{Event: ev.Event, Data: ev.Data}, nil
	}
	m := ev.Msg
	if m.Sender != viewer && m.Recipient != viewer {
		return nil, fmt.Errorf("bus event for %s is not addressed to viewer", m.ConversationID)
	}
	v, err := s.viewMessage(ctx, m, viewer)
	if err != nil {
		return nil, err
	}
	return &Delivery{Event: eventFor(m.Type), ConversationID: m.ConversationID, Seq: m.Seq, Data: v, Message: m}, nil
}

func eventFor(typ string) string {
	switch typ {
	case store.TypeFile:
		return EventFile
	case store.TypeVoice:
		return EventVoice
	default:
		return EventMsg
	}
}

// EventForMessage names the WebSocket event that carries a message view.
func EventForMessage(v *MessageView) string { return eventFor(v.Type) }
