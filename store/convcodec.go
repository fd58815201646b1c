package store

import (
	"encoding/binary"
	"slices"
)

// ConversationRecordMagic opens a binary conversation record (JSON
// records start with '{'). The embedded store reads and rewrites the
// record on every message; JSON with reflection cost more than the rest
// of the append.
const ConversationRecordMagic byte = 0xC1

// conversationRecordFields: see messageRecordFields.
const conversationRecordFields = 11

// AppendConversationRecord appends c's binary record to dst.
func AppendConversationRecord(dst []byte, c *Conversation) []byte {
	dst = append(dst, ConversationRecordMagic)
	dst = appendString(dst, c.ID)
	dst = binary.AppendUvarint(dst, uint64(len(c.Members)))
	for _, m := range c.Members {
		dst = appendString(dst, m)
	}
	dst = appendTime(dst, c.CreatedAt)
	dst = appendTime(dst, c.LastMessageAt)
	dst = binary.AppendVarint(dst, c.LastSeq)
	dst = binary.AppendVarint(dst, c.TimerSeconds)
	dst = appendString(dst, c.TimerMode)
	dst = appendTime(dst, c.IdleExpiresAt)
	dst = appendSeqMap(dst, c.ReadSeq)
	dst = appendSeqMap(dst, c.DeliveredSeq)
	if c.E2EE {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// DecodeConversationRecord reads a record written by
// AppendConversationRecord into c (every field is set).
func DecodeConversationRecord(b []byte, c *Conversation) error {
	if len(b) == 0 || b[0] != ConversationRecordMagic {
		return errBadRecord
	}
	r := recordReader{b: b[1:]}
	c.ID = r.string()
	n := r.uvarint()
	if n > uint64(len(r.b)) { // each member takes a byte at least
		return errBadRecord
	}
	c.Members = nil
	if n > 0 {
		c.Members = make([]string, n)
		for i := range c.Members {
			c.Members[i] = r.string()
		}
	}
	c.CreatedAt = r.time()
	c.LastMessageAt = r.time()
	c.LastSeq = r.varint()
	c.TimerSeconds = r.varint()
	c.TimerMode = r.string()
	c.IdleExpiresAt = r.time()
	c.ReadSeq = r.seqMap()
	c.DeliveredSeq = r.seqMap()
	if len(r.b) != 1 || r.b[0] > 1 || r.bad {
		return errBadRecord
	}
	c.E2EE = r.b[0] == 1
	return nil
}

// appendSeqMap writes 0 for a nil map, else 1 + its size, then the pairs
// in key order (so a record's bytes depend on its content only).
func appendSeqMap(dst []byte, m map[string]int64) []byte {
	if m == nil {
		return append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(m))+1)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		dst = appendString(dst, k)
		dst = binary.AppendVarint(dst, m[k])
	}
	return dst
}

func (r *recordReader) seqMap() map[string]int64 {
	n := r.uvarint()
	if r.bad || n == 0 {
		return nil
	}
	n--
	if n > uint64(len(r.b)) {
		r.bad, r.b = true, nil
		return nil
	}
	m := make(map[string]int64, n)
	for range n {
		k := r.string()
		m[k] = r.varint()
	}
	return m
}
