// Package mongo is the MongoDB store: the same store.Store contract as the
// embedded store, for clusters of identical nodes. It needs no
// transactions (seqs come from an atomic $inc, uniqueness from unique
// indexes) and no TTL indexes (the purge worker deletes), so it also runs
// on MongoDB-compatible servers such as FerretDB.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/event"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/gridfs"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/x/mongo/driver/topology"

	"github.com/crypttalk/crypttalk/store"
)

// Options tune the store.
type Options struct {
	// OpTimeout bounds every call, so a request fails with ErrUnavailable
	// instead of hanging while the database is away. Default 5s.
	OpTimeout time.Duration
	// Monitor, if set, sees every command (tests and benchmarks count
	// round trips with it).
	Monitor *event.CommandMonitor
}

// Store is the MongoDB store.
type Store struct {
	client                                                             *mongo.Client
	db                                                                 *mongo.Database
	timeout                                                            time.Duration
	users, sessions, convs, msgs, txns, keys, files, claims, positions *mongo.Collection
	keyChecks, audit, jobs                                             *mongo.Collection
	blobs                                                              *blobStore
	// legacyTxns: the txns collection held claims written by versions
	// before the one-insert PutMessage when the store opened (see
	// GetMessageByTxn).
	legacyTxns bool
}

var _ store.Store = (*Store)(nil)

// Open connects, creates collections and indexes (idempotently) and
// returns the store. The database is the URL's path (default crypttalk).
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = 5 * time.Second
	}
	dbName := "crypttalk"
	if u, err := url.Parse(rawURL); err == nil && strings.Trim(u.Path, "/") != "" {
		dbName = strings.Trim(u.Path, "/")
	}
	co := options.Client().ApplyURI(rawURL).
		SetServerSelectionTimeout(2 * time.Second).
		SetConnectTimeout(2 * time.Second).
		SetTimeout(opts.OpTimeout)
	if opts.Monitor != nil {
		co.SetMonitor(opts.Monitor)
	}
	client, err := mongo.Connect(ctx, co)
	if err != nil {
		return nil, fmt.Errorf("mongo: %w", err)
	}
	db := client.Database(dbName)
	s := &Store{
		client: client, db: db, timeout: opts.OpTimeout,
		users: db.Collection("users"), sessions: db.Collection("sessions"), convs: db.Collection("conversations"),
		msgs: db.Collection("messages"), txns: db.Collection("txns"), keys: db.Collection("keys"), files: db.Collection("files"), claims: db.Collection("claims"), positions: db.Collection("positions"),
		keyChecks: db.Collection("key_checks"), audit: db.Collection("audit"), jobs: db.Collection("jobs"),
	}
	s.blobs = &blobStore{db: db}
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = s.ensureIndexes(ictx)
	for tries := 0; err != nil && errors.Is(mapErr(err), store.ErrUnavailable) && tries < 5 && ictx.Err() == nil; tries++ {
		time.Sleep(200 * time.Millisecond) // the server may still be starting
		err = s.ensureIndexes(ictx)
	}
	if err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("mongo: create indexes: %w", mapErr(err))
	}
	if err := s.migrate(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("mongo: %w", err)
	}
	if s.legacyTxns, err = s.hasLegacyTxns(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("mongo: %w", err)
	}
	return s, nil
}

// ensureCollections creates the collections that have no index of their
// own (ensureIndexes creates the others). FerretDB on PostgreSQL creates a
// collection on its first insert, and two first inserts at once can fail
// with "relation already exists" (SQLSTATE 42P07); created here, once, a
// collection never appears under load.
func (s *Store) ensureCollections(ctx context.Context) error {
	have, err := s.db.ListCollectionNames(ctx, bson.M{})
	if err != nil {
		return err
	}
	for _, name := range []string{s.txns.Name(), s.claims.Name(), s.keyChecks.Name(), s.jobs.Name(), s.meta().Name(),
		s.accountData().Name(), s.fedCounters().Name(), s.fedFail().Name(), s.fedInbound().Name(), "blobs.files", "blobs.chunks"} {
		if slices.Contains(have, name) {
			continue
		}
		if err := s.db.CreateCollection(ctx, name); err != nil && !s.collectionExists(ctx, name) {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// collectionExists tells a create that lost to a racing node's (MongoDB
// says NamespaceExists, FerretDB may report its SQL error) from a failure.
func (s *Store) collectionExists(ctx context.Context, name string) bool {
	have, err := s.db.ListCollectionNames(ctx, bson.M{"name": name})
	return err == nil && len(have) == 1
}

func (s *Store) ensureIndexes(ctx context.Context) error {
	if err := s.ensureCollections(ctx); err != nil {
		return err
	}
	// Explicit names: some compatible servers generate clashing ones.
	unique := func(name string) *options.IndexOptions { return options.Index().SetUnique(true).SetName(name) }
	named := func(name string) *options.IndexOptions { return options.Index().SetName(name) }
	idx := map[*mongo.Collection][]mongo.IndexModel{
		s.users: {
			{Keys: bson.D{{Key: "localpart", Value: 1}}, Options: unique("users_localpart")},
			{Keys: bson.D{{Key: "email", Value: 1}}, Options: unique("users_email")},
		},
		s.sessions: {{Keys: bson.D{{Key: "user_id", Value: 1}}, Options: named("sessions_user")}},
		s.convs: {
			{Keys: bson.D{{Key: "members", Value: 1}}, Options: named("convs_members")},
			{Keys: bson.D{{Key: "idle_ms", Value: 1}}, Options: named("convs_idle")},
		},
		s.msgs: {
			{Keys: bson.D{{Key: "conversation_id", Value: 1}, {Key: "seq", Value: 1}}, Options: unique("msgs_conv_seq")},
			{Keys: bson.D{{Key: "expires_ms", Value: 1}}, Options: named("msgs_expiry")},
		},
		s.keys:      {{Keys: bson.D{{Key: "owner", Value: 1}}, Options: named("keys_owner")}},
		s.audit:     {{Keys: bson.D{{Key: "actor", Value: 1}, {Key: "_id", Value: -1}}, Options: named("audit_actor")}},
		s.positions: {{Keys: bson.D{{Key: "conv", Value: 1}}, Options: named("positions_conv")}},
		s.files: {
			{Keys: bson.D{{Key: "conversation_id", Value: 1}}, Options: named("files_conv")},
			{Keys: bson.D{{Key: "expires_ms", Value: 1}}, Options: named("files_expiry")},
			{Keys: bson.D{{Key: "pending_ms", Value: 1}}, Options: named("files_pending")},
			{Keys: bson.D{{Key: "owner", Value: 1}}, Options: named("files_owner")},
		},
		s.fedOutbox(): {{Keys: bson.D{{Key: "dest", Value: 1}, {Key: "order", Value: 1}}, Options: named("fed_outbox_dest_order")}},
	}
	for coll, models := range idx {
		missing, err := missingIndexes(ctx, coll, models)
		if err != nil {
			return fmt.Errorf("%s: %w", coll.Name(), err)
		}
		if len(missing) == 0 {
			continue
		}
		if _, err := coll.Indexes().CreateMany(ctx, missing); err != nil {
			return fmt.Errorf("%s: %w", coll.Name(), err)
		}
	}
	return nil
}

// missingIndexes filters out indexes that exist by name: creating an
// existing index again is a no-op on MongoDB but an error on some
// compatible servers.
func missingIndexes(ctx context.Context, coll *mongo.Collection, models []mongo.IndexModel) ([]mongo.IndexModel, error) {
	cur, err := coll.Indexes().List(ctx)
	if err != nil {
		return nil, err
	}
	var have []struct {
		Name string `bson:"name"`
	}
	if err := cur.All(ctx, &have); err != nil {
		return nil, err
	}
	var out []mongo.IndexModel
	for _, m := range models {
		found := false
		for _, h := range have {
			if m.Options != nil && m.Options.Name != nil && h.Name == *m.Options.Name {
				found = true
			}
		}
		if !found {
			out = append(out, m)
		}
	}
	return out, nil
}

// op bounds one call by the store's timeout.
func (s *Store) op(ctx context.Context) (context.Context, context.CancelFunc) {
	if err := ctx.Err(); err != nil {
		c, cancel := context.WithCancel(ctx)
		return c, cancel
	}
	return context.WithTimeout(ctx, s.timeout)
}

// mapErr turns driver errors into the store's sentinels, keeping the cause.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mongo.ErrNoDocuments), errors.Is(err, gridfs.ErrFileNotFound):
		return fmt.Errorf("%w: %v", store.ErrNotFound, err)
	case mongo.IsDuplicateKeyError(err):
		return fmt.Errorf("%w: %v", store.ErrConflict, err)
	case unreachable(err):
		return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
	default:
		return err
	}
}

// unreachable reports errors that mean the database was not reached or
// did not answer in time, as opposed to an answer refusing the operation.
// It goes by the driver's error types and labels, never by message text:
// "connection" in a decode error about a field is not an outage.
func unreachable(err error) bool {
	var (
		selection topology.ServerSelectionError
		conn      topology.ConnectionError
		netErr    net.Error
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		mongo.IsTimeout(err), mongo.IsNetworkError(err),
		errors.Is(err, mongo.ErrClientDisconnected), errors.Is(err, topology.ErrTopologyClosed),
		errors.As(err, &selection), errors.As(err, &conn), errors.As(err, &netErr):
		return true
	}
	return false
}

// Ping checks the primary is reachable.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	return mapErr(s.client.Ping(ctx, nil))
}

// Close disconnects.
func (s *Store) Close() error { return s.client.Disconnect(context.Background()) }

// Blobs returns the GridFS blob store.
func (s *Store) Blobs() store.BlobStore { return s.blobs }

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func (s *Store) findOne(ctx context.Context, c *mongo.Collection, filter, out any, opts ...*options.FindOneOptions) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	return mapErr(c.FindOne(ctx, filter, opts...).Decode(out))
}

func (s *Store) findAll(ctx context.Context, c *mongo.Collection, filter any, out any, opts ...*options.FindOptions) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	cur, err := c.Find(ctx, filter, opts...)
	if err != nil {
		return mapErr(err)
	}
	return mapErr(cur.All(ctx, out))
}
