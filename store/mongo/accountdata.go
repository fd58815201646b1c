package mongo

import (
	"context"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/crypttalk/crypttalk/store"
)

var _ store.AccountData = (*Store)(nil)

// accountData is looked up by _id only, so it needs no index and no entry
// in Open: the collection appears with its first document.
func (s *Store) accountData() *mongo.Collection { return s.users.Database().Collection("account_data") }

// PutAccountData replaces one account data document (an upsert by _id).
func (s *Store) PutAccountData(ctx context.Context, userID, dataType string, content []byte) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	id := accountDataID(userID, dataType)
	_, err := s.accountData().ReplaceOne(ctx, bson.M{"_id": id}, store.AccountDoc{ID: id, Content: content}, options.Replace().SetUpsert(true))
	return mapErr(err)
}

// GetAccountData loads one account data document.
func (s *Store) GetAccountData(ctx context.Context, userID, dataType string) ([]byte, error) {
	var d store.AccountDoc
	if err := s.findOne(ctx, s.accountData(), bson.M{"_id": accountDataID(userID, dataType)}, &d); err != nil {
		return nil, err
	}
	return d.Content, nil
}
