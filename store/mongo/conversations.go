package mongo

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/crypttalk/crypttalk/store"
)

// convDoc is a conversation as stored; read and delivered positions live
// in their own collection (see raise).
type convDoc struct {
	ID           string   `bson:"_id"`
	Members      []string `bson:"members"`
	CreatedMS    int64    `bson:"created_ms"`
	LastMS       int64    `bson:"last_ms"`
	LastSeq      int64    `bson:"last_seq"`
	TimerSeconds int64    `bson:"timer_seconds"`
	TimerMode    string   `bson:"timer_mode"`
	IdleMS       int64    `bson:"idle_ms"`
	Read0        int64    `bson:"read0"`
	Read1        int64    `bson:"read1"`
	Deliv0       int64    `bson:"deliv0"`
	Deliv1       int64    `bson:"deliv1"`
	E2EE         bool     `bson:"e2ee,omitempty"` // set by SetConversationE2EE (keys_e2ee.go)
}

func toConvDoc(c *store.Conversation) *convDoc {
	return &convDoc{ID: c.ID, Members: c.Members, CreatedMS: ms(c.CreatedAt), LastMS: ms(c.LastMessageAt), LastSeq: c.LastSeq,
		TimerSeconds: c.TimerSeconds, TimerMode: c.TimerMode, IdleMS: ms(c.IdleExpiresAt), E2EE: c.E2EE}
}

func (d *convDoc) conversation() *store.Conversation {
	return &store.Conversation{ID: d.ID, Members: d.Members, CreatedAt: fromMS(d.CreatedMS), LastMessageAt: fromMS(d.LastMS),
		LastSeq: d.LastSeq, TimerSeconds: d.TimerSeconds, TimerMode: d.TimerMode, IdleExpiresAt: fromMS(d.IdleMS),
		ReadSeq: map[string]int64{}, DeliveredSeq: map[string]int64{}, E2EE: d.E2EE}
}

// EnsureConversation inserts c unless it exists; a racing insert loses on
// the _id and reads the winner.
func (s *Store) EnsureConversation(ctx context.Context, c *store.Conversation) (*store.Conversation, error) {
	if got, err := s.GetConversation(ctx, c.ID); err == nil || !errors.Is(err, store.ErrNotFound) {
		return got, err
	}
	octx, cancel := s.op(ctx)
	_, err := s.convs.InsertOne(octx, toConvDoc(c))
	cancel()
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return nil, mapErr(err)
	}
	return s.GetConversation(ctx, c.ID)
}

// GetConversation loads a conversation.
func (s *Store) GetConversation(ctx context.Context, id string) (*store.Conversation, error) {
	var d convDoc
	if err := s.findOne(ctx, s.convs, bson.M{"_id": id}, &d); err != nil {
		return nil, err
	}
	c := d.conversation()
	return c, s.withPositions(ctx, []*store.Conversation{c})
}

// ListConversations lists userID's conversations, newest activity first.
func (s *Store) ListConversations(ctx context.Context, userID string) ([]*store.Conversation, error) {
	var docs []convDoc
	opts := options.Find().SetSort(bson.D{{Key: "last_ms", Value: -1}})
	if err := s.findAll(ctx, s.convs, bson.M{"members": userID}, &docs, opts); err != nil {
		return nil, err
	}
	out := make([]*store.Conversation, 0, len(docs))
	for i := range docs {
		out = append(out, docs[i].conversation())
	}
	return out, s.withPositions(ctx, out)
}

// update applies an update and returns the document after it.
func (s *Store) updateConv(ctx context.Context, id string, update bson.M) (*convDoc, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var d convDoc
	err := s.convs.FindOneAndUpdate(ctx, bson.M{"_id": id}, update, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if err != nil {
		return nil, mapErr(err)
	}
	return &d, nil
}

// NextSeq claims the next seq (see counter) and raises last_seq and
// last_ms in the same update; only a conversation with an idle timer
// costs one more.
func (s *Store) NextSeq(ctx context.Context, id string, now time.Time) (int64, error) {
	var d convDoc
	seq, err := s.counterWith(ctx, s.convs, id, "last_seq", bson.M{"last_ms": ms(now)}, &d)
	if err != nil {
		return 0, err
	}
	if d.TimerMode == store.TimerIdle && d.TimerSeconds > 0 {
		// The filter repeats the timer just read, so a SetTimer that
		// turned it off meanwhile is not undone by this deadline.
		idle := ms(now.Add(time.Duration(d.TimerSeconds) * time.Second))
		octx, cancel := s.op(ctx)
		_, err := s.convs.UpdateOne(octx, bson.M{"_id": id, "timer_mode": store.TimerIdle, "timer_seconds": d.TimerSeconds}, bson.M{"$max": bson.M{"idle_ms": idle}})
		cancel()
		if err != nil {
			return 0, mapErr(err)
		}
	}
	return seq, nil
}

// SetTimer changes the timer and the idle deadline.
func (s *Store) SetTimer(ctx context.Context, id string, seconds int64, mode string, now time.Time) error {
	var idle int64
	if mode == store.TimerIdle && seconds > 0 {
		idle = ms(now.Add(time.Duration(seconds) * time.Second))
	}
	_, err := s.updateConv(ctx, id, bson.M{"$set": bson.M{"timer_seconds": seconds, "timer_mode": mode, "idle_ms": idle}})
	return err
}

// ListIdleExpired lists conversations whose idle timer ran out.
func (s *Store) ListIdleExpired(ctx context.Context, now time.Time, limit int) ([]*store.Conversation, error) {
	var docs []convDoc
	opts := options.Find().SetSort(bson.D{{Key: "idle_ms", Value: 1}}).SetLimit(int64(limit))
	if err := s.findAll(ctx, s.convs, bson.M{"idle_ms": bson.M{"$gt": 0, "$lte": ms(now)}}, &docs, opts); err != nil {
		return nil, err
	}
	out := make([]*store.Conversation, 0, len(docs))
	for i := range docs {
		out = append(out, docs[i].conversation())
	}
	return out, nil
}

// MarkRead raises a member's read position with $max.
func (s *Store) MarkRead(ctx context.Context, id, userID string, seq int64) (int64, error) {
	return s.raise(ctx, id, userID, seq, "read")
}

// MarkDelivered raises a member's delivered position with $max.
func (s *Store) MarkDelivered(ctx context.Context, id, userID string, seq int64) (int64, error) {
	return s.raise(ctx, id, userID, seq, "deliv")
}

// raise records a position as its own document (_id = conv, user, kind,
// seq: inserting it twice is harmless) and prunes the lower ones. Keeping
// positions out of the conversation document means no read-modify-write
// of a shared document, which compatible servers without atomic updates
// (FerretDB) would lose under concurrency; the maximum is computed on read.
//
// It costs three round trips: the members alone (not the positions
// GetConversation adds), the insert, and the read of the (few) positions
// of the key, which gives the maximum. The lower ones are pruned only once
// more than positionsKept pile up, not on every raise.
func (s *Store) raise(ctx context.Context, id, userID string, seq int64, kind string) (int64, error) {
	var c struct {
		Members []string `bson:"members"`
	}
	if err := s.findOne(ctx, s.convs, bson.M{"_id": id}, &c, options.FindOne().SetProjection(bson.M{"members": 1})); err != nil {
		return 0, err
	}
	if !slices.Contains(c.Members, userID) {
		return 0, store.ErrNotFound
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	doc := bson.M{"_id": positionID(id, userID, kind, seq), "conv": id, "user": userID, "kind": kind, "seq": seq}
	if _, err := s.positions.InsertOne(octx, doc); err != nil && !mongo.IsDuplicateKeyError(err) {
		return 0, mapErr(err)
	}
	key := bson.M{"conv": id, "user": userID, "kind": kind}
	var docs []struct {
		Seq int64 `bson:"seq"`
	}
	if err := s.findAll(octx, s.positions, key, &docs, options.Find().SetProjection(bson.M{"seq": 1})); err != nil {
		return 0, err
	}
	var top int64
	for _, d := range docs {
		top = max(top, d.Seq)
	}
	if len(docs) > positionsKept {
		key["seq"] = bson.M{"$lt": top}
		if _, err := s.positions.DeleteMany(octx, key); err != nil {
			return 0, mapErr(err)
		}
	}
	return top, nil
}

// positionsKept bounds the position documents of one (conversation,
// member, kind) between prunes.
const positionsKept = 4

// withPositions fills ReadSeq and DeliveredSeq of conversations.
func (s *Store) withPositions(ctx context.Context, convs []*store.Conversation) error {
	if len(convs) == 0 {
		return nil
	}
	byID := make(map[string]*store.Conversation, len(convs))
	ids := make([]string, 0, len(convs))
	for _, c := range convs {
		byID[c.ID] = c
		ids = append(ids, c.ID)
	}
	var docs []struct {
		Conv string `bson:"conv"`
		User string `bson:"user"`
		Kind string `bson:"kind"`
		Seq  int64  `bson:"seq"`
	}
	// One conversation (every send reads one) asks by equality: FerretDB
	// pushes that down to PostgreSQL but decodes and filters every
	// document of the collection itself for $in.
	var filter bson.M
	if len(ids) == 1 {
		filter = bson.M{"conv": ids[0]}
	} else {
		filter = bson.M{"conv": bson.M{"$in": ids}}
	}
	if err := s.findAll(ctx, s.positions, filter, &docs); err != nil {
		return err
	}
	for _, d := range docs {
		c := byID[d.Conv]
		m := c.ReadSeq
		if d.Kind == "deliv" {
			m = c.DeliveredSeq
		}
		m[d.User] = max(m[d.User], d.Seq)
	}
	return nil
}
