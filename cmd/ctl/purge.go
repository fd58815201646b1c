package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/crypttalk/crypttalk/client"
)

func newPurgeCmd(o *options) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Run one purge pass now (expired messages, due files, idle conversations); --dry-run only counts",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			var r *client.PurgeReport
			if dryRun {
				r, err = a.PurgeDryRun(cmd.Context())
			} else {
				if err := o.confirm(cmd, "purge expired messages, due files and idle conversations now"); err != nil {
					return err
				}
				r, err = a.Purge(cmd.Context())
			}
			if err != nil {
				return err
			}
			n := func(v int) string {
				if r.Capped {
					return ">=" + strconv.Itoa(v)
				}
				return strconv.Itoa(v)
			}
			return o.print(cmd.OutOrStdout(), r, []string{"MESSAGES", "FILES", "CONVERSATIONS", "DRY_RUN"},
				[][]string{{n(r.Messages), n(r.Files), n(r.Conversations), strconv.FormatBool(r.DryRun)}})
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "count what would go and change nothing")
	cmd.AddCommand(
		scopedPurgeCmd(o, "conversation A B", "Destroy the conversation between users A and B (messages, files, keys); both see conversation-destroyed", 2,
			func(cmd *cobra.Command, a *client.Admin, args []string, dry bool) (*client.PurgeScope, error) {
				return a.PurgeConversation(cmd.Context(), args[0], args[1], dry)
			}),
		scopedPurgeCmd(o, "older-than DURATION", "Delete every message older than DURATION (90d, 12h, 1s), with its file; members see the deletion", 1,
			func(cmd *cobra.Command, a *client.Admin, args []string, dry bool) (*client.PurgeScope, error) {
				d, err := parseDays(args[0])
				if err != nil || d < time.Second {
					return nil, usageError(fmt.Errorf("DURATION %q: want a positive age of at least 1s, like 90d or 12h", args[0]))
				}
				return a.PurgeOlderThan(cmd.Context(), d, dry)
			}),
		scopedPurgeCmd(o, "user USER", "Destroy every conversation of USER (the account stays; see users delete --purge)", 1,
			func(cmd *cobra.Command, a *client.Admin, args []string, dry bool) (*client.PurgeScope, error) {
				return a.PurgeUser(cmd.Context(), args[0], dry)
			}),
		purgeUploadsCmd(o))
	return cmd
}

func purgeUploadsCmd(o *options) *cobra.Command {
	var dryRun bool
	var olderThan string
	cmd := &cobra.Command{
		Use:   "uploads",
		Short: "Remove uploads no message announced and blobs no file record names, older than --older-than (10m); --dry-run only counts",
		Long: `Unannounced uploads (sent without a recipient and never followed by send-file)
go by themselves after limits.pending_upload_ttl; this removes them now.
Orphaned blobs (a crash between a blob and its record, a deletion cut short)
are removed by nothing else. --older-than keeps uploads in flight safe: an
upload writes its blob, then its record, then the client announces it.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			age, err := parseDays(olderThan)
			if err != nil || age < time.Second {
				return usageError(fmt.Errorf("--older-than %q: want an age of at least 1s, like 10m, 2h or 7d", olderThan))
			}
			a, err := o.admin()
			if err != nil {
				return err
			}
			if !dryRun {
				if err := o.confirm(cmd, "remove unannounced uploads and orphaned blobs older than "+olderThan); err != nil {
					return err
				}
			}
			r, err := a.PurgeUploads(cmd.Context(), age, dryRun)
			if err != nil {
				return err
			}
			orphans, orphanBytes := strconv.Itoa(r.Orphaned), strconv.FormatInt(r.OrphanedBytes, 10)
			if !r.OrphansChecked {
				orphans, orphanBytes = "unknown", "-"
			}
			unannounced := strconv.Itoa(r.Unannounced)
			if r.Capped {
				unannounced = ">=" + unannounced
			}
			return o.print(cmd.OutOrStdout(), r, []string{"UNANNOUNCED", "BYTES", "ORPHANED_BLOBS", "BYTES", "DRY_RUN"},
				[][]string{{unannounced, strconv.FormatInt(r.UnannouncedBytes, 10), orphans, orphanBytes, strconv.FormatBool(r.DryRun)}})
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "count what would go and change nothing")
	cmd.Flags().StringVar(&olderThan, "older-than", "10m", "only what was written longer ago than this (10m, 2h, 7d)")
	return cmd
}

func scopedPurgeCmd(o *options, use, short string, nargs int, do func(*cobra.Command, *client.Admin, []string, bool) (*client.PurgeScope, error)) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   use,
		Short: short + "; --dry-run only counts",
		Args:  exactArgs(nargs),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			if !dryRun {
				if err := o.confirm(cmd, "purge "+cmd.Name()+" "+strings.Join(args, " ")); err != nil {
					return err
				}
			}
			r, err := do(cmd, a, args, dryRun)
			if err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), r, []string{"CONVERSATIONS", "MESSAGES", "FILES", "DRY_RUN"},
				[][]string{{strconv.Itoa(r.Conversations), strconv.Itoa(r.Messages), strconv.Itoa(r.Files), strconv.FormatBool(r.DryRun)}})
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "count what would go and change nothing")
	return cmd
}
