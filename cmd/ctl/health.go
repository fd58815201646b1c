package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/crypttalk/crypttalk/client"
)

// healthReport is what `ctl health -o json` prints.
type healthReport struct {
	*client.Health
	// Jobs is the latest job of each kind; one that failed makes the
	// command exit 1 (the node itself stays ready: a load balancer must
	// not drop it for that).
	Jobs map[string]client.Job `json:"jobs"`
	// Nodes is every node of the cluster from the node registry; a stale
	// or unhealthy one makes the command exit 1.
	Nodes []client.Node `json:"nodes"`
}

func newHealthCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Show every node of the cluster (store, bus, purge worker, jobs, federation), the node asked's dependencies and the latest job of each kind; exit 1 if anything is down, stale or failed",
		Long: `The node asked answers for itself (its /readyz), for the jobs (they live in
the store) and for every node of the cluster from the node registry: each
node writes its state to the bus every 2 s; one silent for three beats is
stale (dead, or cut off from the bus) and unhealthy. A node that stopped
cleanly leaves the list at once; a dead one stays, stale, for an hour.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			h, herr := a.Health(cmd.Context())
			if h == nil || (herr != nil && len(h.Dependencies) == 0) {
				return herr
			}
			rep := healthReport{Health: h, Jobs: map[string]client.Job{}, Nodes: []client.Node{}}
			var rows [][]string
			for _, n := range slices.Sorted(maps.Keys(h.Dependencies)) {
				rows = append(rows, []string{n, h.Dependencies[n]})
			}
			if herr == nil {
				// Jobs live in the store, so with the store down there is
				// nothing to ask.
				js, err := a.Jobs(cmd.Context(), "", 50)
				if err != nil {
					return err
				}
				for _, j := range js { // newest first
					if _, seen := rep.Jobs[j.Kind]; !seen {
						rep.Jobs[j.Kind] = j
					}
				}
				for _, k := range slices.Sorted(maps.Keys(rep.Jobs)) {
					j := rep.Jobs[k]
					rows = append(rows, []string{"job " + k, fmt.Sprintf("%s (%s, %d/%d)", j.State, j.ID, j.Done, j.Total)})
					if j.State == "failed" && herr == nil {
						herr = fmt.Errorf("the latest %s job (%s) failed: %s", k, j.ID, j.Error)
					}
				}
			}
			nodes, nerr := a.Nodes(cmd.Context())
			if nerr != nil {
				rows = append(rows, []string{"nodes", "unknown: " + nerr.Error()})
				if herr == nil {
					herr = fmt.Errorf("the node registry: %w", nerr)
				}
			}
			rep.Nodes = append(rep.Nodes, nodes...)
			var sick []string
			for _, n := range nodes {
				rows = append(rows, nodeRows(n)...)
				if !n.Healthy {
					sick = append(sick, n.ID+" ("+strings.Join(n.Problems, "; ")+")")
				}
			}
			if len(sick) > 0 && herr == nil {
				herr = fmt.Errorf("%d of %d nodes unhealthy: %s", len(sick), len(nodes), strings.Join(sick, ", "))
			}
			if err := o.print(cmd.OutOrStdout(), rep, []string{"CHECK", "STATE"}, rows); err != nil {
				return err
			}
			return herr
		},
	}
}

// nodeRows is a node's line (healthy or not, its sockets, its last
// heartbeat) and one line per check.
func nodeRows(n client.Node) [][]string {
	name := "node " + n.ID
	if n.Self {
		name += " (this one)"
	}
	state := fmt.Sprintf("healthy, %d sockets, %s, seen %s ago, at %s", n.Connections, dash(n.Version), time.Since(n.Seen).Truncate(time.Second), dash(n.Address))
	if !n.Healthy {
		state = "UNHEALTHY: " + strings.Join(n.Problems, "; ")
	}
	rows := [][]string{{name, state}}
	for _, c := range slices.Sorted(maps.Keys(n.Checks)) {
		rows = append(rows, []string{"  " + n.ID + " " + c, n.Checks[c]})
	}
	return rows
}
