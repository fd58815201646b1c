#!/usr/bin/env bash
# Installs matrix-js-sdk for the Node test of the Matrix adapter
# (test/e2e TestMatrixJSSDK) into a cache dir, once. The dir is the one
# the test looks in: CRYPTTALK_MATRIX_JS_DIR, else ~/.cache/crypttalk/...
set -euo pipefail
VERSION=43.0.0
DIR="${CRYPTTALK_MATRIX_JS_DIR:-$HOME/.cache/crypttalk/matrix-js-sdk-$VERSION}"
if [ -f "$DIR/node_modules/matrix-js-sdk/lib/index.js" ]; then
	exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
	echo "matrix/jstest/install.sh: npm not found; TestMatrixJSSDK will not run" >&2
	exit 0
fi
mkdir -p "$DIR"
# js-sdk 43 declares Node >= 22; the story polyfills what it uses of 22.
npm install --prefix "$DIR" --no-audit --no-fund --omit=dev --loglevel=error "matrix-js-sdk@$VERSION"
