package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/crypttalk/crypttalk/client"
)

var userHeader = []string{"ID", "USER_ID", "EMAIL", "ADMIN", "DEACTIVATED", "CREATED"}

func newUsersCmd(o *options) *cobra.Command {
	users := noun("users", "List users, (de)activate them, grant or withdraw admin, revoke their sessions")
	var q, after string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List accounts (deactivated ones too), ordered by username",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			us, err := a.Users(cmd.Context(), q, after, limit)
			if err != nil {
				return err
			}
			if us == nil {
				us = []client.AdminUser{}
			}
			return o.print(cmd.OutOrStdout(), us, userHeader, userRows(us))
		},
	}
	list.Flags().StringVarP(&q, "query", "q", "", "search text")
	list.Flags().StringVar(&after, "after", "", "page after this username")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many")
	users.AddCommand(list,
		userCmd(o, "deactivate", "Deactivate a user: revokes every session and closes their sockets on every node", true,
			func(cmd *cobra.Command, a *client.Admin, u string) (*client.AdminUser, error) {
				return a.SetActive(cmd.Context(), u, false)
			}),
		userCmd(o, "reactivate", "Reactivate a deactivated user (they log in again)", false,
			func(cmd *cobra.Command, a *client.Admin, u string) (*client.AdminUser, error) {
				return a.SetActive(cmd.Context(), u, true)
			}),
		userCmd(o, "make-admin", "Grant the admin flag: the user's own access token then opens the admin API", false,
			func(cmd *cobra.Command, a *client.Admin, u string) (*client.AdminUser, error) {
				return a.SetAdmin(cmd.Context(), u, true)
			}),
		userCmd(o, "revoke-admin", "Withdraw the admin flag", true,
			func(cmd *cobra.Command, a *client.Admin, u string) (*client.AdminUser, error) {
				return a.SetAdmin(cmd.Context(), u, false)
			}),
		revokeCmd(o))
	return users
}

func userRows(us []client.AdminUser) [][]string {
	rows := make([][]string, 0, len(us))
	for _, u := range us {
		rows = append(rows, []string{u.ID, u.UserID, u.Email, strconv.FormatBool(u.Admin), strconv.FormatBool(u.Deactivated), u.CreatedAt.Format("2006-01-02 15:04")})
	}
	return rows
}

// userCmd is a VERB USER command answering the changed user; destructive
// ones ask first.
func userCmd(o *options, verb, short string, destructive bool, do func(*cobra.Command, *client.Admin, string) (*client.AdminUser, error)) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " USER",
		Short: short + " (USER: _id, user_id or username)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			if destructive {
				if err := o.confirm(cmd, fmt.Sprintf("%s %s", verb, args[0])); err != nil {
					return err
				}
			}
			u, err := do(cmd, a, args[0])
			if err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), u, userHeader, userRows([]client.AdminUser{*u}))
		},
	}
}

func revokeCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke USER",
		Short: "End every session of a user on every node (USER: _id, user_id or username)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			if err := o.confirm(cmd, "revoke every session of "+args[0]); err != nil {
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
