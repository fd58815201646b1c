package main

import (
	"context"
	"log/slog"

	"github.com/crypttalk/crypttalk/chat"
)

// demoPassword is printed in the log on purpose: --demo is for a first
// look on a laptop, never the default.
const demoPassword = "crypttalk-demo"

func createDemoUsers(ctx context.Context, svc *chat.Service, log *slog.Logger) {
	for _, name := range []string{"alice", "bob"} {
		_, _, err := svc.Register(ctx, chat.Credentials{Username: name, Email: name + "@demo.invalid", Password: demoPassword, ClientIP: "demo"})
		if err != nil {
			log.Info("demo user not created (already there?)", "username", name, "err", chat.AsError(err).Msg)
			continue
		}
		log.Warn("demo user created", "username", name, "password", demoPassword)
	}
}
