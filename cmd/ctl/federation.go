package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/crypttalk/crypttalk/client"
)

func newFederationCmd(o *options) *cobra.Command {
	fed := noun("federation", "Federation: the outbox per destination server, retries")
	peers := &cobra.Command{
		Use:     "peers",
		Short:   "List every destination with queued items or a failure, and every configured peer",
		Example: `  ctl federation peers -o json`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			ds, err := a.FederationDestinations(cmd.Context())
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(ds))
			for _, d := range ds {
				rows = append(rows, []string{d.Destination, strconv.Itoa(d.Depth), when(d.Oldest), strconv.Itoa(d.Attempts),
					when(d.NextAttempt), dash(oneLine(d.LastError)), dash(d.URL)})
			}
			return o.print(cmd.OutOrStdout(), ds, []string{"SERVER", "DEPTH", "OLDEST", "ATTEMPTS", "NEXT_RETRY", "LAST_ERROR", "URL"}, rows)
		},
	}
	queue := &cobra.Command{
		Use:     "queue [DEST]",
		Short:   "Show the outbox of every destination with items, or of DEST (exit 1 if DEST has none and is not configured)",
		Example: `  ctl federation queue b.example.org`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError(fmt.Errorf("give at most one destination server"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			ds, err := a.FederationDestinations(cmd.Context())
			if err != nil {
				return err
			}
			var pick []client.FederationDestination
			for _, d := range ds {
				if len(args) == 1 && d.Destination == args[0] || len(args) == 0 && d.Depth > 0 {
					pick = append(pick, d)
				}
			}
			if len(args) == 1 && len(pick) == 0 {
				return fmt.Errorf("no outbox or configured peer for server %q", args[0])
			}
			rows := make([][]string, 0, len(pick))
			for _, d := range pick {
				rows = append(rows, []string{d.Destination, strconv.Itoa(d.Depth), when(d.Oldest), strconv.Itoa(d.Attempts),
					when(d.NextAttempt), dash(oneLine(d.LastError))})
			}
			return o.print(cmd.OutOrStdout(), pick, []string{"SERVER", "DEPTH", "OLDEST", "ATTEMPTS", "NEXT_RETRY", "LAST_ERROR"}, rows)
		},
	}
	retry := &cobra.Command{
		Use:     "retry DEST",
		Short:   "End DEST's backoff on every node and send its outbox now (exit 1 for an unknown server)",
		Example: `  ctl federation retry b.example.org`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			d, err := a.FederationRetry(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), d, []string{"SERVER", "DEPTH", "RETRY"}, [][]string{{d.Destination, strconv.Itoa(d.Depth), "now"}})
		},
	}
	fed.AddCommand(peers, queue, retry)
	return fed
}

func newRotateSigningCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-signing",
		Short: "Make a new federation signing key active; the old one stays published under old_verify_keys",
		Long: `Make a new federation signing key active and persist it to the key file
(the data dir's, or federation.signing_key_file). The old key is published
under old_verify_keys with its expiry, so peers still verify what it signed.
A signing key mounted from a read-only secret is refused (409): rotate the
secret, then restart the nodes. Other nodes of a cluster load the new key
when they restart.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			r, err := a.RotateSigningKey(cmd.Context())
			if err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), r, []string{"ACTIVE", "OLD"}, [][]string{{r.Active, dash(strings.Join(r.Old, ","))}})
		},
	}
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
