package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/crypttalk/crypttalk/client"
)

// options are the flags every command shares.
type options struct {
	server string
	token  string
	output string
}

func newRoot() *cobra.Command {
	o := &options{}
	root := &cobra.Command{
		Use:           "ctl",
		Short:         "Operate a Crypt-Talk homeserver through its admin API",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := root.PersistentFlags()
	f.StringVar(&o.server, "server", envOr("CRYPTTALK_SERVER_URL", "http://127.0.0.1:5000"), "node base URL (CRYPTTALK_SERVER_URL); the admin listener if one is set")
	f.StringVar(&o.token, "token", os.Getenv("CRYPTTALK_ADMIN_TOKEN"), "admin token (CRYPTTALK_ADMIN_TOKEN)")
	f.StringVarP(&o.output, "output", "o", "table", "table or json")
	root.AddCommand(newHealthCmd(o), newUsersCmd(o), newKeysCmd(o), newPurgeCmd(o))
	return root
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (o *options) admin() (*client.Admin, error) {
	if o.token == "" {
		return nil, fmt.Errorf("an admin token is required (--token or CRYPTTALK_ADMIN_TOKEN)")
	}
	if o.output != "table" && o.output != "json" {
		return nil, fmt.Errorf("-o must be table or json")
	}
	return client.NewAdmin(o.server, o.token), nil
}

// print writes v as JSON with -o json, else as the table rows give it.
func (o *options) print(w io.Writer, v any, header []string, rows [][]string) error {
	if o.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, h := range header {
		sep := "\t"
		if i == len(header)-1 {
			sep = "\n"
		}
		fmt.Fprint(tw, h+sep)
	}
	for _, r := range rows {
		for i, c := range r {
			sep := "\t"
			if i == len(r)-1 {
				sep = "\n"
			}
			fmt.Fprint(tw, c+sep)
		}
	}
	return tw.Flush()
}
