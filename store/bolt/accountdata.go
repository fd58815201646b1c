package bolt

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// bAccountData is created by the first PutAccountData, like bKeyChecks.
var bAccountData = []byte("account_data") // user id NUL type -> AccountDoc

var _ store.AccountData = (*Store)(nil)

// PutAccountData replaces one account data document.
func (s *Store) PutAccountData(ctx context.Context, userID, dataType string, content []byte) error {
	if err := checkIDs(userID, dataType); err != nil {
		return err
	}
	key := []byte(store.AccountDocID(userID, dataType))
	return s.update(ctx, func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bAccountData); err != nil {
			return err
		}
		return putJSON(tx, bAccountData, key, store.AccountDoc{ID: string(key), Content: content})
	})
}

// GetAccountData loads one account data document.
func (s *Store) GetAccountData(ctx context.Context, userID, dataType string) ([]byte, error) {
	if err := checkIDs(userID, dataType); err != nil {
		return nil, err
	}
	key := []byte(store.AccountDocID(userID, dataType))
	var d store.AccountDoc
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bAccountData) == nil {
			return notFound("account data", key)
		}
		return getJSON(tx, bAccountData, key, &d)
	})
	if err != nil {
		return nil, err
	}
	return d.Content, nil
}
