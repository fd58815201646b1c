package mongo

import (
	"context"
	"regexp"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/crypttalk/crypttalk/store"
)

// PutUser creates a user; unique indexes refuse a taken localpart or email.
func (s *Store) PutUser(ctx context.Context, u *store.User) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.users.InsertOne(ctx, u)
	return mapErr(err)
}

// GetUser finds a user by internal id.
func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	var u store.User
	if err := s.findOne(ctx, s.users, bson.M{"_id": id}, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// GetUserByLocalpart finds a user by lower-cased username. The value is
// compared as a string, never interpreted as an operator.
func (s *Store) GetUserByLocalpart(ctx context.Context, localpart string) (*store.User, error) {
	var u store.User
	if err := s.findOne(ctx, s.users, bson.M{"localpart": bson.M{"$eq": localpart}}, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// UpdateUser replaces the mutable fields.
func (s *Store) UpdateUser(ctx context.Context, u *store.User) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.users.UpdateOne(ctx, bson.M{"_id": u.ID}, bson.M{"$set": bson.M{
		"password_hash": u.PasswordHash, "avatar_image": u.AvatarImage, "avatar_set": u.AvatarSet,
		"admin": u.Admin, "deactivated": u.Deactivated,
	}})
	if err != nil {
		return mapErr(err)
	}
	if res.MatchedCount == 0 {
		return store.ErrNotFound
	}
	return nil
}

// ListUsers pages by localpart with an optional literal substring search.
func (s *Store) ListUsers(ctx context.Context, q store.UserQuery) ([]*store.User, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	filter := bson.M{}
	if q.After != "" {
		filter["localpart"] = bson.M{"$gt": q.After}
	}
	if q.Prefix != "" {
		re := regexp.QuoteMeta(q.Prefix)
		filter["$or"] = bson.A{
			bson.M{"localpart": bson.M{"$regex": re, "$options": "i"}},
			bson.M{"username": bson.M{"$regex": re, "$options": "i"}},
		}
	}
	var out []*store.User
	opts := options.Find().SetSort(bson.D{{Key: "localpart", Value: 1}}).SetLimit(int64(q.Limit))
	return out, s.findAll(ctx, s.users, filter, &out, opts)
}

// PutSession stores a token hash.
func (s *Store) PutSession(ctx context.Context, sess *store.Session) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.sessions.InsertOne(ctx, sess)
	return mapErr(err)
}

// GetSession finds a session by token hash.
func (s *Store) GetSession(ctx context.Context, tokenHash string) (*store.Session, error) {
	var sess store.Session
	if err := s.findOne(ctx, s.sessions, bson.M{"_id": tokenHash}, &sess); err != nil {
		return nil, err
	}
	return store.FillDevice(&sess), nil
}

// DeleteSession revokes one token.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.sessions.DeleteOne(ctx, bson.M{"_id": tokenHash})
	if err != nil {
		return mapErr(err)
	}
	if res.DeletedCount == 0 {
		return store.ErrNotFound
	}
	return nil
}

// DeleteUserSessions revokes every token of a user.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.sessions.DeleteMany(ctx, bson.M{"user_id": userID})
	if err != nil {
		return 0, mapErr(err)
	}
	return int(res.DeletedCount), nil
}
