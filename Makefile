# Crypt-Talk. `make run` starts a node on :5000 with the embedded store;
# `make test` installs what the tests need (Debian packages) and runs them all.
GO       ?= go
PKGS     ?= ./...
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BIN      := bin

.PHONY: run build test test-short deps vet bench lint clean

run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/crypttalkd serve

build:
	mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

# deps installs the real services the tests start: redis-server and Chromium.
deps:
	@./scripts/install-test-deps.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)

# test runs every test, with the race detector, against real redis-server,
# FerretDB (embedded) and the real binaries on loopback ports. The binaries
# the tests start are built with -race too (CRYPTTALK_TEST_RACE=1), and a
# race report in their output fails the test that started them.
test: deps vet
	CRYPTTALK_TEST_RACE=1 $(GO) test -race -count=1 -timeout 40m $(PKGS)

test-short: vet
	$(GO) test -short -count=1 $(PKGS)

# bench runs the Go benchmarks recorded in docs/BENCHMARKS.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./vault ./store/bolt ./server/...

clean:
	rm -rf $(BIN)
