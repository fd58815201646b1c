package main

import (
	"fmt"
	"sort"

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
}

func newHealthCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Show the node's readiness, each dependency and the latest background job of each kind; exit 1 if any is down or failed",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			h, herr := a.Health(cmd.Context())
			if h == nil || (herr != nil && len(h.Dependencies) == 0) {
				return herr
			}
			rep := healthReport{Health: h, Jobs: map[string]client.Job{}}
			names := make([]string, 0, len(h.Dependencies))
			for n := range h.Dependencies {
				names = append(names, n)
			}
			sort.Strings(names)
			rows := make([][]string, 0, len(names)+2)
			for _, n := range names {
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
				kinds := make([]string, 0, len(rep.Jobs))
				for k := range rep.Jobs {
					kinds = append(kinds, k)
				}
				sort.Strings(kinds)
				for _, k := range kinds {
					j := rep.Jobs[k]
					rows = append(rows, []string{"job " + k, fmt.Sprintf("%s (%s, %d/%d)", j.State, j.ID, j.Done, j.Total)})
					if j.State == "failed" && herr == nil {
						herr = fmt.Errorf("the latest %s job (%s) failed: %s", k, j.ID, j.Error)
					}
				}
			}
			if err := o.print(cmd.OutOrStdout(), rep, []string{"DEPENDENCY", "STATE"}, rows); err != nil {
				return err
			}
			return herr
		},
	}
}
