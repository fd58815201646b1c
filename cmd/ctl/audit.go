package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/crypttalk/crypttalk/client"
)

func newAuditCmd(o *options) *cobra.Command {
	var q client.AuditQuery
	var since, until string
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the admin audit log, newest first (who did what to whom, when, from where, with what result)",
		Example: `  ctl audit --actor admin-token --action users.deactivate
  ctl audit --since 24h -o json
  ctl audit --since 2026-01-01T00:00:00Z --until 2026-02-01T00:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if q.Since, err = parseWhen(since, "--since"); err != nil {
				return usageError(err)
			}
			if q.Until, err = parseWhen(until, "--until"); err != nil {
				return usageError(err)
			}
			a, err := o.admin()
			if err != nil {
				return err
			}
			es, err := a.Audit(cmd.Context(), q)
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(es))
			for _, e := range es {
				rows = append(rows, []string{e.At.Format(time.RFC3339), e.Actor, e.Action, dash(e.Target), e.ClientIP, strconv.Itoa(e.Status), e.Result, e.ID})
			}
			return o.print(cmd.OutOrStdout(), es, []string{"AT", "ACTOR", "ACTION", "TARGET", "FROM", "STATUS", "RESULT", "ID"}, rows)
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Actor, "actor", "", "only this actor: admin-token or an admin's user_id")
	f.StringVar(&q.Action, "action", "", "only this action (users.deactivate, keys.rewrap, purge, ...)")
	f.StringVar(&since, "since", "", "from this time on: RFC 3339, or a duration back from now (24h, 7d)")
	f.StringVar(&until, "until", "", "before this time: RFC 3339, or a duration back from now")
	f.StringVar(&q.Before, "before", "", "page: entries older than this entry ID (the last ID of the previous page)")
	f.IntVar(&q.Limit, "limit", 100, "at most this many (1..1000)")
	return cmd
}

// parseWhen reads an RFC 3339 time or a duration back from now; "d" is
// accepted as 24h since operators think of retention in days.
func parseWhen(v, flag string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := parseDays(v)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time or a duration like 24h or 7d", flag, v)
	}
	return time.Now().Add(-d), nil
}

func parseDays(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, err
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
