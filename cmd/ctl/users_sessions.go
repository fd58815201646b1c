package main

import (
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"
)

func sessionsCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "sessions USER",
		Short: "List a user's sessions (devices), oldest first: device, name, last seen, IP, user agent (an id from the token's hash, never the token)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			ss, err := a.Sessions(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(ss))
			for _, x := range ss {
				seen := "-"
				if !x.LastSeenAt.IsZero() {
					seen = x.LastSeenAt.Format(time.RFC3339)
				}
				rows = append(rows, []string{
					x.ID, cell(x.DeviceID), cell(x.DisplayName), x.CreatedAt.Format(time.RFC3339), seen, cell(x.LastIP),
					cell(x.UserAgent), x.ExpiresAt.Format(time.RFC3339), strconv.FormatBool(x.Expired),
				})
			}
			return o.print(cmd.OutOrStdout(), ss, []string{"ID", "DEVICE", "NAME", "CREATED", "LAST_SEEN", "IP", "USER_AGENT", "EXPIRES", "EXPIRED"}, rows)
		},
	}
}

// cell keeps a table row on one line whatever a client sent as its name
// or user agent, and shows "-" for nothing.
func cell(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if s = strings.TrimSpace(s); s == "" {
		return "-"
	}
	return s
}
