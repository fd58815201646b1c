package main

import (
	"strconv"

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
	return cmd
}
