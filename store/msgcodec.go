package store

import (
	"encoding/binary"
	"errors"
	"time"
)

// MessageRecordMagic opens a binary message record. JSON records start
// with '{', so readers tell the two apart by the first byte and read
// records written before the binary format (or by an older node) as JSON.
const MessageRecordMagic byte = 0xB1

// messageRecordFields is the number of Message fields the binary record
// carries; msgcodec_test.go fails when Message grows a field the codec
// does not know, so none is ever dropped silently.
const messageRecordFields = 15

var errBadRecord = errors.New("store: malformed binary message record")

// AppendMessageRecord appends m's binary record to dst. It is what the
// embedded store keeps and what crosses the bus: decoding JSON with
// reflection was a tenth of the server's CPU per message.
func AppendMessageRecord(dst []byte, m *Message) []byte {
	dst = append(dst, MessageRecordMagic)
	for _, s := range [...]string{m.ID, m.ConversationID, m.Sender, m.Recipient, m.Type, m.KeyID} {
		dst = appendString(dst, s)
	}
	dst = binary.AppendVarint(dst, m.Seq)
	dst = binary.AppendUvarint(dst, uint64(len(m.Body)))
	dst = append(dst, m.Body...)
	for _, s := range [...]string{m.FileID, m.TxnID, m.Outbox} {
		dst = appendString(dst, s)
	}
	dst = appendTime(dst, m.CreatedAt)
	dst = appendTime(dst, m.ExpiresAt)
	dst = binary.AppendVarint(dst, m.TTLAfterRead)
	return binary.AppendVarint(dst, m.IdleTTL)
}

// DecodeMessageRecord reads a record written by AppendMessageRecord. Body
// is copied: b may be memory the caller does not own (a bbolt page).
func DecodeMessageRecord(b []byte, m *Message) error {
	if len(b) == 0 || b[0] != MessageRecordMagic {
		return errBadRecord
	}
	r := recordReader{b: b[1:]}
	for _, p := range [...]*string{&m.ID, &m.ConversationID, &m.Sender, &m.Recipient, &m.Type, &m.KeyID} {
		*p = r.string()
	}
	m.Seq = r.varint()
	if body := r.bytes(); body != nil {
		m.Body = append([]byte(nil), body...)
	} else {
		m.Body = nil
	}
	for _, p := range [...]*string{&m.FileID, &m.TxnID, &m.Outbox} {
		*p = r.string()
	}
	m.CreatedAt = r.time()
	m.ExpiresAt = r.time()
	m.TTLAfterRead = r.varint()
	m.IdleTTL = r.varint()
	if r.bad || len(r.b) != 0 {
		return errBadRecord
	}
	return nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendTime writes the zero time as one 0 byte, else 1, Unix seconds and
// nanoseconds; times decode in UTC, as JSON records of UTC times do.
func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

type recordReader struct {
	b   []byte
	bad bool
}

func (r *recordReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes returns the next length-prefixed field, nil when empty, aliasing r.b.
func (r *recordReader) bytes() []byte {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad, r.b = true, nil
		return nil
	}
	if n == 0 {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *recordReader) string() string { return string(r.bytes()) }

func (r *recordReader) time() time.Time {
	if len(r.b) == 0 {
		r.bad = true
		return time.Time{}
	}
	flag := r.b[0]
	r.b = r.b[1:]
	switch flag {
	case 0:
		return time.Time{}
	case 1:
		sec := r.varint()
		nsec := r.uvarint()
		if nsec >= 1e9 {
			r.bad = true
			return time.Time{}
		}
		return time.Unix(sec, int64(nsec)).UTC()
	}
	r.bad = true
	return time.Time{}
}
