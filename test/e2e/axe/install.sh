#!/usr/bin/env bash
# Installs axe-core for the web client's accessibility check
# (test/e2e TestWebAxe) into a cache dir, once. The dir is the one the test
# looks in: CRYPTTALK_AXE_DIR, else ~/.cache/crypttalk/axe-core-<version>.
# The test injects axe.min.js into the page itself; web/static never
# serves it.
set -euo pipefail
VERSION=4.14.1
DIR="${CRYPTTALK_AXE_DIR:-$HOME/.cache/crypttalk/axe-core-$VERSION}"
if [ -f "$DIR/node_modules/axe-core/axe.min.js" ]; then
	exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
	echo "test/e2e/axe/install.sh: npm not found; TestWebAxe will not run" >&2
	exit 0
fi
mkdir -p "$DIR"
npm install --prefix "$DIR" --no-audit --no-fund --omit=dev --loglevel=error "axe-core@$VERSION"
