package mongo

import (
	"context"
	"errors"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/crypttalk/crypttalk/store"
)

// The outbox of a destination is ordered by a counter per destination
// ($inc on fed_counters), taken before the item is written.
//
// MongoDB (and the wire-compatible servers we run on) gives no transaction
// spanning the message and its outbox item, so the item of a message is
// written first, as "pending", then the message, then the item is marked
// "ready". The sender stops at the first pending item younger than
// pendingGrace (its message may still be on its way), and takes older
// pending items as ready: if the write died before the message, the
// sender finds no message and skips the item; if it died after, the item
// goes out. A retried write re-writes the same item id ($setOnInsert), so
// nothing is queued twice.

type outboxDoc struct {
	ID             string `bson:"_id"`
	Dest           string `bson:"dest"`
	Order          int64  `bson:"order"`
	Kind           string `bson:"kind"`
	ConversationID string `bson:"conversation_id,omitempty"`
	Seq            int64  `bson:"seq,omitempty"`
	MessageID      string `bson:"message_id,omitempty"`
	Payload        []byte `bson:"payload,omitempty"`
	CreatedMS      int64  `bson:"created_ms"`
	Pending        bool   `bson:"pending"`
	PendingMS      int64  `bson:"pending_ms"`
}

func (d *outboxDoc) item() store.OutboxItem {
	return store.OutboxItem{ID: d.ID, Destination: d.Dest, Kind: d.Kind, ConversationID: d.ConversationID, Seq: d.Seq,
		MessageID: d.MessageID, Payload: d.Payload, CreatedAt: fromMS(d.CreatedMS)}
}

type outboxFailDoc struct {
	Dest      string `bson:"_id"`
	Attempts  int    `bson:"attempts"`
	LastError string `bson:"last_error"`
	NextMS    int64  `bson:"next_ms"`
}

var _ store.FederationQueue = (*Store)(nil)

func (s *Store) fedOutbox() *mongo.Collection   { return s.db.Collection("fed_outbox") }
func (s *Store) fedCounters() *mongo.Collection { return s.db.Collection("fed_counters") }
func (s *Store) fedFail() *mongo.Collection     { return s.db.Collection("fed_outbox_fail") }
func (s *Store) fedInbound() *mongo.Collection  { return s.db.Collection("fed_inbound") }

// pendingGrace is how long a pending item holds back its destination.
func (s *Store) pendingGrace() time.Duration { return 2 * s.timeout }

func (s *Store) nextOutboxOrder(ctx context.Context, dest string) (int64, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var c struct {
		N int64 `bson:"n"`
	}
	err := s.fedCounters().FindOneAndUpdate(ctx, bson.M{"_id": outboxCounterID(dest)}, bson.M{"$inc": bson.M{"n": int64(1)}},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&c)
	return c.N, mapErr(err)
}

// writeOutbox inserts item unless its id exists.
// inserted reports whether the item is new (an existing id is kept).
func (s *Store) writeOutbox(ctx context.Context, item store.OutboxItem, pending bool) (inserted bool, err error) {
	if item.ID == "" || item.Destination == "" || item.Kind == "" {
		return false, errors.New("mongo: outbox item needs an id, a destination and a kind")
	}
	order, err := s.nextOutboxOrder(ctx, item.Destination)
	if err != nil {
		return false, err
	}
	d := outboxDoc{ID: item.ID, Dest: item.Destination, Order: order, Kind: item.Kind, ConversationID: item.ConversationID,
		Seq: item.Seq, MessageID: item.MessageID, Payload: item.Payload, CreatedMS: ms(item.CreatedAt), Pending: pending, PendingMS: ms(time.Now())}
	ctx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.fedOutbox().UpdateOne(ctx, bson.M{"_id": item.ID}, bson.M{"$setOnInsert": d}, options.Update().SetUpsert(true))
	if err != nil {
		return false, mapErr(err)
	}
	return res.UpsertedCount > 0, nil
}

// putOutboxMessage stores m and its outbox item (see the comment at top).
func (s *Store) putOutboxMessage(ctx context.Context, m *store.Message, insert func() error) error {
	item := store.MessageOutboxItem(m)
	inserted, err := s.writeOutbox(ctx, item, true)
	if err != nil {
		return err
	}
	err = insert()
	if err != nil {
		_, gerr := s.GetMessage(ctx, m.ID)
		if errors.Is(err, store.ErrConflict) && gerr == nil && inserted {
			// The message was stored by an earlier write whose item is gone
			// (sent and acked): this retry must not queue it again.
			dctx, cancel := s.op(context.WithoutCancel(ctx))
			_, _ = s.fedOutbox().DeleteOne(dctx, bson.M{"_id": item.ID, "pending": true})
			cancel()
			return err
		}
		if errors.Is(gerr, store.ErrNotFound) {
			// Nothing of ours stored: the item must not name a message a
			// later write of another id might never store.
			dctx, cancel := s.op(context.WithoutCancel(ctx))
			_, _ = s.fedOutbox().DeleteOne(dctx, bson.M{"_id": item.ID, "pending": true})
			cancel()
			return err
		}
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	uctx, cancel := s.op(context.WithoutCancel(ctx))
	defer cancel()
	if _, uerr := s.fedOutbox().UpdateOne(uctx, bson.M{"_id": item.ID}, bson.M{"$set": bson.M{"pending": false}}); uerr != nil && err == nil {
		// The message is stored; the item turns ready after the grace.
		return nil
	}
	return err
}

// EnqueueOutbox adds a non-message item.
func (s *Store) EnqueueOutbox(ctx context.Context, item store.OutboxItem) error {
	_, err := s.writeOutbox(ctx, item, false)
	return err
}

// PeekOutbox returns the oldest items of dest, up to the first pending
// item still within its grace.
func (s *Store) PeekOutbox(ctx context.Context, dest string, limit int) ([]store.OutboxItem, error) {
	if limit <= 0 {
		limit = 50
	}
	var docs []outboxDoc
	opts := options.Find().SetSort(bson.D{{Key: "order", Value: 1}}).SetLimit(int64(limit))
	if err := s.findAll(ctx, s.fedOutbox(), bson.M{"dest": dest}, &docs, opts); err != nil {
		return nil, err
	}
	young := ms(time.Now().Add(-s.pendingGrace()))
	out := make([]store.OutboxItem, 0, len(docs))
	for i := range docs {
		if docs[i].Pending && docs[i].PendingMS > young {
			break
		}
		out = append(out, docs[i].item())
	}
	return out, nil
}

// AckOutbox removes sent items and dest's failure record.
func (s *Store) AckOutbox(ctx context.Context, dest string, ids []string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	if len(ids) > 0 {
		if _, err := s.fedOutbox().DeleteMany(ctx, bson.M{"dest": dest, "_id": bson.M{"$in": ids}}); err != nil {
			return mapErr(err)
		}
	}
	_, err := s.fedFail().DeleteOne(ctx, bson.M{"_id": dest})
	return mapErr(err)
}

// NoteOutboxFailure records a failed attempt.
func (s *Store) NoteOutboxFailure(ctx context.Context, dest, lastErr string, next time.Time) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.fedFail().UpdateOne(ctx, bson.M{"_id": dest},
		bson.M{"$inc": bson.M{"attempts": 1}, "$set": bson.M{"last_error": lastErr, "next_ms": ms(next)}}, options.Update().SetUpsert(true))
	return mapErr(err)
}

// OutboxDestinations lists destinations with items or failures.
func (s *Store) OutboxDestinations(ctx context.Context) ([]store.OutboxStats, error) {
	var docs []outboxDoc
	opts := options.Find().SetSort(bson.D{{Key: "order", Value: 1}}).SetProjection(bson.M{"dest": 1, "created_ms": 1, "order": 1})
	if err := s.findAll(ctx, s.fedOutbox(), bson.M{}, &docs, opts); err != nil {
		return nil, err
	}
	byDest := map[string]*store.OutboxStats{}
	get := func(d string) *store.OutboxStats {
		if st := byDest[d]; st != nil {
			return st
		}
		st := &store.OutboxStats{Destination: d}
		byDest[d] = st
		return st
	}
	for i := range docs {
		st := get(docs[i].Dest)
		if st.Depth == 0 {
			st.Oldest = fromMS(docs[i].CreatedMS)
		}
		st.Depth++
	}
	var fails []outboxFailDoc
	if err := s.findAll(ctx, s.fedFail(), bson.M{}, &fails); err != nil {
		return nil, err
	}
	for _, f := range fails {
		st := get(f.Dest)
		st.Attempts, st.LastError, st.NextAttempt = f.Attempts, f.LastError, fromMS(f.NextMS)
	}
	out := make([]store.OutboxStats, 0, len(byDest))
	for _, st := range byDest {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Destination < out[j].Destination })
	return out, nil
}

// GetInboundTxn returns the recorded result of a received transaction.
func (s *Store) GetInboundTxn(ctx context.Context, origin, txnID string) ([]byte, error) {
	var d struct {
		Result []byte `bson:"result"`
	}
	if err := s.findOne(ctx, s.fedInbound(), bson.M{"_id": inboundTxnID(origin, txnID)}, &d); err != nil {
		return nil, err
	}
	if d.Result == nil {
		d.Result = []byte{}
	}
	return d.Result, nil
}

// PutInboundTxn records a result; the unique _id makes the first writer win.
func (s *Store) PutInboundTxn(ctx context.Context, origin, txnID string, result []byte) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.fedInbound().InsertOne(ctx, bson.M{"_id": inboundTxnID(origin, txnID), "result": result, "created_ms": ms(time.Now())})
	return mapErr(err)
}
