package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crypttalk/crypttalk/client"
)

var userHeader = []string{"ID", "USER_ID", "EMAIL", "ADMIN", "DEACTIVATED", "CREATED"}

func newUsersCmd(o *options) *cobra.Command {
	users := noun("users", "List users, (de)activate them, grant or withdraw admin, revoke their sessions")
	var q client.UserQuery
	var deactivated, admin bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List accounts (deactivated ones too), ordered by username; the next page's --after goes to stderr",
		Example: `  ctl users list -q ali
  ctl users list --deactivated -o json
  ctl users list --admin --limit 10 --after bob`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("deactivated") {
				q.Deactivated = &deactivated
			}
			if cmd.Flags().Changed("admin") {
				q.Admin = &admin
			}
			us, next, err := a.FindUsers(cmd.Context(), q)
			if err != nil {
				return err
			}
			if next != "" && len(us) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "more: --after %s\n", next)
			}
			return o.print(cmd.OutOrStdout(), us, userHeader, userRows(us))
		},
	}
	list.Flags().StringVarP(&q.Query, "query", "q", "", "search text (username)")
	list.Flags().StringVar(&q.After, "after", "", "page after this username")
	list.Flags().IntVar(&q.Limit, "limit", 100, "at most this many (1..1000)")
	list.Flags().BoolVar(&deactivated, "deactivated", false, "only deactivated accounts (--deactivated=false: only active ones)")
	list.Flags().BoolVar(&admin, "admin", false, "only admins (--admin=false: only non-admins)")
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
		revokeCmd(o), showCmd(o), createCmd(o), resetPasswordCmd(o), sessionsCmd(o), deleteCmd(o))
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
		Use:     "revoke-sessions USER",
		Aliases: []string{"revoke"},
		Short:   "End every session of a user and close their sockets on every node (USER: _id, user_id or username)",
		Args:    exactArgs(1),
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

func showCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "show USER",
		Short: "Show one user and their number of live sessions",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			d, err := a.User(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			rows := userRows([]client.AdminUser{d.User})
			rows[0] = append(rows[0], strconv.Itoa(d.Sessions))
			return o.print(cmd.OutOrStdout(), d, append(userHeader, "SESSIONS"), rows)
		},
	}
}

// password reads the first line of stdin with --password-stdin, else
// makes one up (it is shown once, in the answer).
func password(o *options, fromStdin bool) (string, bool, error) {
	if fromStdin {
		line, err := bufio.NewReader(o.in).ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return "", false, usageError(fmt.Errorf("--password-stdin: no password on stdin (%v)", err))
		}
		return line, false, nil
	}
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", false, err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), true, nil
}

func createCmd(o *options) *cobra.Command {
	var email string
	var admin, fromStdin bool
	cmd := &cobra.Command{
		Use:   "create USERNAME --email EMAIL",
		Short: "Create an account; the password comes from stdin (--password-stdin) or is generated and shown once",
		Example: `  ctl users create alice --email alice@example.org
  printf '%s\n' "$PW" | ctl users create root --email root@example.org --admin --password-stdin`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if email == "" {
				return usageError(fmt.Errorf("--email is required"))
			}
			a, err := o.admin()
			if err != nil {
				return err
			}
			pw, generated, err := password(o, fromStdin)
			if err != nil {
				return err
			}
			u, err := a.CreateUser(cmd.Context(), args[0], email, pw, admin)
			if err != nil {
				return err
			}
			out := struct {
				User     *client.AdminUser `json:"user"`
				Password string            `json:"password,omitempty"`
			}{User: u}
			rows := userRows([]client.AdminUser{*u})
			header := userHeader
			if generated {
				out.Password = pw
				header = append(header, "PASSWORD")
				rows[0] = append(rows[0], pw)
			}
			return o.print(cmd.OutOrStdout(), out, header, rows)
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "the account's email address (required)")
	cmd.Flags().BoolVar(&admin, "admin", false, "give the account the admin flag")
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of stdin instead of generating one")
	return cmd
}

func resetPasswordCmd(o *options) *cobra.Command {
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   "reset-password USER",
		Short: "Set a new password (from stdin with --password-stdin, else generated and shown once); revokes every session",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			if !fromStdin {
				if err := o.confirm(cmd, "reset the password of "+args[0]+" and end their sessions"); err != nil {
					return err
				}
			} else if !o.yes {
				// stdin carries the password, so nobody can answer a prompt.
				return usageError(fmt.Errorf("reset-password --password-stdin needs --yes"))
			}
			pw, generated, err := password(o, fromStdin)
			if err != nil {
				return err
			}
			n, err := a.ResetPassword(cmd.Context(), args[0], pw)
			if err != nil {
				return err
			}
			out := struct {
				Revoked  int    `json:"revoked"`
				Password string `json:"password,omitempty"`
			}{Revoked: n}
			header, row := []string{"REVOKED"}, []string{strconv.Itoa(n)}
			if generated {
				out.Password = pw
				header, row = append(header, "PASSWORD"), append(row, pw)
			}
			return o.print(cmd.OutOrStdout(), out, header, [][]string{row})
		},
	}
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of stdin instead of generating one")
	return cmd
}

func deleteCmd(o *options) *cobra.Command {
	var purge bool
	cmd := &cobra.Command{
		Use:   "delete USER --purge",
		Short: "Delete a user with every conversation they are in (messages, files, keys); peers see conversation-destroyed",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !purge {
				return usageError(fmt.Errorf("delete removes the user's messages, files and keys: say --purge (or use deactivate)"))
			}
			a, err := o.admin()
			if err != nil {
				return err
			}
			if err := o.confirm(cmd, "delete "+args[0]+" and every conversation they are in"); err != nil {
				return err
			}
			r, err := a.DeleteUser(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), r, []string{"USER_ID", "CONVERSATIONS", "SESSIONS"},
				[][]string{{r.UserID, strconv.Itoa(r.Conversations), strconv.Itoa(r.Sessions)}})
		},
	}
	cmd.Flags().BoolVar(&purge, "purge", false, "required: the user's messages, files and keys go too")
	return cmd
}
