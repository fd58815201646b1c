package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/crypttalk/crypttalk/client"
)

func newUsersCmd(o *options) *cobra.Command {
	users := &cobra.Command{Use: "users", Short: "List, deactivate, reactivate users and revoke their sessions"}
	var q, after string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List accounts (deactivated ones too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			us, err := a.Users(cmd.Context(), q, after, limit)
			if err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), us, []string{"ID", "USER_ID", "EMAIL", "DEACTIVATED", "CREATED"}, userRows(us))
		},
	}
	list.Flags().StringVarP(&q, "query", "q", "", "search text")
	list.Flags().StringVar(&after, "after", "", "page after this username")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many")
	users.AddCommand(list, setActiveCmd(o, "deactivate", false), setActiveCmd(o, "reactivate", true), revokeCmd(o))
	return users
}

func userRows(us []client.AdminUser) [][]string {
	rows := make([][]string, 0, len(us))
	for _, u := range us {
		rows = append(rows, []string{u.ID, u.UserID, u.Email, strconv.FormatBool(u.Deactivated), u.CreatedAt.Format("2006-01-02 15:04")})
	}
	return rows
}

func setActiveCmd(o *options, verb string, active bool) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " USER",
		Short: fmt.Sprintf("%s a user (by _id, user_id or username)", verb),
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			u, err := a.SetActive(cmd.Context(), args[0], active)
			if err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), u, []string{"ID", "USER_ID", "EMAIL", "DEACTIVATED", "CREATED"}, userRows([]client.AdminUser{*u}))
		},
	}
}

func revokeCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke USER",
		Short: "End every session of a user on every node",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			n, err := a.Revoke(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), map[string]int{"revoked": n}, []string{"REVOKED"}, [][]string{{strconv.Itoa(n)}})
		},
	}
}
