# Crypt-Talk. `make run` starts a node on :5000 with the embedded store;
# `make test` installs what the tests need (Debian packages) and runs them all.
GO       ?= go
PKGS     ?= ./...
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BIN      := bin

.PHONY: run build test test-short deps vet bench bench-node bench-cluster lint clean image web-screenshots web-crypto-vendor

run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/crypttalkd serve

build:
	mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

# deps installs the real services the tests start: redis-server and Chromium,
# and the deploy tests' tools: buildah and helm (built from the Go module proxy),
# and matrix-js-sdk from npm into a cache dir (matrix/jstest/install.sh).
deps:
	@./scripts/install-test-deps.sh
	@./matrix/jstest/install.sh
	@./test/e2e/axe/install.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet -tags goolm $(PKGS)

# test runs every test, with the race detector, against real redis-server,
# FerretDB (embedded) and the real binaries on loopback ports. The crypttalkd
# nodes of the end-to-end tests are built with -race too (CRYPTTALK_TEST_RACE=1),
# and a race report in a node's output fails the test that started it.
# -tags goolm builds mautrix-go's crypto in pure Go for the E2EE tests
# (test/e2e/e2ee_test.go); without it that file is skipped, not failed.
test: deps vet
	CRYPTTALK_TEST_RACE=1 CRYPTTALK_TEST_ARTIFACTS=$(CURDIR)/test-artifacts $(GO) test -race -tags goolm -count=1 -timeout 40m $(PKGS)
	$(GO) test -run '^$$' -fuzz FuzzCanonical -fuzztime 10s ./federation/canonicaljson
	$(GO) test -run '^$$' -fuzz FuzzReceiveTransaction -fuzztime 10s ./federation
	cd deploy/test && $(GO) vet ./... && $(GO) test -count=1 -timeout 15m ./...

test-short: vet
	$(GO) test -short -count=1 $(PKGS)

# bench runs the Go benchmarks recorded in docs/BENCHMARKS.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./vault ./store/bolt ./server/...

# bench-node reproduces "Issue 14: single node, pinned" in
# docs/BENCHMARKS.md: one node on the embedded store pinned to CPU 0,
# ctbench pinned to CPU 1 (scripts/bench-node.sh; RUNS, SCENARIOS, PROFILE).
bench-node: build
	scripts/bench-node.sh

# bench-cluster reproduces "Cluster on FerretDB-PostgreSQL" in
# docs/BENCHMARKS.md: 1, 2 and 3 nodes on FerretDB-PostgreSQL + Redis.
bench-cluster: build
	scripts/bench-cluster.sh

# web-screenshots regenerates docs/screenshots (the web client at phone and
# desktop widths, light and dark) with Chromium.
web-screenshots:
	mkdir -p docs/screenshots
	WEB_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run 'TestWebScreenshots' ./test/e2e/

# web-crypto-vendor copies the web client's end-to-end library
# (@matrix-org/matrix-sdk-crypto-wasm, exact version, sha512 pinned in the
# script) into web/static/vendor with .br/.gz copies. Its output is
# committed: the build and the server never need npm.
web-crypto-vendor:
	./scripts/vendor-crypto-wasm.sh

# image builds the container image (Dockerfile) from static binaries compiled
# here, with docker when an engine answers, else podman, else buildah.
# IMAGE_BASE=scratch needs no registry; the default base is distroless.
IMAGE      ?= ghcr.io/crypttalk/crypttalkd:$(VERSION)
IMAGE_BASE ?= gcr.io/distroless/static-debian12:nonroot
image:
	rm -rf $(BIN)/image && mkdir -p -m 700 $(BIN)/image/data
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(BIN)/image/ ./cmd/crypttalkd ./cmd/ctl
	@args="--build-arg BINARIES=prebuilt --build-arg BASE=$(IMAGE_BASE) --build-arg VERSION=$(VERSION) -t $(IMAGE) ."; \
	if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then set -x; docker build $$args; \
	elif command -v podman >/dev/null 2>&1; then set -x; podman build $$args; \
	elif command -v buildah >/dev/null 2>&1; then set -x; buildah bud $$args; \
	else echo "make image: no docker engine, podman or buildah (apt-get install buildah)" >&2; exit 1; fi

clean:
	rm -rf $(BIN)
