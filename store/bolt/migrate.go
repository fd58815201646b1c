package bolt

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// schemaVersionKey holds, in the meta bucket, how many migrations have run
// (big-endian uint64).
var schemaVersionKey = []byte("schema_version")

// migration changes the schema by one step inside the migrating transaction.
type migration func(tx *bolt.Tx) error

// migrations is the schema history, oldest first. Append only: a data dir
// records how many of these it has seen, so editing or reordering an entry
// that has shipped would corrupt existing stores.
var migrations = []migration{
	// 1: the original buckets.
	func(tx *bolt.Tx) error {
		return createBuckets(tx, bUsers, bUsersByLocal, bUsersByEmail, bSessions, bSessByUser,
			bConvs, bConvByMember, bIdle, bMsgs, bMsgIDs, bTxns, bExpiry,
			bKeys, bKeysByOwner, bFiles, bFilesByConv)
	},
	// 2: index of after_read messages whose timer has not started, so a
	// read receipt touches those messages only instead of scanning the
	// whole conversation. Backfilled from the messages stored so far.
	func(tx *bolt.Tx) error {
		if err := createBuckets(tx, bAfterRead); err != nil {
			return err
		}
		return tx.Bucket(bMsgs).ForEach(func(_, v []byte) error {
			m, err := decodeMessage(v)
			if err != nil {
				return err
			}
			return indexAfterRead(tx, m)
		})
	},
	// 3: purge-time and owner indexes of files (see files_due.go).
	migrateFileIndexes,
}

func createBuckets(tx *bolt.Tx, names ...[]byte) error {
	for _, name := range names {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrate runs, in one transaction, the migrations that the database has
// not seen yet. A database written by a newer binary is refused rather than
// half understood. An up-to-date database is only read, not written.
func migrate(db *bolt.DB, steps []migration) error {
	version, err := schemaVersion(db)
	if err != nil {
		return fmt.Errorf("bolt: read schema version: %w", err)
	}
	if version > uint64(len(steps)) {
		return fmt.Errorf("bolt: the database has schema version %d, newer than this binary knows (%d): run a newer crypttalkd", version, len(steps))
	}
	if version == uint64(len(steps)) {
		return nil
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bMeta)
		if err != nil {
			return err
		}
		for i := version; i < uint64(len(steps)); i++ {
			if err := steps[i](tx); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		return meta.Put(schemaVersionKey, binary.BigEndian.AppendUint64(nil, uint64(len(steps))))
	})
	if err != nil {
		return fmt.Errorf("bolt: migrate from schema version %d: %w", version, err)
	}
	return nil
}

// schemaVersion reads the stored schema version; 0 for a new database.
func schemaVersion(db *bolt.DB) (uint64, error) {
	var version uint64
	err := db.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bMeta); meta != nil {
			if v := meta.Get(schemaVersionKey); len(v) == 8 {
				version = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	return version, err
}
