// Command ctl is Crypt-Talk's operator CLI. It talks to a node's admin API
// (/_admin/v1) with the admin token (or an admin user's access token) and
// never opens the database itself.
//
//	ctl login https://admin.chat.example.org --profile prod   # token from stdin
//	ctl --profile prod health
//	ctl users list -q ali -o json
//	ctl users deactivate @alice:chat.example.org --yes
//	ctl audit --since 24h
//
// Exit codes: 0 ok, 1 the operation failed or the node is unhealthy, 2 usage.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cmd := newRoot()
	err := cmd.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctl:", err)
	}
	os.Exit(exitCode(err))
}
