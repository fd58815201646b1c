package store

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func fullConversation() *Conversation {
	t0 := time.Date(2026, 12, 2, 5, 0, 0, 987654321, time.UTC)
	return &Conversation{
		ID: "!c:x", Members: []string{"@a:x", "@b:y"}, CreatedAt: t0, LastMessageAt: t0.Add(time.Hour), LastSeq: 77,
		TimerSeconds: 60, TimerMode: TimerIdle, IdleExpiresAt: t0.Add(2 * time.Hour),
		ReadSeq: map[string]int64{"@a:x": 70, "@b:y": 3}, DeliveredSeq: map[string]int64{"@b:y": 77}, E2EE: true,
	}
}

func TestConversationRecordCoversEveryField(t *testing.T) {
	t.Parallel()
	if n := reflect.TypeFor[Conversation]().NumField(); n != conversationRecordFields {
		t.Fatalf("Conversation has %d fields, the binary record %d: add the new one to AppendConversationRecord and DecodeConversationRecord", n, conversationRecordFields)
	}
	v := reflect.ValueOf(fullConversation()).Elem()
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("fullConversation leaves %s zero", v.Type().Field(i).Name)
		}
	}
}

// Binary and JSON round trips agree, nil and empty maps included.
func TestConversationRecordRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []*Conversation{fullConversation(), {ID: "x"}, {ID: "y", ReadSeq: map[string]int64{}, Members: []string{}}} {
		var got Conversation
		if err := DecodeConversationRecord(AppendConversationRecord(nil, c), &got); err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(c)
		var viaJSON Conversation
		if err := json.Unmarshal(j, &viaJSON); err != nil {
			t.Fatal(err)
		}
		if len(viaJSON.Members) == 0 {
			viaJSON.Members = nil
		}
		if !reflect.DeepEqual(got, viaJSON) {
			t.Fatalf("binary %+v\n   json %+v", got, viaJSON)
		}
	}
}

func TestConversationRecordRejectsMalformed(t *testing.T) {
	t.Parallel()
	rec := AppendConversationRecord(nil, fullConversation())
	bad := [][]byte{nil, {ConversationRecordMagic}, []byte(`{"id":"c"}`), append(append([]byte{}, rec...), 0),
		{ConversationRecordMagic, 0, 0xff, 0xff, 0xff, 0x0f}}
	for n := 1; n < len(rec); n++ {
		bad = append(bad, rec[:n])
	}
	last := append([]byte{}, rec...)
	last[len(last)-1] = 2 // not a bool
	bad = append(bad, last)
	for _, b := range bad {
		var c Conversation
		if err := DecodeConversationRecord(b, &c); err == nil {
			t.Fatalf("%x accepted", b)
		}
	}
}

func BenchmarkConversationRecord(b *testing.B) {
	c := fullConversation()
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = AppendConversationRecord(buf[:0], c)
			var got Conversation
			if err := DecodeConversationRecord(buf, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ := json.Marshal(c)
			var got Conversation
			if err := json.Unmarshal(buf, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
}
