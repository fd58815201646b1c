package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func newNoticeCmd(o *options) *cobra.Command {
	notice := noun("notice", "Server notices: messages from the server's notices account")
	var all bool
	send := &cobra.Command{
		Use:   "send (USER... | --all) TEXT",
		Short: "Send TEXT from @notices to each USER, or to every active user with --all (exit 1 if any was not sent)",
		Example: `  ctl notice send @alice:example.org "Your account was restored."
  ctl notice send --all "Maintenance tonight 22:00-22:30 UTC." --yes`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case all && len(args) != 1:
				return usageError(fmt.Errorf("with --all give only TEXT"))
			case !all && len(args) < 2:
				return usageError(fmt.Errorf("give USER... TEXT, or --all TEXT"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			text := args[len(args)-1]
			users := args[:len(args)-1]
			if all {
				if err := o.confirm(cmd, "send a notice to every user"); err != nil {
					return err
				}
			}
			r, err := a.SendNotice(cmd.Context(), users, all, text)
			if err != nil {
				return err
			}
			if err := o.print(cmd.OutOrStdout(), r, []string{"SENT", "SKIPPED", "FAILED"},
				[][]string{{strconv.Itoa(r.Sent), strconv.Itoa(r.Skipped), dash(strings.Join(r.Failed, ","))}}); err != nil {
				return err
			}
			if len(r.Failed) > 0 {
				return fmt.Errorf("%d notices were not sent (see the node's log)", len(r.Failed))
			}
			return nil
		},
	}
	send.Flags().BoolVar(&all, "all", false, "every active local user")
	notice.AddCommand(send)
	return notice
}
