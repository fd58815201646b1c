package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/crypttalk/crypttalk/config"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "crypttalkd",
		Short:         "Crypt-Talk secure chat homeserver",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	serve := newServeCmd()
	root.AddCommand(serve, newVersionCmd())
	// `crypttalkd` alone runs the server.
	root.RunE = serve.RunE
	root.Flags().AddFlagSet(serve.Flags())
	return root
}

func newServeCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the homeserver (the default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, warnings, err := config.Load(config.LoadOptions{File: file, Env: os.Environ(), Flags: cmd.Flags()})
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, warnings, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&file, "config", "", "YAML config file")
	config.BindFlags(cmd.Flags())
	return cmd
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "crypttalkd %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
