package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
)

func newKeysCmd(o *options) *cobra.Command {
	keys := noun("keys", "Master key operations")
	keys.AddCommand(&cobra.Command{
		Use:   "rewrap",
		Short: "Re-wrap every data key under the active master key (resumable); exit 1 if any failed",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			r, err := a.Rewrap(cmd.Context())
			if err != nil {
				return err
			}
			if err := o.print(cmd.OutOrStdout(), r, []string{"ACTIVE", "REWRAPPED", "FAILED"}, [][]string{{r.Active, strconv.Itoa(r.Rewrapped), strconv.Itoa(r.Failed)}}); err != nil {
				return err
			}
			if r.Failed > 0 {
				return fmt.Errorf("%d data keys could not be re-wrapped; keep the old master key and run again", r.Failed)
			}
			return nil
		},
	})
	return keys
}

func newPurgeCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "purge",
		Short: "Run one purge pass now (expired messages, idle conversations)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			if err := o.confirm(cmd, "purge expired messages and idle conversations now"); err != nil {
				return err
			}
			r, err := a.Purge(cmd.Context())
			if err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), r, []string{"MESSAGES", "CONVERSATIONS"}, [][]string{{strconv.Itoa(r.Messages), strconv.Itoa(r.Conversations)}})
		},
	}
}
