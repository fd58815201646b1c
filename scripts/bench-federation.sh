#!/bin/bash
# bench-federation.sh starts two federated homeservers on loopback, a.test on
# 127.0.0.1:5701 and b.test on 127.0.0.1:5702 (embedded stores in a temp
# dir, each other's static peer, rate limits lifted as ctbench -start does),
# runs bin/ctbench with the given arguments, then stops both.
#   make build
#   scripts/bench-federation.sh -url http://127.0.0.1:5701,http://127.0.0.1:5702 -scenario max -users 40 -window 4
# -url A alone is the local baseline on the same server.
set -euo pipefail
bin=${BIN:-$(dirname "$0")/../bin}
dir=$(mktemp -d)
lifted=(CRYPTTALK_LOG_LEVEL=warn CRYPTTALK_BCRYPT_COST=4
	CRYPTTALK_RATELIMIT_REGISTER_PER_IP_COUNT=0 CRYPTTALK_RATELIMIT_LOGIN_PER_IP_COUNT=0
	CRYPTTALK_RATELIMIT_LOGIN_PER_USER_COUNT=0 CRYPTTALK_RATELIMIT_SEND_PER_USER_COUNT=0
	CRYPTTALK_LIMITS_WS_SEND_QUEUE=4096 CRYPTTALK_LIMITS_WS_PENDING_PER_IP=1000000
	CRYPTTALK_LIMITS_WS_SOCKETS_PER_USER=1000 CRYPTTALK_LIMITS_WS_FRAME_RATE=1000000
	CRYPTTALK_LIMITS_WS_FRAME_BURST=1000000 CRYPTTALK_FEDERATION_ORIGIN_RATE_COUNT=1000000)
env "${lifted[@]}" CRYPTTALK_LISTEN=127.0.0.1:5701 CRYPTTALK_DATA_DIR="$dir/a" CRYPTTALK_SERVER_NAME=a.test \
	CRYPTTALK_FEDERATION_PEERS=b.test=http://127.0.0.1:5702 "$bin/crypttalkd" serve >"$dir/a.log" 2>&1 &
a=$!
env "${lifted[@]}" CRYPTTALK_LISTEN=127.0.0.1:5702 CRYPTTALK_DATA_DIR="$dir/b" CRYPTTALK_SERVER_NAME=b.test \
	CRYPTTALK_FEDERATION_PEERS=a.test=http://127.0.0.1:5701 "$bin/crypttalkd" serve >"$dir/b.log" 2>&1 &
b=$!
trap 'kill $a $b 2>/dev/null; wait $a $b 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
	curl -fs http://127.0.0.1:5701/readyz >/dev/null 2>&1 && curl -fs http://127.0.0.1:5702/readyz >/dev/null 2>&1 && break
	sleep 0.1
done
"$bin/ctbench" "$@"
