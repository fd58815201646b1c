package chat

import (
	"context"
	"errors"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

// UploadsReport counts what a purge of uploads removed, or with DryRun
// would.
type UploadsReport struct {
	// Unannounced are uploads that no message announced (no `to`, no
	// send-file), older than the cutoff.
	Unannounced      int   `json:"unannounced"`
	UnannouncedBytes int64 `json:"unannounced_bytes"`
	// Orphaned are blobs with no file record (a crash between the blob
	// and its record, a deletion cut short), older than the cutoff.
	Orphaned      int   `json:"orphaned"`
	OrphanedBytes int64 `json:"orphaned_bytes"`
	// OrphansChecked is false when the store cannot list its blobs.
	OrphansChecked bool `json:"orphans_checked"`
	DryRun         bool `json:"dry_run"`
	Capped         bool `json:"capped"`
}

// PurgeUploads removes, now, the uploads that no message announced and
// the blobs that no file record names, when older than olderThan: what
// the purge worker would remove from unannounced uploads only after
// limits.pending_upload_ttl, and what it never sees at all. The age keeps
// an upload in flight (its blob written, its record or its send-file not
// yet) out of reach. With dry it only counts.
func (s *Service) PurgeUploads(ctx context.Context, olderThan time.Duration, dry bool) (*UploadsReport, error) {
	if olderThan < time.Second {
		return nil, Invalid("older_than must be at least 1s")
	}
	rep := &UploadsReport{DryRun: dry}
	cutoff := s.now().Add(-olderThan)
	// An upload's PendingUntil is its creation plus the TTL; every file
	// due by cutoff+TTL holds all of them, with voice messages near their
	// end that the filter below leaves alone.
	files, err := s.store.ListDueFiles(ctx, cutoff.Add(s.opts.PendingUploadTTL), dryRunCap)
	if err != nil {
		return nil, storeError(err)
	}
	rep.Capped = len(files) == dryRunCap
	for _, f := range files {
		if f.MessageID != "" || f.PendingUntil.IsZero() || !f.CreatedAt.Before(cutoff) {
			continue
		}
		if !dry {
			// A send-file may have announced it since it was listed.
			cur, err := s.store.GetFile(ctx, f.ID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return rep, storeError(err)
			}
			if cur.MessageID != "" {
				continue
			}
			s.discardFile(ctx, f.ID)
		}
		rep.Unannounced++
		rep.UnannouncedBytes += f.Size
	}
	lister, ok := s.store.Blobs().(store.BlobLister)
	if !ok {
		return rep, nil
	}
	rep.OrphansChecked = true
	after := ""
	for {
		blobs, err := lister.ListBlobs(ctx, after, 1000)
		if err != nil {
			return rep, storeError(err)
		}
		for _, b := range blobs {
			after = b.ID
			if !b.WrittenAt.Before(cutoff) {
				continue
			}
			_, err := s.store.GetFile(ctx, b.ID)
			if err == nil {
				continue
			}
			if !errors.Is(err, store.ErrNotFound) {
				return rep, storeError(err)
			}
			if !dry {
				s.discardFile(ctx, b.ID) // the blob and any key left with it
			}
			rep.Orphaned++
			rep.OrphanedBytes += b.Size
		}
		if len(blobs) < 1000 {
			return rep, nil
		}
	}
}
