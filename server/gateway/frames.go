package gateway

import (
	"encoding/json"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/wire"
)

// Frame is the envelope of every WebSocket frame.
type Frame = wire.Frame

type outFrame struct {
	Event string          `json:"event"`
	Data  any             `json:"data,omitempty"`
	ID    json.RawMessage `json:"id,omitempty"`
}

func encode(event string, data any, id json.RawMessage) []byte {
	b, err := json.Marshal(outFrame{Event: event, Data: data, ID: id})
	if err != nil {
		b, _ = json.Marshal(outFrame{Event: "error", Data: errData(chat.Internal(err)), ID: id})
	}
	return b
}

type errorData struct {
	Errcode string `json:"errcode"`
	Msg     string `json:"msg"`
	Status  int    `json:"status,omitempty"`
}

func errData(e *chat.Error) errorData {
	return errorData{Errcode: e.Code, Msg: e.Msg, Status: e.Status}
}

func encodeError(err error, id json.RawMessage) []byte {
	return encode("error", errData(chat.AsError(err)), id)
}

// Command payloads.
type authData struct {
	Token string           `json:"token"`
	Since map[string]int64 `json:"since"`
}

type sendData struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Msg   string `json:"msg"`
	TxnID string `json:"txn_id"`
}

type fileData struct {
	To     string `json:"to"`
	FileID string `json:"file_id"`
}

type typingData struct {
	To     string `json:"to"`
	Typing bool   `json:"typing"`
}

type readData struct {
	ConversationID string `json:"conversation_id"`
	Seq            int64  `json:"seq"`
}
