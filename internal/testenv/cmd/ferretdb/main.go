// Command ferretdb runs FerretDB (SQLite handler, or the PostgreSQL one
// with -postgresql) as its own process, for benchmarks of a cluster on one
// machine:
//
//	go run ./internal/testenv/cmd/ferretdb -listen 127.0.0.1:27017 -dir /tmp/ferret
//	go run ./internal/testenv/cmd/ferretdb -listen 127.0.0.1:27017 -postgresql postgres://postgres@127.0.0.1:5432/postgres
//
// FerretDB's own installed binary panics about a missing version file;
// embedding it as a library, as here and in the tests, works.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address")
	dir := flag.String("dir", "./ferretdb-data", "SQLite data directory")
	pgURL := flag.String("postgresql", "", "PostgreSQL URL: use the postgresql handler instead of SQLite")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of FerretDB to this file until it stops")
	flag.Parse()
	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(pf)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg := &ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Handler:   "sqlite",
		SQLiteURL: "file:" + *dir + "/",
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if *pgURL != "" {
		cfg.Handler, cfg.SQLiteURL, cfg.PostgreSQLURL = "postgresql", "", *pgURL
	}
	f, err := ferretdb.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}
