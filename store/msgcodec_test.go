package store

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func fullMessage() *Message {
	return &Message{
		ID: "m1", ConversationID: "!c:x", Seq: 42, Sender: "@a:x", Recipient: "@b:y", Type: TypeFile, KeyID: "k1",
		Body: []byte{0, 1, 2, 0xff}, FileID: "f1", TxnID: "t1", CreatedAt: time.Date(2026, 12, 2, 5, 0, 0, 123456789, time.UTC),
		ExpiresAt: time.Date(2027, 1, 1, 0, 0, 0, 1, time.UTC), TTLAfterRead: 30, IdleTTL: -5, Outbox: "y",
	}
}

// The record carries every field of Message: a field added to Message
// fails here until the codec writes it.
func TestMessageRecordCoversEveryField(t *testing.T) {
	t.Parallel()
	if n := reflect.TypeFor[Message]().NumField(); n != messageRecordFields {
		t.Fatalf("Message has %d fields, the binary record %d: add the new one to AppendMessageRecord and DecodeMessageRecord", n, messageRecordFields)
	}
	m := fullMessage()
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("fullMessage leaves %s zero: the round trip would not test it", v.Type().Field(i).Name)
		}
	}
}

// Binary and JSON round trips give the same Message.
func TestMessageRecordRoundTrip(t *testing.T) {
	t.Parallel()
	for _, m := range []*Message{fullMessage(), {ID: "x"}, {ID: "y", CreatedAt: time.Unix(-5, 7).UTC(), Body: []byte{}}} {
		var got Message
		if err := DecodeMessageRecord(AppendMessageRecord(nil, m), &got); err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(m)
		var viaJSON Message
		if err := json.Unmarshal(j, &viaJSON); err != nil {
			t.Fatal(err)
		}
		if len(viaJSON.Body) == 0 {
			viaJSON.Body = nil // JSON gives [] or nil; the record gives nil
		}
		if !reflect.DeepEqual(got, viaJSON) {
			t.Fatalf("binary %+v\n   json %+v", got, viaJSON)
		}
	}
}

// The decoded body does not alias the record (bbolt pages are read-only
// and reused).
func TestMessageRecordCopiesBody(t *testing.T) {
	t.Parallel()
	rec := AppendMessageRecord(nil, fullMessage())
	var m Message
	if err := DecodeMessageRecord(rec, &m); err != nil {
		t.Fatal(err)
	}
	for i := range rec {
		rec[i] = 0
	}
	if !bytes.Equal(m.Body, fullMessage().Body) {
		t.Fatalf("body changed with the record: %v", m.Body)
	}
}

// Truncated, padded or foreign input is refused, never a panic.
func TestMessageRecordRejectsMalformed(t *testing.T) {
	t.Parallel()
	rec := AppendMessageRecord(nil, fullMessage())
	bad := [][]byte{nil, {}, []byte(`{"id":"m"}`), {MessageRecordMagic}, append(append([]byte{}, rec...), 0)}
	for n := 1; n < len(rec); n++ {
		bad = append(bad, rec[:n])
	}
	huge := []byte{MessageRecordMagic, 0xff, 0xff, 0xff, 0xff, 0x0f}
	bad = append(bad, huge)
	for _, b := range bad {
		var m Message
		if err := DecodeMessageRecord(b, &m); err == nil {
			t.Fatalf("%x accepted", b)
		}
	}
}

func BenchmarkMessageRecord(b *testing.B) {
	m := fullMessage()
	m.Body = make([]byte, 160)
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = AppendMessageRecord(buf[:0], m)
			var got Message
			if err := DecodeMessageRecord(buf, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ := json.Marshal(m)
			var got Message
			if err := json.Unmarshal(buf, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
}
