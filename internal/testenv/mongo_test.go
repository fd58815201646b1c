package testenv

import (
	"context"
	"net"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

func TestMongoStopStart(t *testing.T) {
	m := StartMongo(t)
	if !m.CanStop() {
		t.Skip("real MongoDB: cannot stop it")
	}
	m.Stop()
	if c, err := net.Dial("tcp", m.addr); err == nil {
		c.Close()
		t.Fatal("still listening after Stop")
	}
	m.Start()
	c, err := net.Dial("tcp", m.addr)
	if err != nil {
		t.Fatal("not listening after Start:", err)
	}
	c.Close()
}

func TestMongoProcessKillPauseRestart(t *testing.T) {
	t.Parallel()
	m := StartMongoProcess(t)
	if !m.CanPause() {
		t.Skip("real MongoDB: cannot kill or pause it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	coll := func() *mongo.Collection {
		c, err := mongo.Connect(ctx, options.Client().ApplyURI(m.URL()).SetServerSelectionTimeout(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
		return c.Database("ct_process").Collection("docs")
	}
	if _, err := coll().InsertOne(ctx, bson.M{"_id": "kept"}); err != nil {
		t.Fatal(err)
	}

	m.Kill()
	if c, err := net.Dial("tcp", m.addr); err == nil {
		c.Close()
		t.Fatal("still listening after Kill")
	}
	m.Kill() // idempotent
	m.Start()
	if n, err := coll().CountDocuments(ctx, bson.M{"_id": "kept"}); err != nil || n != 1 {
		t.Fatalf("after kill -9 and restart on the same dir: count %d, %v; want 1", n, err)
	}

	c := coll()
	m.Pause()
	short, stop := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err := c.InsertOne(short, bson.M{"_id": "while paused"})
	stop()
	if err == nil {
		t.Fatal("a paused server answered")
	}
	m.Resume()
	if _, err := c.InsertOne(ctx, bson.M{"_id": "after resume"}); err != nil {
		t.Fatalf("after Resume: %v", err)
	}

	m.Stop()
	m.Start()
	if n, err := coll().CountDocuments(ctx, bson.M{}); err != nil || n < 2 {
		t.Fatalf("after stop and start: count %d, %v; want at least 2", n, err)
	}
}
