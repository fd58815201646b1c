package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/crypttalk/crypttalk/client"
)

// Exit codes (docs/OPERATIONS.md): 0 done; 1 what was asked failed or the
// node is unhealthy; 2 the command line itself was wrong.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

const defaultServer = "http://127.0.0.1:5000"

// usageErr marks an error of the command line (exit 2).
type usageErr struct{ error }

func (e usageErr) Unwrap() error { return e.error }

func usageError(err error) error { return usageErr{err} }

// exitCode maps an error returned by the root command to the process exit
// code.
func exitCode(err error) int {
	var u usageErr
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &u), isCobraUsage(err):
		return exitUsage
	default:
		return exitFailed
	}
}

// isCobraUsage recognises the errors cobra itself returns for a bad command
// line; they are plain errors, told apart only by their text.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// options are the flags every command shares.
type options struct {
	v       *viper.Viper
	profile string
	output  string
	yes     bool
	in      io.Reader
}

func newRoot() *cobra.Command {
	o := &options{v: viper.New(), in: os.Stdin}
	root := &cobra.Command{
		Use:           "ctl",
		Short:         "Operate a Crypt-Talk homeserver through its admin API",
		Long:          "ctl talks to a node's admin API (/_admin/v1) and never opens the database itself.\n\nExit codes: 0 ok, 1 the operation failed or the node is unhealthy, 2 usage error.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if o.output != "table" && o.output != "json" {
				return usageError(fmt.Errorf("-o must be table or json, not %q", o.output))
			}
			return nil
		},
	}
	f := root.PersistentFlags()
	f.String("server", "", "node base URL, the admin listener if one is set (CRYPTTALK_SERVER_URL, else the profile's, else "+defaultServer+")")
	f.String("token", "", "admin token or an admin user's access token (CRYPTTALK_ADMIN_TOKEN, else the profile's)")
	f.StringVar(&o.profile, "profile", os.Getenv("CRYPTTALK_PROFILE"), "saved login to use (ctl login; CRYPTTALK_PROFILE, else the current one)")
	f.StringVarP(&o.output, "output", "o", "table", "table or json")
	f.BoolVarP(&o.yes, "yes", "y", false, "do not ask before destructive operations (required when stdin is not a terminal)")
	_ = o.v.BindPFlag("server", f.Lookup("server"))
	_ = o.v.BindPFlag("token", f.Lookup("token"))
	_ = o.v.BindEnv("server", "CRYPTTALK_SERVER_URL")
	_ = o.v.BindEnv("token", "CRYPTTALK_ADMIN_TOKEN")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.RegisterFlagCompletionFunc("profile", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		cfg, _ := loadConfig()
		return cfg.names(), cobra.ShellCompDirectiveNoFileComp
	})
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	root.AddCommand(newHealthCmd(o), newUsersCmd(o), newKeysCmd(o), newPurgeCmd(o), newAuditCmd(o), newStatsCmd(o), newJobsCmd(o), newNoticeCmd(o), newLoginCmd(o), newProfilesCmd(o), newFederationCmd(o))
	return root
}

// admin builds the API client from flags, environment, then the profile.
func (o *options) admin() (*client.Admin, error) {
	server, token, err := o.credentials()
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, fmt.Errorf("an admin token is required (--token, CRYPTTALK_ADMIN_TOKEN or ctl login)")
	}
	return client.NewAdmin(server, token), nil
}

func (o *options) credentials() (server, token string, err error) {
	cfg, err := loadConfig()
	if err != nil {
		return "", "", err
	}
	p, err := cfg.pick(o.profile)
	if err != nil {
		return "", "", usageError(err)
	}
	o.v.SetDefault("server", defaultServer)
	if p != nil {
		o.v.SetDefault("server", p.Server)
		o.v.SetDefault("token", p.Token)
	}
	return strings.TrimRight(o.v.GetString("server"), "/"), o.v.GetString("token"), nil
}

// confirm asks before a destructive operation. Off a terminal there is
// nobody to ask, so --yes is required: a script must say it means it.
func (o *options) confirm(cmd *cobra.Command, what string) error {
	if o.yes {
		return nil
	}
	if !isTerminal(o.in) {
		return usageError(fmt.Errorf("%s: refusing without --yes when stdin is not a terminal", what))
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s? [y/N] ", what)
	line, _ := bufio.NewReader(o.in).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
		return fmt.Errorf("%s: not confirmed", what)
	}
	return nil
}

// print writes v as JSON with -o json, else as the table rows give it.
// JSON is indented, with the field names of the API: stable for scripts.
func (o *options) print(w io.Writer, v any, header []string, rows [][]string) error {
	if o.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// exactArgs is cobra.ExactArgs with a usage error (exit 2).
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError(err)
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return usageError(err)
	}
	return nil
}

// noun is a command that only groups others: run bare, it shows its
// help; with an unknown subcommand it is a usage error.
func noun(use, short string) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError(fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath()))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
}
