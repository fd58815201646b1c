package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// TestMongoOnPostgreSQL: FerretDB on a throwaway PostgreSQL cluster
// stores and reads documents, in the test process and as its own process
// (whose kill -9 leaves the data in PostgreSQL); the cluster's files go
// when the test ends.
func TestMongoOnPostgreSQL(t *testing.T) {
	t.Parallel()
	if os.Getenv("CRYPTTALK_TEST_MONGO_URL") != "" {
		t.Skip("CRYPTTALK_TEST_MONGO_URL names a real MongoDB")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var dirs []string
	t.Run("servers", func(t *testing.T) {
		for _, m := range []*MongoServer{StartMongoOn(t, BackendPostgreSQL), startMongoProcessOn(t, BackendPostgreSQL)} {
			if m.Backend() != BackendPostgreSQL || m.pg == nil {
				t.Fatalf("backend %q", m.Backend())
			}
			dirs = append(dirs, m.pg.dir)
			c, err := mongo.Connect(ctx, options.Client().ApplyURI(m.URL()).SetServerSelectionTimeout(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Disconnect(context.Background())
			coll := c.Database("ct_pg").Collection("docs")
			if _, err := coll.InsertOne(ctx, bson.M{"_id": "a|b", "v": 1}); err != nil {
				t.Fatal(err)
			}
			// What made the NUL-joined keys of store/mongo fail here.
			if _, err := coll.InsertOne(ctx, bson.M{"_id": "a\x00b"}); err == nil {
				t.Fatal("a NUL in a key was stored: not PostgreSQL underneath?")
			}
			if m.process {
				m.Kill()
				m.Start()
			}
			if n, err := coll.CountDocuments(ctx, bson.M{"_id": "a|b"}); err != nil || n != 1 {
				t.Fatalf("count %d, %v", n, err)
			}
		}
	})
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Fatalf("cluster dir %s left behind (%v)", d, err)
		}
	}
}
