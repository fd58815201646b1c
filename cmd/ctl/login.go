package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/crypttalk/crypttalk/client"
)

// config is ctl.yaml: named logins and which one is used by default.
type config struct {
	Current  string              `yaml:"current"`
	Profiles map[string]*profile `yaml:"profiles"`
}

type profile struct {
	Server string `yaml:"server"`
	Token  string `yaml:"token"`
}

// configPath is <user config dir>/crypttalk/ctl.yaml ($XDG_CONFIG_HOME or
// ~/.config on Linux).
func configPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config dir for saved logins: %w", err)
	}
	return filepath.Join(dir, "crypttalk", "ctl.yaml"), nil
}

// loadConfig reads ctl.yaml; a missing file is an empty config.
func loadConfig() (*config, error) {
	cfg := &config{Profiles: map[string]*profile{}}
	path, err := configPath()
	if err != nil {
		return cfg, nil // no home: flags and environment only
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(raw, cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if cfg.Profiles == nil {
		cfg.Profiles = map[string]*profile{}
	}
	return cfg, nil
}

// save writes the config readable by its owner only: it holds tokens.
func (c *config) save() (string, error) {
	path, err := configPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	raw, err := yaml.Marshal(c)
	if err != nil {
		return "", err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return "", err
	}
	// WriteFile keeps the mode of an existing file; make sure.
	if err := os.Chmod(tmp, 0o600); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}

// pick returns the named profile, the current one when name is empty, or
// nil when there is none to use.
func (c *config) pick(name string) (*profile, error) {
	if name == "" {
		name = c.Current
	}
	if name == "" {
		return nil, nil
	}
	p, ok := c.Profiles[name]
	if !ok {
		return nil, fmt.Errorf("no saved login %q (have: %s); run ctl login SERVER --profile %s", name, strings.Join(c.names(), ", "), name)
	}
	return p, nil
}

func (c *config) names() []string {
	if c == nil {
		return nil
	}
	out := make([]string, 0, len(c.Profiles))
	for n := range c.Profiles {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func newLoginCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "login SERVER",
		Short: "Check a token against SERVER and save both as a named profile (--profile, default \"default\")",
		Long: `Reads the token from --token or CRYPTTALK_ADMIN_TOKEN, else the first line of stdin,
checks it against SERVER's admin API and saves SERVER and token in
<user config dir>/crypttalk/ctl.yaml (mode 0600) under the profile name, which
becomes the current one.`,
		Example: `  printf '%s\n' "$TOKEN" | ctl login https://admin.chat.example.org --profile prod
  ctl --profile prod users list`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := o.profile
			if name == "" {
				name = "default"
			}
			token := o.v.GetString("token")
			if token == "" {
				if isTerminal(o.in) {
					fmt.Fprint(cmd.ErrOrStderr(), "token: ")
				}
				line, _ := bufio.NewReader(o.in).ReadString('\n')
				token = strings.TrimSpace(line)
			}
			if token == "" {
				return usageError(fmt.Errorf("no token given (--token, CRYPTTALK_ADMIN_TOKEN or stdin)"))
			}
			server := strings.TrimRight(args[0], "/")
			if !strings.HasPrefix(server, "http://") && !strings.HasPrefix(server, "https://") {
				return usageError(fmt.Errorf("SERVER must be an http:// or https:// URL, not %q", args[0]))
			}
			// A login that cannot list one user would fail every later command.
			if _, err := client.NewAdmin(server, token).Users(cmd.Context(), "", "", 1); err != nil {
				return fmt.Errorf("login to %s: %w", server, err)
			}
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			cfg.Profiles[name] = &profile{Server: server, Token: token}
			cfg.Current = name
			path, err := cfg.save()
			if err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), map[string]string{"profile": name, "server": server, "config": path},
				[]string{"PROFILE", "SERVER", "CONFIG"}, [][]string{{name, server, path}})
		},
	}
}

func newProfilesCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "profiles",
		Short: "List saved logins (tokens are not shown)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			type row struct {
				Name    string `json:"name"`
				Server  string `json:"server"`
				Current bool   `json:"current"`
			}
			out := []row{}
			var rows [][]string
			for _, n := range cfg.names() {
				cur := n == cfg.Current
				out = append(out, row{n, cfg.Profiles[n].Server, cur})
				mark := ""
				if cur {
					mark = "*"
				}
				rows = append(rows, []string{mark, n, cfg.Profiles[n].Server})
			}
			return o.print(cmd.OutOrStdout(), out, []string{"CURRENT", "PROFILE", "SERVER"}, rows)
		},
	}
}
