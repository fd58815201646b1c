package mongo

import (
	"strconv"
	"strings"
)

// keySep separates the parts of a compound _id. It is outside every id
// alphabet (user ids, conversation ids, server names, hex ids), so typical
// keys read plainly; parts that do contain it, a '%' or a control byte
// (client-chosen txn ids, account data types) are percent-escaped, which
// keeps the join injective: two part lists never share a key, and the key
// of a prefix of parts, plus keySep, is a prefix of exactly the keys that
// extend it.
//
// Earlier versions joined parts with NUL. MongoDB accepts NUL in strings,
// but PostgreSQL refuses it in JSON (SQLSTATE 22P05), so FerretDB on
// PostgreSQL could not store those keys; migrate.go rewrites old keys.
const keySep = '|'

// docKey joins parts into one _id.
func docKey(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(keySep)
		}
		for j := 0; j < len(p); j++ {
			c := p[j]
			if c == keySep || c == '%' || c < 0x20 || c == 0x7f {
				const hex = "0123456789ABCDEF"
				b.WriteByte('%')
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&15])
				continue
			}
			b.WriteByte(c)
		}
	}
	return b.String()
}

// docKeyPrefix is the prefix every docKey(parts..., more...) starts with.
func docKeyPrefix(parts ...string) string { return docKey(parts...) + string(keySep) }

func claimID(coll, id string, n int64) string { return docKey(coll, id, strconv.FormatInt(n, 10)) }

func positionID(conv, user, kind string, seq int64) string {
	return docKey(conv, user, kind, strconv.FormatInt(seq, 10))
}

// txnKey is the _id of a claim in the txns collection, where earlier
// versions recorded (sender, txn_id) before inserting the message. New
// messages need no claim; the claims are only read for messages that
// earlier versions stored.
func txnKey(sender, txn string) string { return docKey(sender, txn) }

func accountDataID(userID, dataType string) string { return docKey(userID, dataType) }

func outboxCounterID(dest string) string { return docKey("outbox", dest) }

func inboundTxnID(origin, txnID string) string { return docKey(origin, txnID) }
