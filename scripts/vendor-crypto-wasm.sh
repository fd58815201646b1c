#!/bin/sh
# vendor-crypto-wasm.sh copies the end-to-end crypto library of the web
# client (vodozemac + matrix-sdk-crypto as wasm) into web/static/vendor, from
# the npm tarball of one exact version whose sha512 is pinned here. The build
# and the server never need npm: the output is committed and go:embed
# carries it. Run it (make web-crypto-vendor) only to change the version.
set -eu

PKG=@matrix-org/matrix-sdk-crypto-wasm
VERSION=18.9.0
# npm view @matrix-org/matrix-sdk-crypto-wasm@18.9.0 dist.integrity
INTEGRITY=sha512-NtLzNDTEfNASBjNCTGZHuk7N0jrQhS6Zx2CM857rCHZYYh/rpbKGQNrJ7azktm4S1P5Jy3WU3nwJTGohGw26qQ==

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/web/static/vendor/matrix-sdk-crypto-wasm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cd "$tmp"
npm pack --silent "$PKG@$VERSION" >/dev/null
tgz=$(ls ./*.tgz)
# The pin, not npm's own check, decides: a registry that served other bytes
# under the same version is refused here.
got=sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)
if [ "$got" != "$INTEGRITY" ]; then
	echo "vendor-crypto-wasm: $tgz has $got, want $INTEGRITY" >&2
	exit 1
fi
tar -xzf "$tgz"

rm -rf "$out"
mkdir -p "$out/pkg"
cp package/index.mjs package/LICENSE "$out/"
cp package/pkg/*_bg.js package/pkg/*_bg.wasm "$out/pkg/"
echo "$PKG $VERSION $INTEGRITY" >"$out/VERSION"

# Precompressed copies next to each file: the server sends one of them
# when the browser accepts it (the wasm is 7.8 MB raw, 1.4 MB brotli).
for f in "$out/index.mjs" "$out"/pkg/*_bg.js "$out"/pkg/*_bg.wasm; do
	gzip -9 -n -k -f "$f"
	if command -v brotli >/dev/null; then
		brotli -q 11 -k -f "$f"
	fi
done
if ! command -v brotli >/dev/null; then
	echo "vendor-crypto-wasm: no brotli (Debian package brotli): wrote .gz only" >&2
fi
echo "vendored $PKG $VERSION into ${out#"$root"/}"
