package mongo

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/crypttalk/crypttalk/store"
)

// convDoc stores per-member positions by member index: user ids contain
// dots, which cannot be field names of an update path.
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
}

func toConvDoc(c *store.Conversation) *convDoc {
	d := &convDoc{ID: c.ID, Members: c.Members, CreatedMS: ms(c.CreatedAt), LastMS: ms(c.LastMessageAt), LastSeq: c.LastSeq,
		TimerSeconds: c.TimerSeconds, TimerMode: c.TimerMode, IdleMS: ms(c.IdleExpiresAt)}
	for i, m := range c.Members {
		if i < 2 {
			*pick(&d.Read0, &d.Read1, i) = c.ReadSeq[m]
			*pick(&d.Deliv0, &d.Deliv1, i) = c.DeliveredSeq[m]
		}
	}
	return d
}

func pick(a, b *int64, i int) *int64 {
	if i == 0 {
		return a
	}
	return b
}

func (d *convDoc) conversation() *store.Conversation {
	c := &store.Conversation{ID: d.ID, Members: d.Members, CreatedAt: fromMS(d.CreatedMS), LastMessageAt: fromMS(d.LastMS),
		LastSeq: d.LastSeq, TimerSeconds: d.TimerSeconds, TimerMode: d.TimerMode, IdleExpiresAt: fromMS(d.IdleMS),
		ReadSeq: map[string]int64{}, DeliveredSeq: map[string]int64{}}
	for i, m := range d.Members {
		if i < 2 {
			c.ReadSeq[m] = *pick(&d.Read0, &d.Read1, i)
			c.DeliveredSeq[m] = *pick(&d.Deliv0, &d.Deliv1, i)
		}
	}
	return c
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
	return d.conversation(), nil
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
	return out, nil
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

// NextSeq hands out the next seq with an atomic $inc.
func (s *Store) NextSeq(ctx context.Context, id string, now time.Time) (int64, error) {
	seq, err := s.counter(ctx, s.convs, id, "last_seq")
	if err != nil {
		return 0, err
	}
	d, err := s.updateConv(ctx, id, bson.M{"$max": bson.M{"last_ms": ms(now)}})
	if err != nil {
		return 0, err
	}
	if d.TimerMode == store.TimerIdle && d.TimerSeconds > 0 {
		idle := now.Add(time.Duration(d.TimerSeconds) * time.Second)
		if _, err := s.updateConv(ctx, id, bson.M{"$max": bson.M{"idle_ms": ms(idle)}}); err != nil {
			return 0, err
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

func (s *Store) raise(ctx context.Context, id, userID string, seq int64, field string) (int64, error) {
	c, err := s.GetConversation(ctx, id)
	if err != nil {
		return 0, err
	}
	i := -1
	for j, m := range c.Members {
		if m == userID && j < 2 {
			i = j
		}
	}
	if i < 0 {
		return 0, store.ErrNotFound
	}
	name := field + string(rune('0'+i))
	d, err := s.updateConv(ctx, id, bson.M{"$max": bson.M{name: seq}})
	if err != nil {
		return 0, err
	}
	if field == "read" {
		return *pick(&d.Read0, &d.Read1, i), nil
	}
	return *pick(&d.Deliv0, &d.Deliv1, i), nil
}
