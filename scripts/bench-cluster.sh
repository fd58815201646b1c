#!/usr/bin/env bash
# bench-cluster.sh: the "Cluster on FerretDB-PostgreSQL" figures of
# docs/BENCHMARKS.md. Starts a throwaway PostgreSQL cluster, FerretDB
# (postgresql handler) as its own process, redis-server and 1, 2, then 3
# crypttalkd nodes sharing them, and runs ctbench against all the nodes.
#
#   make build && scripts/bench-cluster.sh            # or: make bench-cluster
#   NODES="1 3" DURATION=20s PG_FSYNC=off scripts/bench-cluster.sh
#   FERRET_PROFILE=/tmp/ferret.pprof NODES=1 scripts/bench-cluster.sh  # go tool pprof -top
#
# Every server (PostgreSQL, FerretDB, Redis, the nodes) is pinned to
# SERVER_CPUS and ctbench to TOOL_CPU, so the figures compare the same CPU
# budget; the last column is the CPU each part of the server side used
# during the whole ctbench run (registration and warm-up included), which
# shows what saturates.
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${NODES:-"1 2 3"}
DURATION=${DURATION:-10s}
SERVER_CPUS=${SERVER_CPUS:-0}
TOOL_CPU=${TOOL_CPU:-1}
PG_FSYNC=${PG_FSYNC:-on}
BIN=${BIN:-bin}

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pg_bin/initdb" ] || { echo "PostgreSQL not installed (scripts/install-test-deps.sh)" >&2; exit 1; }
for b in crypttalkd ctbench; do
	[ -x "$BIN/$b" ] || { echo "$BIN/$b missing: run make build" >&2; exit 1; }
done
work=$(mktemp -d /tmp/ct-bench-cluster-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
	# SIGTERM: FerretDB writes its profile as it stops.
	for p in "${node_pids[@]}" "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$work/pg/data/postmaster.pid" ] && as_pg "$pg_bin/pg_ctl" stop -D "$work/pg/data" -m fast >/dev/null 2>&1
	wait 2>/dev/null || true
	rm -rf "$work"
}
node_pids=()
trap cleanup EXIT
go build -o "$work/ferretdb" ./internal/testenv/cmd/ferretdb

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# Run in the background as `pin CMD &`: exec, so that $! is CMD itself.
pin() { exec taskset -c "$SERVER_CPUS" "$@"; }

mkdir -p "$work/pg"
[ "$(id -u)" -eq 0 ] && chown postgres "$work/pg"
as_pg "$pg_bin/initdb" -D "$work/pg/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
pg_port=$(free_port)
as_pg taskset -c "$SERVER_CPUS" "$pg_bin/postgres" -D "$work/pg/data" -p "$pg_port" -k "$work/pg" \
	-c listen_addresses=127.0.0.1 -c fsync="$PG_FSYNC" -c max_connections=300 >"$work/pg.log" 2>&1 &
until "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port"; do sleep 0.1; done

redis_port=$(free_port)
pin redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
mongo_port=$(free_port)
ferret_args=()
[ -n "${FERRET_PROFILE:-}" ] && ferret_args=(-cpuprofile "$FERRET_PROFILE")
pin "$work/ferretdb" "${ferret_args[@]}" -listen "127.0.0.1:$mongo_port" -postgresql "postgres://postgres@127.0.0.1:$pg_port/postgres" >"$work/ferretdb.log" 2>&1 &
pids+=($!)
until (exec 3<>"/dev/tcp/127.0.0.1/$mongo_port") 2>/dev/null; do sleep 0.1; done

keys="v1:$(head -c 32 /dev/urandom | base64)"
# CPU ticks of one component: pg (the postmaster and its backends),
# ferretdb, redis, nodes.
ticks_of() {
	local ps_="" t=0 p
	case $1 in
	pg)
		q=$(head -1 "$work/pg/data/postmaster.pid")
		ps_="$q $(pgrep -P "$q" || true)"
		;;
	ferretdb) ps_=${pids[1]} ;;
	redis) ps_=${pids[0]} ;;
	nodes) ps_=${node_pids[*]} ;;
	esac
	for p in $ps_; do
		[ -r "/proc/$p/stat" ] || continue
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$t"
}
ticks_all() { echo "$(ticks_of pg) $(ticks_of ferretdb) $(ticks_of redis) $(ticks_of nodes)"; }

run=0
printf '| nodes | scenario | acked msg/s | p50 ms | p99 ms | lost | dup | errors | CPU s: postgres / ferretdb / redis / nodes (whole run, wall s) |\n|---|---|---|---|---|---|---|---|---|\n'
for n in $NODES; do
	for scenario in "max -users 40 -window 4" "chat -users 20 -rate 20"; do
		run=$((run + 1))
		node_pids=()
		urls=()
		for i in $(seq 1 "$n"); do
			port=$(free_port)
			mkdir -p "$work/node$run-$i"
			pin env CRYPTTALK_LISTEN="127.0.0.1:$port" CRYPTTALK_DATA_DIR="$work/node$run-$i" \
				MONGO_URL="mongodb://127.0.0.1:$mongo_port/bench$run" REDIS_URL="redis://127.0.0.1:$redis_port/0" \
				CRYPTTALK_MASTER_KEYS="$keys" CRYPTTALK_BUS_PREFIX="bench$run:" \
				CRYPTTALK_BCRYPT_COST=4 CRYPTTALK_LOG_LEVEL=warn \
				CRYPTTALK_RATELIMIT_REGISTER_PER_IP_COUNT=0 CRYPTTALK_RATELIMIT_LOGIN_PER_IP_COUNT=0 \
				CRYPTTALK_RATELIMIT_LOGIN_PER_USER_COUNT=0 CRYPTTALK_RATELIMIT_SEND_PER_USER_COUNT=0 \
				CRYPTTALK_LIMITS_WS_SEND_QUEUE=4096 CRYPTTALK_LIMITS_WS_PENDING_PER_IP=1000000 \
				CRYPTTALK_LIMITS_WS_SOCKETS_PER_USER=1000 CRYPTTALK_LIMITS_WS_FRAME_RATE=1000000 \
				CRYPTTALK_LIMITS_WS_FRAME_BURST=1000000 \
				"$BIN/crypttalkd" serve >"$work/node$run-$i.log" 2>&1 &
			node_pids+=($!)
			urls+=("http://127.0.0.1:$port")
		done
		for u in "${urls[@]}"; do
			until curl -fsS -o /dev/null "$u/healthz" 2>/dev/null || curl -fsS -o /dev/null "$u/readyz" 2>/dev/null; do sleep 0.2; done
		done
		t0=$(ticks_all)
		w0=$(date +%s.%N)
		# shellcheck disable=SC2086
		out=$(taskset -c "$TOOL_CPU" "$BIN/ctbench" -url "$(IFS=,; echo "${urls[*]}")" -scenario $scenario -duration "$DURATION" -warmup 2s -json) || true
		t1=$(ticks_all)
		w1=$(date +%s.%N)
		echo "$out" >"$work/run$run.json"
		python3 - "$n" "$scenario" "$t0" "$t1" "$(getconf CLK_TCK)" "$w0" "$w1" <<EOF
import json, sys
n, scen, hz = sys.argv[1], sys.argv[2].split()[0], int(sys.argv[5])
cpu = " / ".join(f"{(int(b) - int(a)) / hz:.1f}" for a, b in zip(sys.argv[3].split(), sys.argv[4].split()))
wall = float(sys.argv[7]) - float(sys.argv[6])
try:
    r = json.loads('''$out'''.strip().splitlines()[-1])
except Exception as e:
    print(f"| {n} | {scen} | run failed: {e} |"); sys.exit()
print(f"| {n} | {scen} | {r['acked_per_sec']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['lost']} | {r['duplicated']} | {r['errors_total']} | {cpu} ({wall:.0f}) |")
EOF
		for p in "${node_pids[@]}"; do kill "$p" 2>/dev/null || true; done
		for p in "${node_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	done
done
