package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// MaxTransactionEvents is the most events one transaction carries (Matrix's limit).
const MaxTransactionEvents = 50

// txnIDRE is Matrix's opaque identifier grammar, which txnId follows.
var txnIDRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,255}$`)

// ValidTxnID reports whether id may name a transaction in
// PUT /_crypttalk/federation/v1/send/{txnId}.
func ValidTxnID(id string) bool { return txnIDRE.MatchString(id) }

// Transaction is the body of PUT /_crypttalk/federation/v1/send/{txnId}.
type Transaction struct {
	Origin         string
	OriginServerTS int64             // ms
	Events         []json.RawMessage // each one event's canonical JSON, still to verify
}

// BuildTransaction makes the canonical body of a transaction from origin
// carrying events (1 to MaxTransactionEvents, all of origin).
func BuildTransaction(origin string, now time.Time, events []*Event) ([]byte, error) {
	if len(events) == 0 || len(events) > MaxTransactionEvents {
		return nil, malformed(fmt.Sprintf("a transaction carries 1 to %d events", MaxTransactionEvents))
	}
	raws := make([]json.RawMessage, len(events))
	for i, e := range events {
		if e.Origin != origin {
			return nil, forbidden(ErrWrongOrigin, "event "+e.EventID+" is of "+e.Origin+", not "+origin)
		}
		raws[i] = e.Raw
	}
	evs, err := json.Marshal(raws)
	if err != nil {
		return nil, badJSON(err)
	}
	return object{
		"origin":           quote(origin),
		"origin_server_ts": json.RawMessage(strconv.FormatInt(now.UnixMilli(), 10)),
		"events":           evs,
	}.encode()
}

// ParseTransaction checks a transaction's envelope: canonical JSON, its
// origin is the request's authenticated origin, its timestamp is not
// ahead of our clock by more than MaxSkew, and it carries at most
// MaxTransactionEvents events. The events themselves are checked one by
// one with VerifyTransactionEvent, each getting its own result.
func (v *Verifier) ParseTransaction(authOrigin string, body []byte) (*Transaction, error) {
	o, _, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	tx := &Transaction{}
	if tx.Origin, err = o.str("origin"); err != nil {
		return nil, err
	}
	if tx.Origin != authOrigin {
		return nil, forbidden(ErrWrongOrigin, "transaction origin "+tx.Origin+" is not the request's origin "+authOrigin)
	}
	if tx.OriginServerTS, err = o.int("origin_server_ts"); err != nil {
		return nil, err
	}
	if err := CheckClock(tx.OriginServerTS, v.now(), v.skew()); err != nil {
		return nil, err
	}
	raw, ok := o["events"]
	if !ok || len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &tx.Events) != nil {
		return nil, malformed("events must be an array")
	}
	if len(tx.Events) > MaxTransactionEvents {
		return nil, malformed(fmt.Sprintf("a transaction carries at most %d events", MaxTransactionEvents))
	}
	return tx, nil
}

// VerifyTransactionEvent is VerifyEvent plus the check that the event is
// of the transaction's origin: a server relays nobody else's events.
func (v *Verifier) VerifyTransactionEvent(ctx context.Context, tx *Transaction, raw []byte) (*Event, error) {
	e, err := v.VerifyEvent(ctx, raw)
	if err != nil {
		return nil, err
	}
	if e.Origin != tx.Origin {
		return nil, forbidden(ErrWrongOrigin, "event of "+e.Origin+" in a transaction from "+tx.Origin)
	}
	return e, nil
}
