package main

import (
	"sort"

	"github.com/spf13/cobra"
)

func newHealthCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Show the node's readiness and each dependency; exit 1 if any is down",
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
			names := make([]string, 0, len(h.Dependencies))
			for n := range h.Dependencies {
				names = append(names, n)
			}
			sort.Strings(names)
			rows := make([][]string, 0, len(names))
			for _, n := range names {
				rows = append(rows, []string{n, h.Dependencies[n]})
			}
			if err := o.print(cmd.OutOrStdout(), h, []string{"DEPENDENCY", "STATE"}, rows); err != nil {
				return err
			}
			return herr
		},
	}
}
