package mongo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/crypttalk/crypttalk/store"
)

var _ store.E2EEKeys = (*Store)(nil)

// e2eeID is the _id of an end-to-end record: its parts joined by '/',
// with '/', '%' and control bytes of a part percent-escaped, so the join
// is injective and holds no NUL (FerretDB on PostgreSQL refuses NUL in
// strings). It is this file's own, so a change of the other collections'
// key format does not move these records.
func e2eeID(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('/')
		}
		for j := 0; j < len(p); j++ {
			if c := p[j]; c == '/' || c == '%' || c < 0x20 || c == 0x7f {
				fmt.Fprintf(&b, "%%%02X", c)
				continue
			}
			b.WriteByte(p[j])
		}
	}
	return b.String()
}

var errE2EEPart = errors.New("mongo: invalid id (empty or holds NUL)")

// e2eeParts refuses empty parts and NUL, which no server can index.
func e2eeParts(parts ...string) error {
	for _, p := range parts {
		if p == "" || strings.IndexByte(p, 0) >= 0 {
			return fmt.Errorf("%w: %q", errE2EEPart, p)
		}
	}
	return nil
}

func (s *Store) devKeys() *mongo.Collection  { return s.db.Collection("e2ee_device_keys") }
func (s *Store) otks() *mongo.Collection     { return s.db.Collection("e2ee_otks") }
func (s *Store) fallback() *mongo.Collection { return s.db.Collection("e2ee_fallback") }
func (s *Store) xsign() *mongo.Collection    { return s.db.Collection("e2ee_cross") }
func (s *Store) keySigs() *mongo.Collection  { return s.db.Collection("e2ee_sigs") }
func (s *Store) devList() *mongo.Collection  { return s.db.Collection("e2ee_devlist") }
func (s *Store) toDev() *mongo.Collection    { return s.db.Collection("e2ee_todevice") }

// e2eeIndexed remembers the stores whose end-to-end indexes exist: they
// are made by the first call that needs them, so Open (shared) needs no
// entry and a server that never sees a key pays nothing.
var e2eeIndexed sync.Map // *Store -> struct{}

func (s *Store) e2eeIndexes(ctx context.Context) error {
	if _, ok := e2eeIndexed.Load(s); ok {
		return nil
	}
	named := func(name string) *options.IndexOptions { return options.Index().SetName(name) }
	idx := map[*mongo.Collection][]mongo.IndexModel{
		s.devKeys():  {{Keys: bson.D{{Key: "user", Value: 1}}, Options: named("e2ee_dev_user")}},
		s.otks():     {{Keys: bson.D{{Key: "user", Value: 1}, {Key: "device", Value: 1}, {Key: "algo", Value: 1}}, Options: named("e2ee_otk_dev")}},
		s.fallback(): {{Keys: bson.D{{Key: "user", Value: 1}, {Key: "device", Value: 1}}, Options: named("e2ee_fb_dev")}},
		s.xsign():    {{Keys: bson.D{{Key: "user", Value: 1}}, Options: named("e2ee_cross_user")}},
		s.keySigs():  {{Keys: bson.D{{Key: "target_user", Value: 1}}, Options: named("e2ee_sigs_target")}},
		s.toDev():    {{Keys: bson.D{{Key: "user_id", Value: 1}, {Key: "device_id", Value: 1}, {Key: "order", Value: 1}}, Options: named("e2ee_todev_dev")}},
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	for coll, models := range idx {
		missing, err := missingIndexes(ctx, coll, models)
		if err != nil {
			return mapErr(err)
		}
		if len(missing) > 0 {
			if _, err := coll.Indexes().CreateMany(ctx, missing); err != nil {
				return mapErr(err)
			}
		}
	}
	e2eeIndexed.Store(s, struct{}{})
	return nil
}

type devKeysDoc struct {
	ID        string `bson:"_id"`
	User      string `bson:"user"`
	Device    string `bson:"device"`
	Identity  string `bson:"identity"`
	Keys      []byte `bson:"keys"`
	UpdatedMS int64  `bson:"updated_ms"`
}

// PutDeviceKeys stores a device's keys; the replace is conditioned on the
// stored identity, so a concurrent upload of other keys cannot slip in.
func (s *Store) PutDeviceKeys(ctx context.Context, k *store.DeviceKeys) error {
	if err := e2eeParts(k.UserID, k.DeviceID); err != nil {
		return err
	}
	if err := s.e2eeIndexes(ctx); err != nil {
		return err
	}
	id := e2eeID(k.UserID, k.DeviceID)
	doc := devKeysDoc{ID: id, User: k.UserID, Device: k.DeviceID, Identity: k.Identity, Keys: k.Keys, UpdatedMS: ms(k.UpdatedAt)}
	for range 3 {
		var old devKeysDoc
		err := s.findOne(ctx, s.devKeys(), bson.M{"_id": id}, &old)
		octx, cancel := s.op(ctx)
		switch {
		case errors.Is(err, store.ErrNotFound):
			_, err = s.devKeys().InsertOne(octx, doc)
			cancel()
			if mongo.IsDuplicateKeyError(err) {
				continue // a concurrent first upload: compare with it
			}
			return mapErr(err)
		case err != nil:
			cancel()
			return err
		case old.Identity != k.Identity:
			cancel()
			return fmt.Errorf("mongo: device %q identity keys differ: %w", id, store.ErrConflict)
		}
		res, err := s.devKeys().ReplaceOne(octx, bson.M{"_id": id, "identity": k.Identity}, doc)
		cancel()
		if err != nil {
			return mapErr(err)
		}
		if res.MatchedCount == 1 {
			return nil
		}
	}
	return fmt.Errorf("mongo: device keys %q: %w", id, store.ErrConflict)
}

// ListDeviceKeys returns a user's device keys by device id.
func (s *Store) ListDeviceKeys(ctx context.Context, userID string) ([]*store.DeviceKeys, error) {
	if err := s.e2eeIndexes(ctx); err != nil {
		return nil, err
	}
	var docs []devKeysDoc
	if err := s.findAll(ctx, s.devKeys(), bson.M{"user": userID}, &docs); err != nil {
		return nil, err
	}
	out := make([]*store.DeviceKeys, 0, len(docs))
	for _, d := range docs {
		out = append(out, &store.DeviceKeys{UserID: d.User, DeviceID: d.Device, Identity: d.Identity, Keys: d.Keys, UpdatedAt: fromMS(d.UpdatedMS)})
	}
	slices.SortFunc(out, func(a, b *store.DeviceKeys) int { return strings.Compare(a.DeviceID, b.DeviceID) })
	return out, nil
}

type otkDoc struct {
	ID     string `bson:"_id"`
	User   string `bson:"user"`
	Device string `bson:"device"`
	Algo   string `bson:"algo"`
	KeyID  string `bson:"key_id"`
	Key    []byte `bson:"key"`
	Used   bool   `bson:"used,omitempty"` // fallback keys only
}

// AddOneTimeKeys checks every key id against what is stored before it
// writes any, so a refused upload leaves nothing behind.
func (s *Store) AddOneTimeKeys(ctx context.Context, userID, deviceID string, keys []*store.OneTimeKey) error {
	if err := e2eeParts(userID, deviceID); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	if err := s.e2eeIndexes(ctx); err != nil {
		return err
	}
	ids := make([]string, 0, len(keys))
	docs := make([]any, 0, len(keys))
	for _, k := range keys {
		if err := e2eeParts(k.KeyID); err != nil {
			return err
		}
		id := e2eeID(userID, deviceID, k.KeyID)
		ids = append(ids, id)
		docs = append(docs, otkDoc{ID: id, User: userID, Device: deviceID, Algo: k.Algorithm(), KeyID: k.KeyID, Key: k.Key})
	}
	var have []otkDoc
	if err := s.findAll(ctx, s.otks(), bson.M{"_id": bson.M{"$in": ids}}, &have); err != nil {
		return err
	}
	stored := map[string][]byte{}
	for _, h := range have {
		stored[h.ID] = h.Key
	}
	fresh := docs[:0]
	for i, k := range keys {
		if old, ok := stored[ids[i]]; ok {
			if !bytes.Equal(old, k.Key) {
				return fmt.Errorf("mongo: one-time key %q: %w", ids[i], store.ErrConflict)
			}
			continue
		}
		fresh = append(fresh, docs[i])
	}
	if len(fresh) == 0 {
		return nil
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.otks().InsertMany(ctx, fresh, options.InsertMany().SetOrdered(false))
	if err != nil && !allDuplicates(err) {
		return mapErr(err)
	}
	return nil
}

// allDuplicates: every write error of a bulk insert is a duplicate _id (a
// concurrent retry of the same upload stored those keys).
func allDuplicates(err error) bool {
	var bw mongo.BulkWriteException
	if !errors.As(err, &bw) || bw.WriteConcernError != nil || len(bw.WriteErrors) == 0 {
		return false
	}
	for _, we := range bw.WriteErrors {
		if we.Code != 11000 {
			return false
		}
	}
	return true
}

// ClaimOneTimeKey pops a one-time key. The pop is a delete by _id whose
// deleted count says who won: every server (MongoDB and the compatible
// ones, which run findAndModify as a read then a write) deletes a
// document once, so of concurrent claimers on any node one gets each key.
func (s *Store) ClaimOneTimeKey(ctx context.Context, userID, deviceID, algorithm string) (*store.OneTimeKey, error) {
	if err := e2eeParts(userID, deviceID, algorithm); err != nil {
		return nil, err
	}
	if err := s.e2eeIndexes(ctx); err != nil {
		return nil, err
	}
	filter := bson.M{"user": userID, "device": deviceID, "algo": algorithm}
	for range casRetries {
		var cands []otkDoc
		if err := s.findAll(ctx, s.otks(), filter, &cands, options.Find().SetLimit(16)); err != nil {
			return nil, err
		}
		if len(cands) == 0 {
			return s.claimFallback(ctx, userID, deviceID, algorithm)
		}
		// Concurrent claimers see the same candidates: each tries them in
		// its own order, so most win at the first delete.
		rand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
		for _, c := range cands {
			octx, cancel := s.op(ctx)
			res, err := s.otks().DeleteOne(octx, bson.M{"_id": c.ID})
			cancel()
			if err != nil {
				return nil, mapErr(err)
			}
			if res.DeletedCount == 1 {
				return &store.OneTimeKey{KeyID: c.KeyID, Key: c.Key}, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: one-time keys of %q under too much contention", store.ErrUnavailable, deviceID)
}

// claimFallback hands out the fallback key; it may go to many claimers.
func (s *Store) claimFallback(ctx context.Context, userID, deviceID, algorithm string) (*store.OneTimeKey, error) {
	id := e2eeID(userID, deviceID, algorithm)
	var d otkDoc
	if err := s.findOne(ctx, s.fallback(), bson.M{"_id": id}, &d); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("mongo: no one-time or fallback key %q: %w", id, store.ErrNotFound)
		}
		return nil, err
	}
	if !d.Used {
		ctx, cancel := s.op(ctx)
		defer cancel()
		if _, err := s.fallback().UpdateOne(ctx, bson.M{"_id": id, "key_id": d.KeyID}, bson.M{"$set": bson.M{"used": true}}); err != nil {
			return nil, mapErr(err)
		}
	}
	return &store.OneTimeKey{KeyID: d.KeyID, Key: d.Key, Fallback: true, Used: true}, nil
}

// CountOneTimeKeys counts a device's unclaimed one-time keys.
func (s *Store) CountOneTimeKeys(ctx context.Context, userID, deviceID string) (map[string]int, error) {
	if err := s.e2eeIndexes(ctx); err != nil {
		return nil, err
	}
	// Only the algorithm is read: a device keeps tens of keys.
	var docs []struct {
		Algo string `bson:"algo"`
	}
	if err := s.findAll(ctx, s.otks(), bson.M{"user": userID, "device": deviceID}, &docs, options.Find().SetProjection(bson.M{"algo": 1})); err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, d := range docs {
		out[d.Algo]++
	}
	return out, nil
}

// PutFallbackKey replaces a device's fallback key of one algorithm.
func (s *Store) PutFallbackKey(ctx context.Context, userID, deviceID string, k *store.OneTimeKey) error {
	if err := e2eeParts(userID, deviceID, k.KeyID); err != nil {
		return err
	}
	if err := s.e2eeIndexes(ctx); err != nil {
		return err
	}
	id := e2eeID(userID, deviceID, k.Algorithm())
	var old otkDoc
	err := s.findOne(ctx, s.fallback(), bson.M{"_id": id}, &old)
	if err == nil && old.KeyID == k.KeyID && bytes.Equal(old.Key, k.Key) {
		return nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	doc := otkDoc{ID: id, User: userID, Device: deviceID, Algo: k.Algorithm(), KeyID: k.KeyID, Key: k.Key}
	_, err = s.fallback().ReplaceOne(ctx, bson.M{"_id": id}, doc, options.Replace().SetUpsert(true))
	return mapErr(err)
}

// UnusedFallbackKeyTypes lists the algorithms of unused fallback keys.
func (s *Store) UnusedFallbackKeyTypes(ctx context.Context, userID, deviceID string) ([]string, error) {
	if err := s.e2eeIndexes(ctx); err != nil {
		return nil, err
	}
	var docs []otkDoc
	if err := s.findAll(ctx, s.fallback(), bson.M{"user": userID, "device": deviceID}, &docs); err != nil {
		return nil, err
	}
	var out []string
	for _, d := range docs {
		if !d.Used {
			out = append(out, d.Algo)
		}
	}
	slices.Sort(out)
	return out, nil
}

type xsignDoc struct {
	ID    string `bson:"_id"`
	User  string `bson:"user"`
	Usage string `bson:"usage"`
	Key   []byte `bson:"key"`
}

// PutCrossSigningKeys replaces the given usages' keys.
func (s *Store) PutCrossSigningKeys(ctx context.Context, userID string, keys map[string][]byte) error {
	if err := e2eeParts(userID); err != nil {
		return err
	}
	if err := s.e2eeIndexes(ctx); err != nil {
		return err
	}
	for usage, k := range keys {
		if err := e2eeParts(usage); err != nil {
			return err
		}
		id := e2eeID(userID, usage)
		octx, cancel := s.op(ctx)
		_, err := s.xsign().ReplaceOne(octx, bson.M{"_id": id}, xsignDoc{ID: id, User: userID, Usage: usage, Key: k}, options.Replace().SetUpsert(true))
		cancel()
		if err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// GetCrossSigningKeys returns a user's cross-signing keys by usage.
func (s *Store) GetCrossSigningKeys(ctx context.Context, userID string) (map[string][]byte, error) {
	if err := s.e2eeIndexes(ctx); err != nil {
		return nil, err
	}
	var docs []xsignDoc
	if err := s.findAll(ctx, s.xsign(), bson.M{"user": userID}, &docs); err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, d := range docs {
		out[d.Usage] = d.Key
	}
	return out, nil
}

type sigDoc struct {
	ID                 string `bson:"_id"`
	store.KeySignature `bson:",inline"`
}

// PutKeySignatures stores signatures, replacing same-key ones.
func (s *Store) PutKeySignatures(ctx context.Context, sigs []*store.KeySignature) error {
	if err := s.e2eeIndexes(ctx); err != nil {
		return err
	}
	for _, g := range sigs {
		if err := e2eeParts(g.TargetUser, g.TargetKey, g.Signer, g.SignerKey); err != nil {
			return err
		}
		id := e2eeID(g.TargetUser, g.TargetKey, g.Signer, g.SignerKey)
		octx, cancel := s.op(ctx)
		_, err := s.keySigs().ReplaceOne(octx, bson.M{"_id": id}, sigDoc{ID: id, KeySignature: *g}, options.Replace().SetUpsert(true))
		cancel()
		if err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// ListKeySignatures returns the signatures on targetUser's keys.
func (s *Store) ListKeySignatures(ctx context.Context, targetUser string) ([]*store.KeySignature, error) {
	if err := s.e2eeIndexes(ctx); err != nil {
		return nil, err
	}
	var docs []sigDoc
	if err := s.findAll(ctx, s.keySigs(), bson.M{"target_user": targetUser}, &docs); err != nil {
		return nil, err
	}
	out := make([]*store.KeySignature, 0, len(docs))
	for _, d := range docs {
		g := d.KeySignature
		out = append(out, &g)
	}
	return out, nil
}

// MarkDeviceListChanged raises a user's device list change time.
func (s *Store) MarkDeviceListChanged(ctx context.Context, userID string, at time.Time) error {
	if err := e2eeParts(userID); err != nil {
		return err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.devList().UpdateOne(ctx, bson.M{"_id": userID}, bson.M{"$max": bson.M{"at_ns": at.UnixNano()}}, options.Update().SetUpsert(true))
	return mapErr(err)
}

// DeviceListChanges returns the change times of users.
func (s *Store) DeviceListChanges(ctx context.Context, users []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if len(users) == 0 {
		return out, nil
	}
	var docs []struct {
		ID string `bson:"_id"`
		At int64  `bson:"at_ns"`
	}
	if err := s.findAll(ctx, s.devList(), bson.M{"_id": bson.M{"$in": users}}, &docs); err != nil {
		return nil, err
	}
	for _, d := range docs {
		out[d.ID] = time.Unix(0, d.At).UTC()
	}
	return out, nil
}

type toDevDoc struct {
	store.ToDeviceMessage `bson:",inline"`
	// Order sorts an inbox by arrival: nanoseconds, raised past the last
	// one this process gave so one node's messages keep their order.
	Order int64 `bson:"order"`
}

var lastOrder atomic.Int64

func nextOrder(t time.Time) int64 {
	for {
		last, n := lastOrder.Load(), t.UnixNano()
		if n <= last {
			n = last + 1
		}
		if lastOrder.CompareAndSwap(last, n) {
			return n
		}
	}
}

// PutToDevice appends to a device's inbox; the message id is the _id, so
// a retried transaction is a duplicate key and stored once on any node.
func (s *Store) PutToDevice(ctx context.Context, m *store.ToDeviceMessage, max int) error {
	if err := e2eeParts(m.ID, m.UserID, m.DeviceID); err != nil {
		return err
	}
	if err := s.e2eeIndexes(ctx); err != nil {
		return err
	}
	var dup struct {
		ID string `bson:"_id"`
	}
	if err := s.findOne(ctx, s.toDev(), bson.M{"_id": m.ID}, &dup); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	// The bound is checked by counting, so concurrent senders can pass it
	// by a few: it stops a flood, not one message.
	n, err := s.toDev().CountDocuments(octx, bson.M{"user_id": m.UserID, "device_id": m.DeviceID})
	if err != nil {
		return mapErr(err)
	}
	if n >= int64(max) {
		return fmt.Errorf("mongo: inbox of %q %q: %w", m.UserID, m.DeviceID, store.ErrInboxFull)
	}
	doc := toDevDoc{ToDeviceMessage: *m, Order: nextOrder(m.CreatedAt)}
	doc.Batch = 0
	doc.CreatedAt = m.CreatedAt.UTC()
	_, err = s.toDev().InsertOne(octx, doc)
	if mongo.IsDuplicateKeyError(err) {
		return nil
	}
	return mapErr(err)
}

// TakeToDevice acknowledges (a delete of the batches the client came
// back from), then hands out and stamps one batch. Messages that arrive
// between the find and the stamp are not stamped, so an acknowledgement
// never deletes a message it did not hand out.
func (s *Store) TakeToDevice(ctx context.Context, userID, deviceID string, acked, batch int64, limit int) ([]*store.ToDeviceMessage, error) {
	if err := s.e2eeIndexes(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	dev := bson.M{"user_id": userID, "device_id": deviceID}
	if acked > 0 {
		octx, cancel := s.op(ctx)
		_, err := s.toDev().DeleteMany(octx, bson.M{"user_id": userID, "device_id": deviceID, "batch": bson.M{"$gt": 0, "$lte": acked}})
		cancel()
		if err != nil {
			return nil, mapErr(err)
		}
	}
	var docs []toDevDoc
	if err := s.findAll(ctx, s.toDev(), dev, &docs, options.Find().SetSort(bson.D{{Key: "order", Value: 1}}).SetLimit(int64(limit))); err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(docs))
	out := make([]*store.ToDeviceMessage, 0, len(docs))
	for _, d := range docs {
		ids = append(ids, d.ID)
		m := d.ToDeviceMessage
		m.Batch = batch
		out = append(out, &m)
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	if _, err := s.toDev().UpdateMany(octx, bson.M{"_id": bson.M{"$in": ids}}, bson.M{"$set": bson.M{"batch": batch}}); err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

// CountToDevice counts a device's inbox.
func (s *Store) CountToDevice(ctx context.Context, userID, deviceID string) (int, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	n, err := s.toDev().CountDocuments(ctx, bson.M{"user_id": userID, "device_id": deviceID})
	return int(n), mapErr(err)
}

// DeleteDeviceE2EE removes a device's keys, signatures and inbox.
func (s *Store) DeleteDeviceE2EE(ctx context.Context, userID, deviceID string) error {
	if err := e2eeParts(userID, deviceID); err != nil {
		return err
	}
	dels := []struct {
		c *mongo.Collection
		f bson.M
	}{
		{s.devKeys(), bson.M{"_id": e2eeID(userID, deviceID)}},
		{s.otks(), bson.M{"user": userID, "device": deviceID}},
		{s.fallback(), bson.M{"user": userID, "device": deviceID}},
		{s.keySigs(), bson.M{"target_user": userID, "target_key": deviceID}},
		{s.toDev(), bson.M{"user_id": userID, "device_id": deviceID}},
	}
	for _, d := range dels {
		octx, cancel := s.op(ctx)
		_, err := d.c.DeleteMany(octx, d.f)
		cancel()
		if err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// SetConversationE2EE sets the conversation's one-way E2EE flag.
func (s *Store) SetConversationE2EE(ctx context.Context, convID string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.convs.UpdateOne(ctx, bson.M{"_id": convID}, bson.M{"$set": bson.M{"e2ee": true}})
	if err != nil {
		return mapErr(err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("mongo: conversation %q: %w", convID, store.ErrNotFound)
	}
	return nil
}
