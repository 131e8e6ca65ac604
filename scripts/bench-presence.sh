#!/usr/bin/env bash
# The presence refresh under chat load (docs/benchmarks.md, "Presence refresh"): its own
# redis-server, `echo --workers 2` with a short ECHO_PRESENCE_TTL (a refresh period of TTL / 3 = 5 s,
# so a 30 s window holds six), and one `echo-bench fanout --per-second`. Prints the overall
# latency, each second's p99, and those p99s folded by the period: a refresh that bursts shows as
# one phase far above the others.
#
#   scripts/bench-presence.sh [BIN] [LABEL] [OUT]   BIN holds echo and echo-worker (default: the
#                                                   release build); echo-bench is BENCH or BIN's
#   TTL=15 ROOMS=1000 MEMBERS=6 RATE=2000 DURATION=30 PING=600 (pings every 30 s are a burst of
#   their own: kept out of the window)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${1:-$ROOT/.build/release}; LABEL=${2:-presence}; OUT=${3:-$(mktemp -d /tmp/echo-presence.XXXXXX)}
TTL=${TTL:-15}; ROOMS=${ROOMS:-1000}; MEMBERS=${MEMBERS:-6}; RATE=${RATE:-2000}; DURATION=${DURATION:-30}; PING=${PING:-600}
BENCH=${BENCH:-$BIN/echo-bench}
mkdir -p "$OUT"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RPORT=$(free_port); EPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --logfile "$OUT/$LABEL-redis.log" &
RPID=$!
HOST=127.0.0.1 PORT=$EPORT REDIS_URL=redis://127.0.0.1:$RPORT ECHO_RATE_LIMIT=0 ECHO_MAX_CONNECTIONS_PER_IP=0 \
  ECHO_HANDSHAKES_PER_IP=0 ECHO_JOINS_PER_IP=0 ECHO_ADMIN_LISTEN=0 ECHO_LOG_FORMAT=text \
  ECHO_PRESENCE_TTL=$TTL ECHO_PING_INTERVAL=$PING "$BIN/echo" --workers 2 >"$OUT/$LABEL-echo.log" 2>&1 &
EPID=$!
trap 'kill $EPID 2>/dev/null; wait $EPID 2>/dev/null; kill $RPID 2>/dev/null; wait $RPID 2>/dev/null' EXIT
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$EPORT/health" >/dev/null && break; sleep 0.2; done
sleep 1
"$BENCH" fanout --url "ws://127.0.0.1:$EPORT/ws" --connections $((ROOMS * MEMBERS)) --rooms "$ROOMS" --rate "$RATE" \
  --duration "$DURATION" --warmup 2 --server-pid "$EPID" --redis-pid "$RPID" --per-second --json --quiet \
  >"$OUT/$LABEL.json" 2>"$OUT/$LABEL.err"
python3 - "$OUT/$LABEL" "$(( TTL / 3 ))" <<'PY'
import json, re, statistics, sys
base, period = sys.argv[1], int(sys.argv[2])
report = json.load(open(base + ".json"))
latency, cpu = report["latency"], report["cpu"]
window = cpu["windowSeconds"]
other = (cpu["machineSeconds"] - cpu["serverSeconds"] - cpu["redisSeconds"] - cpu["generatorSeconds"]) / window
pattern = re.compile(r"p99ms=([0-9.]+) s=(\d+)")
seconds = [(int(m[2]), float(m[1])) for m in map(pattern.search, open(base + ".err")) if m]
folded = [statistics.mean([p for s, p in seconds if s % period == k] or [0]) for k in range(period)]
print(f"{base}: p50 {latency['p50'] / 1000:.2f} p99 {latency['p99'] / 1000:.1f} max {latency['max'] / 1000:.1f} ms, "
      f"lost {report['counts']['lost']}, Redis {cpu['redisSeconds'] / window:.3f} cores, other processes {other:.2f} cores")
print("  p99 of each second (ms): " + " ".join(f"{p:.0f}" for _, p in seconds))
print(f"  folded by the {period} s period: " + " ".join(f"{p:.0f}" for p in folded))
PY
