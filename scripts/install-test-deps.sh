#!/usr/bin/env bash
# Installs the services the tests drive for real (Debian packages). Safe to
# run again: it only installs what is missing.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# buildah builds the container image in deploy/test (no Docker engine here).
command -v buildah >/dev/null 2>&1 || need+=(buildah)
# npm installs matrix-js-sdk and axe-core for the Node and accessibility
# tests (machines of this kind come with Node 20; Debian's is the fallback).
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
# PostgreSQL: internal/testenv runs FerretDB on a throwaway cluster of it
# (initdb and postgres from /usr/lib/postgresql/*/bin, off PATH on Debian).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)

# helm renders the chart in deploy/test; built once from the Go module proxy
# into GOPATH/bin, where the test looks for it.
HELM_VERSION=v3.22.0
if ! command -v helm >/dev/null 2>&1 && [ ! -x "$(go env GOPATH)/bin/helm" ]; then
	echo "building helm $HELM_VERSION (once, into $(go env GOPATH)/bin)"
	(cd / && GOFLAGS=-mod=mod go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
fi

if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing test dependencies: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian package starts a system redis-server; the tests start their own.
$SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
# Likewise the package's own cluster: the tests start theirs.
$SUDO systemctl disable --now postgresql >/dev/null 2>&1 || true
