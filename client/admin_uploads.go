package client

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// UploadsReport is what ctl purge uploads removed, or would.
type UploadsReport struct {
	Unannounced      int   `json:"unannounced"`
	UnannouncedBytes int64 `json:"unannounced_bytes"`
	Orphaned         int   `json:"orphaned"`
	OrphanedBytes    int64 `json:"orphaned_bytes"`
	OrphansChecked   bool  `json:"orphans_checked"`
	DryRun           bool  `json:"dry_run"`
	Capped           bool  `json:"capped"`
}

// PurgeUploads removes uploads no message announced and blobs no file
// record names, older than age; with dry it only counts.
func (a *Admin) PurgeUploads(ctx context.Context, age time.Duration, dry bool) (*UploadsReport, error) {
	v := url.Values{"seconds": {strconv.FormatInt(int64(age/time.Second), 10)}, "dry_run": {strconv.FormatBool(dry)}}
	out := struct {
		Report *UploadsReport `json:"report"`
	}{Report: &UploadsReport{}}
	return out.Report, a.c.Do(ctx, "POST", "/_admin/v1/purge/uploads?"+v.Encode(), nil, &out)
}
