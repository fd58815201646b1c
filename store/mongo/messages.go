package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/crypttalk/crypttalk/store"
)

// msgDoc keeps times as Unix milliseconds (0 = none), so "no expiry" and
// range queries on expiry are plain integer comparisons.
type msgDoc struct {
	ID             string `bson:"_id"`
	ConversationID string `bson:"conversation_id"`
	Seq            int64  `bson:"seq"`
	Sender         string `bson:"sender"`
	Recipient      string `bson:"recipient"`
	Type           string `bson:"type"`
	KeyID          string `bson:"key_id"`
	Body           []byte `bson:"body"`
	FileID         string `bson:"file_id,omitempty"`
	TxnID          string `bson:"txn_id,omitempty"`
	CreatedMS      int64  `bson:"created_ms"`
	ExpiresMS      int64  `bson:"expires_ms"`
	TTLAfterRead   int64  `bson:"ttl_after_read"`
	IdleTTL        int64  `bson:"idle_ttl,omitempty"`
	Outbox         string `bson:"outbox,omitempty"`
}

func toMsgDoc(m *store.Message) *msgDoc {
	return &msgDoc{ID: m.ID, ConversationID: m.ConversationID, Seq: m.Seq, Sender: m.Sender, Recipient: m.Recipient, Type: m.Type,
		KeyID: m.KeyID, Body: m.Body, FileID: m.FileID, TxnID: m.TxnID, CreatedMS: ms(m.CreatedAt), ExpiresMS: ms(m.ExpiresAt), TTLAfterRead: m.TTLAfterRead, IdleTTL: m.IdleTTL, Outbox: m.Outbox}
}

func (d *msgDoc) message() *store.Message {
	return &store.Message{ID: d.ID, ConversationID: d.ConversationID, Seq: d.Seq, Sender: d.Sender, Recipient: d.Recipient, Type: d.Type,
		KeyID: d.KeyID, Body: d.Body, FileID: d.FileID, TxnID: d.TxnID, CreatedAt: fromMS(d.CreatedMS), ExpiresAt: fromMS(d.ExpiresMS), TTLAfterRead: d.TTLAfterRead, IdleTTL: d.IdleTTL, Outbox: d.Outbox}
}

func messages(docs []msgDoc) []*store.Message {
	out := make([]*store.Message, 0, len(docs))
	for i := range docs {
		out = append(out, docs[i].message())
	}
	return out
}

// PutMessage stores a message in one insert. A message with a txn id has
// the id store.TxnMessageID(sender, txn id), so the unique _id is the
// (sender, txn_id) constraint: a retry of a send that failed or died at any
// point either finds its message stored or stores it now, never finds a
// claim without a message.
func (s *Store) PutMessage(ctx context.Context, m *store.Message) error {
	if err := store.CheckTxnMessage(m); err != nil {
		return err
	}
	insert := func() error {
		ctx, cancel := s.op(ctx)
		defer cancel()
		_, err := s.msgs.InsertOne(ctx, toMsgDoc(m))
		return mapErr(err)
	}
	if m.Outbox != "" {
		return s.putOutboxMessage(ctx, m, insert)
	}
	return insert()
}

// GetMessage loads a message by id.
func (s *Store) GetMessage(ctx context.Context, id string) (*store.Message, error) {
	var d msgDoc
	if err := s.findOne(ctx, s.msgs, bson.M{"_id": id}, &d); err != nil {
		return nil, err
	}
	return d.message(), nil
}

// GetMessageByTxn finds the message a sender created with txnID: by its
// derived id, else through a claim an earlier version wrote. A claim whose
// message is missing (that version's put was cut off between its two
// writes) is no message: ErrNotFound, and the retry stores one.
func (s *Store) GetMessageByTxn(ctx context.Context, sender, txnID string) (*store.Message, error) {
	m, err := s.GetMessage(ctx, store.TxnMessageID(sender, txnID))
	if !errors.Is(err, store.ErrNotFound) || !s.legacyTxns {
		// Without old claims at open no claim can exist (nodes of those
		// versions must be stopped before this one starts, as for the key
		// migration): the first send of every txn id saves a round trip.
		return m, err
	}
	var t struct {
		MessageID string `bson:"message_id"`
	}
	if err := s.findOne(ctx, s.txns, bson.M{"_id": txnKey(sender, txnID)}, &t); err != nil {
		return nil, err
	}
	m, err = s.GetMessage(ctx, t.MessageID)
	if err == nil && (m.Sender != sender || m.TxnID != txnID) {
		return nil, fmt.Errorf("%w: txn claim names another message", store.ErrNotFound)
	}
	return m, err
}

// hasLegacyTxns reports whether any claim of the txns collection exists.
func (s *Store) hasLegacyTxns(ctx context.Context) (bool, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := s.txns.FindOne(ctx, bson.M{}, options.FindOne().SetProjection(bson.M{"_id": 1})).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	return err == nil, mapErr(err)
}

func liveFilter(now time.Time) bson.M {
	return bson.M{"$or": bson.A{bson.M{"expires_ms": 0}, bson.M{"expires_ms": bson.M{"$gt": ms(now)}}}}
}

// ListMessages returns a range of a conversation, oldest first.
func (s *Store) ListMessages(ctx context.Context, conv string, r store.MessageRange) ([]*store.Message, error) {
	if r.Limit <= 0 {
		r.Limit = 50
	}
	seq := bson.M{}
	if r.AfterSeq > 0 {
		seq["$gt"] = r.AfterSeq
	}
	if r.BeforeSeq > 0 {
		seq["$lt"] = r.BeforeSeq
	}
	filter := bson.M{"conversation_id": conv, "$and": bson.A{liveFilter(r.Now)}}
	if len(seq) > 0 {
		filter["seq"] = seq
	}
	order := -1 // newest Limit, reversed below
	if r.AfterSeq > 0 {
		order = 1
	}
	var docs []msgDoc
	opts := options.Find().SetSort(bson.D{{Key: "seq", Value: order}}).SetLimit(int64(r.Limit))
	if err := s.findAll(ctx, s.msgs, filter, &docs, opts); err != nil {
		return nil, err
	}
	out := messages(docs)
	if order < 0 {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

// CountMessages counts live messages after a seq not sent by notSender.
func (s *Store) CountMessages(ctx context.Context, conv string, afterSeq int64, notSender string, now time.Time) (int, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	n, err := s.msgs.CountDocuments(ctx, bson.M{"conversation_id": conv, "seq": bson.M{"$gt": afterSeq}, "sender": bson.M{"$ne": notSender}, "$and": bson.A{liveFilter(now)}})
	return int(n), mapErr(err)
}

// SetMessagesExpiry starts the after_read timers up to a seq.
func (s *Store) SetMessagesExpiry(ctx context.Context, conv, recipient string, uptoSeq int64, readAt time.Time) error {
	var docs []msgDoc
	filter := bson.M{"conversation_id": conv, "recipient": recipient, "seq": bson.M{"$lte": uptoSeq}, "ttl_after_read": bson.M{"$gt": 0}, "expires_ms": 0}
	if err := s.findAll(ctx, s.msgs, filter, &docs); err != nil {
		return err
	}
	for _, d := range docs {
		exp := ms(readAt.Add(time.Duration(d.TTLAfterRead) * time.Second))
		octx, cancel := s.op(ctx)
		_, err := s.msgs.UpdateOne(octx, bson.M{"_id": d.ID, "expires_ms": 0}, bson.M{"$set": bson.M{"expires_ms": exp}})
		cancel()
		if err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// ListExpiredMessages lists messages whose expiry has passed.
func (s *Store) ListExpiredMessages(ctx context.Context, now time.Time, limit int) ([]*store.Message, error) {
	var docs []msgDoc
	opts := options.Find().SetSort(bson.D{{Key: "expires_ms", Value: 1}}).SetLimit(int64(limit))
	if err := s.findAll(ctx, s.msgs, bson.M{"expires_ms": bson.M{"$gt": 0, "$lte": ms(now)}}, &docs, opts); err != nil {
		return nil, err
	}
	return messages(docs), nil
}

// DeleteMessages removes messages and their txn claims.
func (s *Store) DeleteMessages(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	var docs []msgDoc
	if err := s.findAll(ctx, s.msgs, bson.M{"_id": bson.M{"$in": ids}}, &docs); err != nil {
		return err
	}
	return s.deleteMsgDocs(ctx, docs)
}

func (s *Store) deleteMsgDocs(ctx context.Context, docs []msgDoc) error {
	ids := make([]string, 0, len(docs))
	var txns []string
	for _, d := range docs {
		ids = append(ids, d.ID)
		if d.TxnID != "" && d.ID != store.TxnMessageID(d.Sender, d.TxnID) {
			txns = append(txns, txnKey(d.Sender, d.TxnID)) // stored by an earlier version
		}
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	if _, err := s.msgs.DeleteMany(ctx, bson.M{"_id": bson.M{"$in": ids}}); err != nil {
		return mapErr(err)
	}
	if len(txns) > 0 {
		if _, err := s.txns.DeleteMany(ctx, bson.M{"_id": bson.M{"$in": txns}}); err != nil {
			return mapErr(err)
		}
	}
	return nil
}
