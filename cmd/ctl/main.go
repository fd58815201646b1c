// Command ctl is Crypt-Talk's operator CLI. It talks to a node's admin API
// (/_admin/v1) with the admin token and never opens the database itself.
//
//	ctl --server http://127.0.0.1:9090 --token "$CRYPTTALK_ADMIN_TOKEN" health
//	ctl users list -q ali -o json
//	ctl users deactivate @alice:chat.example.org
//	ctl keys rewrap
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
	defer stop()
	cmd := newRoot()
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ctl:", err)
		os.Exit(1)
	}
}
