package main

import (
	"strconv"

	"github.com/spf13/cobra"
)

func newStatsCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Count users (total, active in 24 h / 30 d), conversations, messages, files and bytes, open sockets per node",
		Long: `Counts come from the store, so they are the cluster's. Connections are the open
sockets of each node, from the node registry (each node's heartbeat, at most a
couple of seconds old; a stale node's figure is its last one).
Active users are those who logged in (opened a session) in the window.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			st, err := a.Stats(cmd.Context())
			if err != nil {
				return err
			}
			c := st.Counts
			i := func(v int64) string { return strconv.FormatInt(v, 10) }
			rows := [][]string{
				{"users", i(c.Users)}, {"users_deactivated", i(c.Deactivated)}, {"users_admin", i(c.Admins)},
				{"users_active_24h", i(c.ActiveDay)}, {"users_active_30d", i(c.ActiveMonth)},
				{"conversations", i(c.Conversations)}, {"messages", i(c.Messages)},
				{"files", i(c.Files)}, {"file_bytes", i(c.FileBytes)},
				{"connections_this_node", strconv.Itoa(st.Connections)},
			}
			total := 0
			for _, n := range st.Nodes {
				what := "connections " + n.ID
				if n.Stale {
					what += " (stale)"
				}
				rows = append(rows, []string{what, strconv.Itoa(n.Connections)})
				total += n.Connections
			}
			if len(st.Nodes) > 0 {
				rows = append(rows, []string{"connections_cluster", strconv.Itoa(total)})
			}
			return o.print(cmd.OutOrStdout(), st, []string{"WHAT", "COUNT"}, rows)
		},
	}
}
