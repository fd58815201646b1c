package mongo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/x/mongo/driver/topology"

	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/store"
)

// TestMapErrByType: outages are recognised by the driver's error types and
// labels; an error that only mentions a connection is not one.
func TestMapErrByType(t *testing.T) {
	t.Parallel()
	// A real decode error about a field named "connection": the database
	// answered, the document is wrong. Text matching took it for an outage.
	var decoded struct {
		Connection int `bson:"connection"`
	}
	raw, _ := bson.Marshal(bson.M{"connection": "pool-1"})
	decodeErr := bson.Unmarshal(raw, &decoded)
	if decodeErr == nil {
		t.Fatal("decode should fail")
	}
	dupKey := mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: 11000, Message: "E11000 duplicate key"}}}
	for _, tc := range []struct {
		name string
		err  error
		want error // nil: passed through unclassified
	}{
		{"server selection", topology.ServerSelectionError{Wrapped: errors.New("no reachable servers")}, store.ErrUnavailable},
		{"server selection, wrapped", fmt.Errorf("find: %w", topology.ServerSelectionError{}), store.ErrUnavailable},
		{"connection error", topology.ConnectionError{ConnectionID: "c1", Wrapped: io.EOF}, store.ErrUnavailable},
		{"network label", mongo.CommandError{Code: 91, Name: "ShutdownInProgress", Labels: []string{"NetworkError"}}, store.ErrUnavailable},
		{"timeout label", mongo.CommandError{Labels: []string{"NetworkTimeoutError"}}, store.ErrUnavailable},
		{"topology closed", fmt.Errorf("gridfs: %w", topology.ErrTopologyClosed), store.ErrUnavailable},
		{"client disconnected", mongo.ErrClientDisconnected, store.ErrUnavailable},
		{"dial refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, store.ErrUnavailable},
		{"deadline", context.DeadlineExceeded, store.ErrUnavailable},
		{"no documents", mongo.ErrNoDocuments, store.ErrNotFound},
		{"duplicate key", dupKey, store.ErrConflict},
		{"decode error naming a connection field", decodeErr, nil},
		{"server refused, mentions connection", mongo.CommandError{Code: 13, Name: "Unauthorized", Message: "not authorized on this connection"}, nil},
		{"plain error mentioning server selection", errors.New("bad server selection option in config"), nil},
	} {
		got := mapErr(tc.err)
		for _, sentinel := range []error{store.ErrUnavailable, store.ErrNotFound, store.ErrConflict} {
			if errors.Is(got, sentinel) != (sentinel == tc.want) {
				t.Errorf("%s: mapErr = %v; want sentinel %v", tc.name, got, tc.want)
			}
		}
	}
}

// TestUnreachableServer: what the driver really returns when nothing
// listens is classified as unavailable.
func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	addr := testenv.FreePort(t) // nothing listens there any more
	client, err := mongo.Connect(context.Background(), options.Client().ApplyURI("mongodb://"+addr).
		SetServerSelectionTimeout(300*time.Millisecond).SetConnectTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	err = client.Ping(context.Background(), nil)
	if got := mapErr(err); !errors.Is(got, store.ErrUnavailable) {
		t.Fatalf("ping of a dead server: %v, want ErrUnavailable", got)
	}
	_ = client.Disconnect(context.Background())
	_, err = client.Database("x").Collection("y").InsertOne(context.Background(), bson.M{"a": 1})
	if got := mapErr(err); !errors.Is(got, store.ErrUnavailable) {
		t.Fatalf("insert on a disconnected client: %v, want ErrUnavailable", got)
	}
}
