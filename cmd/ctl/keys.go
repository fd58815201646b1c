package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func newKeysCmd(o *options) *cobra.Command {
	keys := noun("keys", "Master key operations")
	var background, wait bool
	rewrap := &cobra.Command{
		Use:   "rewrap",
		Short: "Re-wrap every data key under the active master key (resumable); exit 1 if any failed",
		Long: `Without --background the request runs the whole re-wrap and answers when it is done.
With --background it queues a rewrap job (ctl jobs): it runs on one node of the
cluster, shows progress, and a node restart only delays it.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if background {
				return o.startJob(cmd, "rewrap", wait)
			}
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
	}
	rewrap.Flags().BoolVar(&background, "background", false, "run as a job (see ctl jobs)")
	rewrap.Flags().BoolVar(&wait, "wait", false, "with --background: follow the job until it ends")
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Unwrap every data key with the node's configured keyring; exit 1 if any does not open",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			r, err := a.VerifyKeys(cmd.Context())
			if err != nil {
				return err
			}
			var versions []string
			for v := range r.Opened {
				versions = append(versions, v)
			}
			for v := range r.Failed {
				if _, ok := r.Opened[v]; !ok {
					versions = append(versions, v)
				}
			}
			slices.Sort(versions)
			rows := make([][]string, 0, len(versions))
			var failed int64
			for _, v := range versions {
				failed += r.Failed[v]
				rows = append(rows, []string{v, strconv.FormatInt(r.Opened[v], 10), strconv.FormatInt(r.Failed[v], 10)})
			}
			if err := o.print(cmd.OutOrStdout(), r, []string{"MASTER_VERSION", "OPENED", "FAILED"}, rows); err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("%d data keys do not open under the configured keyring (first: %s); put the missing master key version back", failed, strings.Join(r.FailedIDs[:min(3, len(r.FailedIDs))], ", "))
			}
			return nil
		},
	}
	var reencrypt, rotateWait bool
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Give every conversation a new data key (under the active master key); old messages keep theirs",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			r, err := a.RotateKeys(cmd.Context())
			if err != nil {
				return err
			}
			if reencrypt {
				return o.startJob(cmd, "reencrypt", rotateWait)
			}
			return o.print(cmd.OutOrStdout(), r, []string{"ROTATED", "ACTIVE"}, [][]string{{strconv.Itoa(r.Rotated), r.Active}})
		},
	}
	rotate.Flags().BoolVar(&reencrypt, "reencrypt", false, "then re-encrypt history under the new keys, as a background job (ctl jobs)")
	rotate.Flags().BoolVar(&rotateWait, "wait", false, "with --reencrypt: follow the job until it ends")
	keys.AddCommand(newRotateSigningCmd(o))
	keys.AddCommand(rewrap, verify, rotate, &cobra.Command{
		Use:   "status",
		Short: "Show the active master key version, the configured ones, data keys per master key version and file keys",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			st, err := a.KeysStatus(cmd.Context())
			if err != nil {
				return err
			}
			// Every version that wraps keys, and every configured one
			// even when it wraps none (it can be retired then).
			versions := slices.Clone(st.Configured)
			for v := range st.DataKeys {
				if !slices.Contains(versions, v) {
					versions = append(versions, v)
				}
			}
			slices.Sort(versions)
			rows := make([][]string, 0, len(versions)+1)
			for _, v := range versions {
				var state []string
				if v == st.Active {
					state = append(state, "active")
				}
				if slices.Contains(st.Configured, v) {
					state = append(state, "configured")
				} else {
					state = append(state, "NOT CONFIGURED")
				}
				rows = append(rows, []string{v, strings.Join(state, ","), strconv.FormatInt(st.DataKeys[v], 10)})
			}
			rows = append(rows, []string{"(file keys)", "", strconv.FormatInt(st.FileKeys, 10)})
			return o.print(cmd.OutOrStdout(), st, []string{"MASTER_VERSION", "STATE", "DATA_KEYS"}, rows)
		},
	})
	return keys
}
