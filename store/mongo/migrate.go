package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/crypttalk/crypttalk/store"
)

// schemaVersion is the layout this build writes, recorded in the meta
// collection once a database has been brought to it:
//
//	1 (no meta document): compound _ids joined with NUL
//	2: compound _ids built by docKey (NUL-free)
const schemaVersion = 2

// nulKeyed are the collections whose _ids version 1 joined with NUL.
var nulKeyed = []string{"claims", "positions", "txns", "fed_counters", "fed_inbound", "account_data"}

// migrateBatch bounds one read of old-format documents.
const migrateBatch = 500

func (s *Store) meta() *mongo.Collection { return s.db.Collection("meta") }

// migrate brings the database to schemaVersion before the store serves.
// Every step is idempotent, so a node that dies part way simply runs it
// again on its next start, and two nodes starting at once may both run it:
// each old document is copied under its new _id (a duplicate means another
// node, or an earlier attempt, copied it already) and only then deleted,
// so at every moment a record exists under at least one of its ids, and
// no node serves before every old id it saw is gone.
func (s *Store) migrate(ctx context.Context) error {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if v > schemaVersion {
		return fmt.Errorf("database schema version %d is newer than this build's %d: run a newer crypttalkd", v, schemaVersion)
	}
	if v == schemaVersion {
		return nil
	}
	for _, name := range nulKeyed {
		if err := s.rekeyNUL(ctx, s.db.Collection(name)); err != nil {
			return fmt.Errorf("migrate %s to NUL-free ids: %w", name, err)
		}
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	_, err = s.meta().UpdateOne(octx, bson.M{"_id": "schema"}, bson.M{"$max": bson.M{"version": schemaVersion}}, options.Update().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		// A racing node's upsert inserted the document first (servers
		// without atomic upserts report that as a duplicate); it holds
		// the same version.
		err = nil
	}
	return mapErr(err)
}

// SchemaVersion is the layout version recorded in the database (1 when
// none is: a database written before versions were recorded, or empty).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var m struct {
		Version int `bson:"version"`
	}
	err := s.findOne(ctx, s.meta(), bson.M{"_id": "schema"}, &m)
	switch {
	case err == nil:
		return m.Version, nil
	case errors.Is(err, store.ErrNotFound):
		return 1, nil
	default:
		return 0, err
	}
}

// rekeyNUL rewrites every document of c whose _id contains NUL to the
// docKey of the same parts.
func (s *Store) rekeyNUL(ctx context.Context, c *mongo.Collection) error {
	// The pattern is the regex escape, not a NUL byte: a filter holding a
	// NUL is itself refused by FerretDB on PostgreSQL.
	filter := bson.M{"_id": bson.M{"$regex": `\x00`}}
	for {
		var docs []bson.M
		if err := s.findAll(ctx, c, filter, &docs, options.Find().SetLimit(migrateBatch)); err != nil {
			return err
		}
		if len(docs) == 0 {
			return nil
		}
		for _, d := range docs {
			old, ok := d["_id"].(string)
			if !ok {
				continue // the regex matched only strings
			}
			d["_id"] = docKey(strings.Split(old, "\x00")...)
			if err := s.moveDoc(ctx, c, old, d); err != nil {
				return err
			}
		}
	}
}

// moveDoc inserts d (already under its new _id) and deletes old.
func (s *Store) moveDoc(ctx context.Context, c *mongo.Collection, old string, d bson.M) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	if _, err := c.InsertOne(ctx, d); err != nil && !mongo.IsDuplicateKeyError(err) {
		return mapErr(err)
	}
	_, err := c.DeleteOne(ctx, bson.M{"_id": old})
	return mapErr(err)
}
