#!/usr/bin/env bash
# bench-node.sh: the "Issue 14: single node, pinned" figures of
# docs/BENCHMARKS.md. Starts crypttalkd on the embedded store in a temp data
# dir pinned to SERVER_CPU, and runs ctbench pinned to TOOL_CPU against it,
# once per scenario, each on a fresh server; prints ctbench's JSON per run
# (server_cpu_us_per_msg is the server's CPU over the measured window only).
#
#   make build && scripts/bench-node.sh             # or: make bench-node
#   RUNS=3 SCENARIOS="max" scripts/bench-node.sh
#   PROFILE=/tmp/node.pprof SCENARIOS=max scripts/bench-node.sh  # go tool pprof -top bin/crypttalkd /tmp/node.pprof
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
SERVER_BIN=${SERVER_BIN:-$BIN/crypttalkd}
SERVER_CPU=${SERVER_CPU:-0}
TOOL_CPU=${TOOL_CPU:-1}
RUNS=${RUNS:-1}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
SCENARIOS=${SCENARIOS:-"max chat idle"}
PORT=${PORT:-5914}
for b in "$SERVER_BIN" "$BIN/ctbench"; do
	[ -x "$b" ] || { echo "$b missing: run make build" >&2; exit 1; }
done
token=bench-node-admin-token-0123456789
args_for() {
	case $1 in
	max) echo "-scenario max -users 200 -window 4 -duration $DURATION -warmup $WARMUP" ;;
	chat) echo "-scenario chat -users 200 -rate 1000 -duration $DURATION -warmup $WARMUP" ;;
	chat4) echo "-scenario chat -users 200 -devices 4 -rate 1000 -duration $DURATION -warmup $WARMUP" ;;
	idle) echo "-scenario idle -users 100 -devices 100 -duration 5s" ;;
	*) echo "unknown scenario $1" >&2; exit 2 ;;
	esac
}
# ctbench's own defaults for a server it starts (see serverDefaults in
# cmd/ctbench/server.go): cheap bcrypt, no rate limits, a deep send queue.
export CRYPTTALK_BCRYPT_COST=4 CRYPTTALK_LOG_LEVEL=warn \
	CRYPTTALK_RATELIMIT_REGISTER_PER_IP_COUNT=0 CRYPTTALK_RATELIMIT_LOGIN_PER_IP_COUNT=0 \
	CRYPTTALK_RATELIMIT_LOGIN_PER_USER_COUNT=0 CRYPTTALK_RATELIMIT_SEND_PER_USER_COUNT=0 \
	CRYPTTALK_LIMITS_WS_SEND_QUEUE=4096 CRYPTTALK_LIMITS_WS_PENDING_PER_IP=1000000 \
	CRYPTTALK_LIMITS_WS_SOCKETS_PER_USER=1000 CRYPTTALK_LIMITS_WS_FRAME_RATE=1000000 \
	CRYPTTALK_LIMITS_WS_FRAME_BURST=1000000 \
	CRYPTTALK_LISTEN=127.0.0.1:$PORT CRYPTTALK_ADMIN_LISTEN=127.0.0.1:$((PORT + 1)) CRYPTTALK_ADMIN_TOKEN=$token
for sc in $SCENARIOS; do
	for run in $(seq "$RUNS"); do
		dir=$(mktemp -d /tmp/ct-bench-node-XXXXXX)
		CRYPTTALK_DATA_DIR=$dir taskset -c "$SERVER_CPU" "$SERVER_BIN" serve >"$dir.log" 2>&1 &
		pid=$!
		trap 'kill $pid 2>/dev/null; rm -rf "$dir" "$dir.log"' EXIT
		for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
		prof=
		if [ -n "${PROFILE:-}" ]; then
			(sleep 4; curl -sf -H "Authorization: Bearer $token" -o "$PROFILE" \
				"http://127.0.0.1:$((PORT + 1))/debug/pprof/profile?seconds=6") &
			prof=$!
		fi
		# shellcheck disable=SC2046
		taskset -c "$TOOL_CPU" "$BIN/ctbench" -url "http://127.0.0.1:$PORT" -server-pid "$pid" -json $(args_for "$sc") |
			sed "s/^/$sc run $run: /"
		[ -z "$prof" ] || wait "$prof" || true
		kill "$pid"
		wait "$pid" || true
		trap - EXIT
		rm -rf "$dir" "$dir.log"
	done
done
