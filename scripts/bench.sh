#!/usr/bin/env bash
# `make bench`: builds Echo in release mode, starts a private Redis and `echo` on loopback with the
# rate limit lifted, runs the standard scenarios S1–S5 (three times each) with echo-bench, and
# writes BENCHMARKS.md with the median and spread of every figure.
#
#   BENCH_QUICK=1   one run per scenario, short durations, small S3/S4 (for development; the
#                   numbers are not comparable with a full run)
#   BENCH_OUT=path  where to write the report (default: BENCHMARKS.md at the repository root)
#   BENCH_RUNS=n    runs per scenario (default 3, quick 1)
#
# Everything it starts listens on 127.0.0.1 only and is stopped on exit, whatever happens.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

QUICK=${BENCH_QUICK:-0}
OUT=${BENCH_OUT:-$ROOT/BENCHMARKS.md}
if [[ $QUICK == 1 ]]; then RUNS=${BENCH_RUNS:-1}; else RUNS=${BENCH_RUNS:-3}; fi
WORK=$(mktemp -d /tmp/echo-bench.XXXXXX)
RESULTS=$WORK/results
LOGS=$WORK/logs
mkdir -p "$RESULTS" "$LOGS"

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'bench.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Scenario sizes. Full mode follows issue 5; quick mode keeps every scenario under ~10 s.
if [[ $QUICK == 1 ]]; then
    DURATION=3; WARMUP=1; IDLE_CONNECTIONS=2000; IDLE_ROOMS=200; IDLE_HOLD=5; IDLE_GENERATORS=1
    STORM_CONNECTIONS=1000; STORM_ROOMS=100
else
    DURATION=10; WARMUP=2; IDLE_CONNECTIONS=20000; IDLE_ROOMS=2000; IDLE_HOLD=30; IDLE_GENERATORS=2
    STORM_CONNECTIONS=5000; STORM_ROOMS=500
fi
STORM_CONCURRENCY=100
MESSAGE_SIZE=100

for tool in redis-server swift awk; do
    command -v "$tool" >/dev/null || die "$tool is required (Debian: apt-get install -y redis-server)"
done

# ---------------------------------------------------------------------------------------------
say "building release binaries"
for product in echo echo-worker echo-bench; do
    if ! swift build -c release --product "$product" >"$LOGS/build-$product.log" 2>&1; then
        cat "$LOGS/build-$product.log" >&2
        die "release build of $product failed"
    fi
    grep -v 'prohibited flag' "$LOGS/build-$product.log" | tail -2 >&2 || true
done
BIN=$(swift build -c release --show-bin-path)
BENCH=$BIN/echo-bench

# ---------------------------------------------------------------------------------------------
# Process handling. Children are tracked by PID and stopped on exit.
REDIS_PID=""
ECHO_PID=""
GENERATOR_PIDS=()
cleanup() {
    for pid in "${GENERATOR_PIDS[@]}" $ECHO_PID $REDIS_PID; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${GENERATOR_PIDS[@]}" $ECHO_PID $REDIS_PID; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port nothing listens on, below the ephemeral range so no client socket can be holding it.
free_port() {
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
    done
    die "no free port found"
}

# HTTP status of GET $2 on port $1 (no curl needed).
http_status() {
    local reply
    reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3 && head -c 12 <&3) 2>/dev/null) || true
    echo "${reply:9:3}"
}

redis_ping() {
    local reply
    reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" && printf 'PING\r\n' >&3 && head -c 5 <&3) 2>/dev/null) || true
    [[ $reply == "+PONG" ]]
}

start_redis() {
    REDIS_PORT=$(free_port)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --protected-mode yes --logfile "$LOGS/redis.log" &
    REDIS_PID=$!
    for _ in $(seq 50); do redis_ping && return; sleep 0.1; done
    die "redis-server did not start (see $LOGS/redis.log)"
}

# All processes of the server: the supervisor and its descendants.
echo_tree() {
    local pids=("$ECHO_PID") queue=("$ECHO_PID") pid child
    while ((${#queue[@]})); do
        pid=${queue[0]}; queue=("${queue[@]:1}")
        for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do pids+=("$child"); queue+=("$child"); done
    done
    echo "${pids[@]}"
}

worker_count() {
    local count=0 pid
    for pid in $(echo_tree); do
        [[ $(cat /proc/"$pid"/comm 2>/dev/null) == echo-worker ]] && count=$((count + 1))
    done
    echo "$count"
}

ECHO_STARTS=0
start_echo() {
    local workers=$1
    ECHO_STARTS=$((ECHO_STARTS + 1))
    ECHO_LOG=$LOGS/echo-$ECHO_STARTS-w$workers.log
    ECHO_PORT=$(free_port)
    # Every benchmark client connects from 127.0.0.1: the per-IP defences would refuse the load.
    HOST=127.0.0.1 PORT=$ECHO_PORT REDIS_URL=redis://127.0.0.1:$REDIS_PORT ECHO_RATE_LIMIT=0 \
        ECHO_MAX_CONNECTIONS_PER_IP=0 ECHO_HANDSHAKES_PER_IP=0 ECHO_JOINS_PER_IP=0 ECHO_ADMIN_LISTEN=0 \
        ECHO_LOG_FORMAT=text "$BIN/echo" --workers "$workers" >"$ECHO_LOG" 2>&1 &
    ECHO_PID=$!
    for _ in $(seq 150); do
        if [[ $(http_status "$ECHO_PORT" /health) == 200 && $(worker_count) == "$workers" ]]; then
            sleep 1
            return
        fi
        kill -0 "$ECHO_PID" 2>/dev/null || break
        sleep 0.2
    done
    die "echo --workers $workers did not become healthy (see $ECHO_LOG)"
}

stop_echo() {
    [[ -n $ECHO_PID ]] || return 0
    kill -TERM "$ECHO_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$ECHO_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$ECHO_PID" 2>/dev/null || true
    wait "$ECHO_PID" 2>/dev/null || true
    ECHO_PID=""
}

# ---------------------------------------------------------------------------------------------
# Runs. Each run writes $RESULTS/<scenario>-<n>.json; COMMANDS records what ran.
declare -A COMMANDS
run_bench() { # scenario run args...
    local scenario=$1 run=$2; shift 2
    local file=$RESULTS/$scenario-$run.json
    COMMANDS[$scenario]="echo-bench $* --url ws://127.0.0.1:\$PORT/ws --server-pid \$ECHO_PID --redis-pid \$REDIS_PID"
    say "$scenario run $run/$RUNS: echo-bench $*"
    if ! "$BENCH" "$@" --url "ws://127.0.0.1:$ECHO_PORT/ws" --server-pid "$ECHO_PID" --redis-pid "$REDIS_PID" \
        --json >"$file" 2>"$LOGS/$scenario-$run.log"; then
        tail -5 "$LOGS/$scenario-$run.log" >&2
        echo "   (run failed; kept its report if it wrote one)" >&2
        [[ -s $file ]] || rm -f "$file"
    fi
    tail -1 "$LOGS/$scenario-$run.log" >&2
    sleep 2 # let the server finish the leave events of the closed connections
}

# S3 needs more sockets than one process may open here (RLIMIT_NOFILE 20000 on these machines),
# so it runs several generators at once and measures the server from /proc itself.
stat_ticks() { awk '{ print $14 + $15 }' /proc/"$1"/stat 2>/dev/null || echo 0; }
tree_ticks() { local sum=0 pid; for pid in $(echo_tree); do sum=$((sum + $(stat_ticks "$pid"))); done; echo "$sum"; }
tree_rss() {
    local pages=0 pid
    for pid in $(echo_tree); do pages=$((pages + $(awk '{ print $2 }' /proc/"$pid"/statm 2>/dev/null || echo 0))); done
    echo $((pages * $(getconf PAGESIZE)))
}
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
json_number() { awk -v key="\"$2\"" '$1 == key":" || $1 == key { gsub(/[ ,]/, "", $3); print $3; exit }' "$1"; }

run_idle() { # run
    local run=$1 per=$((IDLE_CONNECTIONS / IDLE_GENERATORS)) rooms=$((IDLE_ROOMS / IDLE_GENERATORS)) i
    local file=$RESULTS/S3-$run.json
    COMMANDS[S3]="$IDLE_GENERATORS × echo-bench idle --connections $per --rooms $rooms --duration $((IDLE_HOLD + 15)) --url ws://127.0.0.1:\$PORT/ws (at the same time)"
    say "S3 run $run/$RUNS: $IDLE_GENERATORS × echo-bench idle --connections $per --rooms $rooms"
    local baseline; baseline=$(tree_rss)
    local gen_start=(); GENERATOR_PIDS=()
    for i in $(seq "$IDLE_GENERATORS"); do
        "$BENCH" idle --connections "$per" --rooms "$rooms" --duration $((IDLE_HOLD + 15)) --settle 0 \
            --connect-concurrency 128 --url "ws://127.0.0.1:$ECHO_PORT/ws" --json \
            >"$WORK/idle-$run-$i.json" 2>"$LOGS/S3-$run-$i.log" &
        GENERATOR_PIDS+=($!)
    done
    # Wait until every generator holds all its connections (or gave up on some).
    for _ in $(seq 600); do
        local holding=0
        for i in $(seq "$IDLE_GENERATORS"); do grep -q 'holding' "$LOGS/S3-$run-$i.log" 2>/dev/null && holding=$((holding + 1)); done
        ((holding == IDLE_GENERATORS)) && break
        sleep 0.2
    done
    sleep 3
    local t0 s0 r0 m0 g0=0 t1 s1 r1 m1 g1=0 rss pid
    t0=$(date +%s.%N); s0=$(tree_ticks); r0=$(stat_ticks "$REDIS_PID"); m0=$(machine_ticks)
    for pid in "${GENERATOR_PIDS[@]}"; do g0=$((g0 + $(stat_ticks "$pid"))); done
    rss=$(tree_rss)
    sleep "$IDLE_HOLD"
    t1=$(date +%s.%N); s1=$(tree_ticks); r1=$(stat_ticks "$REDIS_PID"); m1=$(machine_ticks)
    for pid in "${GENERATOR_PIDS[@]}"; do g1=$((g1 + $(stat_ticks "$pid"))); done
    local workers; workers=$(echo_tree | wc -w)
    for pid in "${GENERATOR_PIDS[@]}"; do wait "$pid" || true; done
    GENERATOR_PIDS=()
    local joined=0 failed=0 dropped=0
    for i in $(seq "$IDLE_GENERATORS"); do
        local f=$WORK/idle-$run-$i.json
        [[ -s $f ]] || continue
        joined=$((joined + $(json_number "$f" connectionsJoined)))
        failed=$((failed + $(json_number "$f" connectionsFailed)))
        dropped=$((dropped + $(json_number "$f" connectionsDropped)))
    done
    local hz; hz=$(getconf CLK_TCK)
    awk -v t0="$t0" -v t1="$t1" -v s="$((s1 - s0))" -v r="$((r1 - r0))" -v g="$((g1 - g0))" -v m="$((m1 - m0))" -v hz="$hz" \
        -v base="$baseline" -v rss="$rss" -v joined="$joined" -v failed="$failed" -v dropped="$dropped" \
        -v requested="$IDLE_CONNECTIONS" -v procs="$workers" -v port="$ECHO_PORT" 'BEGIN {
        w = t1 - t0
        printf "{\n\"mode\": \"idle\", \"targets\": [\"ws://127.0.0.1:%s/ws\"], \"parameters\": {},\n", port
        printf "\"connectionsRequested\": %d, \"connectionsJoined\": %d, \"connectionsFailed\": %d, \"connectionsDropped\": %d,\n", requested, joined, failed, dropped
        printf "\"measuredSeconds\": %f, \"sentPerSecond\": 0, \"deliveriesPerSecond\": 0, \"errorsByCode\": {},\n", w
        printf "\"counts\": {\"sent\": 0, \"expected\": 0, \"delivered\": 0, \"lost\": 0, \"duplicated\": 0, \"outOfOrder\": 0, \"errors\": 0},\n"
        printf "\"cpu\": {\"windowSeconds\": %f, \"serverSeconds\": %f, \"serverProcesses\": %d, \"redisSeconds\": %f, \"generatorSeconds\": %f, \"machineSeconds\": %f},\n", w, s / hz, procs, r / hz, g / hz, m / hz
        printf "\"memory\": {\"baselineBytes\": %d, \"holdingBytes\": %d, \"connections\": %d}\n}\n", base, rss, joined
    }' >"$file"
    echo "   joined $joined, failed $failed; server RSS $baseline -> $rss bytes" >&2
    sleep 3
}

# ---------------------------------------------------------------------------------------------
start_redis
say "redis-server on 127.0.0.1:$REDIS_PORT (pid $REDIS_PID)"

FANOUT_COMMON=(--message-size "$MESSAGE_SIZE" --duration "$DURATION" --warmup "$WARMUP")
S1_ARGS=(fanout --connections 100 --rooms 1 --window 4 "${FANOUT_COMMON[@]}")
S2A_ARGS=(fanout --connections 2000 --rooms 200 --rate 10000 "${FANOUT_COMMON[@]}")
S2B_ARGS=(fanout --connections 2000 --rooms 200 --rate 20000 "${FANOUT_COMMON[@]}")
S4_ARGS=(joinstorm --connections "$STORM_CONNECTIONS" --rooms "$STORM_ROOMS" --concurrency "$STORM_CONCURRENCY")

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
start_echo 2
say "echo --workers 2 on 127.0.0.1:$ECHO_PORT (pid $ECHO_PID)"
for run in $(seq "$RUNS"); do run_bench S1 "$run" "${S1_ARGS[@]}"; done
for run in $(seq "$RUNS"); do run_bench S2-10k "$run" "${S2A_ARGS[@]}"; done
for run in $(seq "$RUNS"); do run_bench S2-20k "$run" "${S2B_ARGS[@]}"; done
for run in $(seq "$RUNS"); do run_bench S4 "$run" "${S4_ARGS[@]}"; done
stop_echo

# S3 measures memory growth, so each run gets a fresh server: a heap grown by earlier scenarios
# would absorb the new connections and hide their cost.
for run in $(seq "$RUNS"); do
    start_echo 2
    run_idle "$run"
    stop_echo
done

start_echo 1
say "echo --workers 1 on 127.0.0.1:$ECHO_PORT (pid $ECHO_PID)"
for run in $(seq "$RUNS"); do run_bench S5-S1-w1 "$run" "${S1_ARGS[@]}"; done
for run in $(seq "$RUNS"); do run_bench S5-S2-w1 "$run" "${S2A_ARGS[@]}"; done
stop_echo

# ---------------------------------------------------------------------------------------------
say "writing $OUT"
files() { compgen -G "$RESULTS/$1-*.json" | tr '\n' ' '; }
median() { # scenario figure → number or "n/a"
    local f; f=$(files "$1")
    [[ -n $f ]] || { echo n/a; return; }
    # shellcheck disable=SC2086
    "$BENCH" summarize --figure "$2" $f 2>/dev/null || echo n/a
}
table() {
    local f; f=$(files "$1")
    if [[ -z $f ]]; then echo "_No successful run._"; return; fi
    # shellcheck disable=SC2086
    "$BENCH" summarize $f
}
# verdict value op target → "met" / "not met" / "n/a"
verdict() {
    [[ $1 == n/a ]] && { echo "n/a"; return; }
    awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { ok = (op == ">=") ? (v >= t) : (v <= t); print ok ? "met" : "**not met**" }'
}
fmt() { [[ $1 == n/a ]] && echo n/a || awk -v v="$1" -v d="${2:-0}" 'BEGIN { printf "%.*f", d, v }'; }
ratio() { [[ $1 == n/a || $2 == n/a ]] && echo n/a || awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

S1_RATE=$(median S1 deliveriesPerSecond); S1_LOST=$(median S1 lost)
S2A_P99=$(median S2-10k latencyP99); S2A_LOST=$(median S2-10k lost)
S2B_P99=$(median S2-20k latencyP99); S2B_LOST=$(median S2-20k lost)
S3_RSS=$(median S3 rssPerConnection); S3_CPU=$(median S3 serverCores)
S4_RATE=$(median S4 joinsPerSecond); S4_P99=$(median S4 joinP99)
W1_S1=$(median S5-S1-w1 deliveriesPerSecond); W1_S2P99=$(median S5-S2-w1 latencyP99)
S5_S1_RATIO=$(ratio "$S1_RATE" "$W1_S1")
S2_IN=$(median S2-10k sentPerSecond); W1_S2_IN=$(median S5-S2-w1 sentPerSecond)
# Deliveries per core the server used: whether a second worker costs efficiency, whatever the
# box leaves it. And the most the server could get with 2 workers: the cores the generator and
# Redis leave, over what 1 worker used.
S1_SERVER=$(median S1 serverCores); W1_SERVER=$(median S5-S1-w1 serverCores)
S1_PER_CORE=$(ratio "$S1_RATE" "$S1_SERVER"); W1_PER_CORE=$(ratio "$W1_S1" "$W1_SERVER")
S5_PER_CORE_RATIO=$(ratio "$S1_PER_CORE" "$W1_PER_CORE")
S1_OTHERS=$(awk -v g="$(median S1 generatorCores)" -v r="$(median S1 redisCores)" 'BEGIN { printf "%.2f", g + r }')
S5_CEILING=$(awk -v c="$(nproc)" -v o="$S1_OTHERS" -v w="$W1_SERVER" 'BEGIN { if (w > 0) printf "%.2f", (c - o) / w; else print "n/a" }')

{
    echo "# Echo benchmarks"
    echo
    echo "Generated by \`make bench\` (\`scripts/bench.sh\`) on $(date -u '+%Y-%m-%d %H:%M UTC'); do not edit by hand."
    if [[ $QUICK == 1 ]]; then
        echo
        echo "> **Quick mode** (\`BENCH_QUICK=1\`): one run per scenario, ${DURATION} s windows, S3 with $IDLE_CONNECTIONS"
        echo "> connections, S4 with $STORM_CONNECTIONS clients. For development only: not comparable with the targets."
    fi
    echo
    echo "How to run and how to read these numbers: [docs/benchmarks.md](docs/benchmarks.md)."
    echo
    echo "## Machine"
    echo
    echo "- CPU: $(awk -F: '/model name/ { gsub(/^ +/, "", $2); print $2; exit }' /proc/cpuinfo), $(nproc) cores online"
    echo "- Memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); kernel $(uname -r)"
    echo "- $(swift --version 2>/dev/null | head -1); $(redis-server --version | awk '{ print $1, $2, $3 }')"
    echo "- Open-file limit: $(ulimit -n) per process"
    echo "- Load average (1, 5, 15 min) before the runs: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- Server, Redis and generator share these cores. Nothing else is supposed to run during a"
    echo "  measurement: \"other processes CPU\" in each table shows how much did (from /proc/stat)."

    echo
    echo "## Setup"
    echo
    echo "- Release build: \`swift build -c release --product echo --product echo-worker --product echo-bench\`."
    echo "- Redis: a private \`redis-server --bind 127.0.0.1 --save '' --appendonly no\` on a free port."
    echo "- Server: \`HOST=127.0.0.1 PORT=\$PORT REDIS_URL=redis://127.0.0.1:\$REDIS_PORT ECHO_RATE_LIMIT=0 echo --workers N\`"
    echo "  (N = 2 unless the scenario says 1). The per-IP rate limit is lifted, as in any load test."
    echo "- Generator: \`echo-bench\` with one event loop per core; every run uses fresh room names."
    echo "- $RUNS run(s) per scenario; tables show median, min, max and spread = (max − min) / median."
    echo "- CPU figures are CPU seconds during the measurement window divided by its length (1.00 = one"
    echo "  core busy the whole time); \"server\" is the supervisor plus all its workers."
    echo
    echo "## Targets (issue 5)"
    echo
    echo "| scenario | target | median measured | verdict |"
    echo "| --- | --- | --- | --- |"
    echo "| S1 fan-out | ≥ 400,000 deliveries/s, zero loss | $(fmt "$S1_RATE") deliveries/s, lost $(fmt "$S1_LOST") | $(verdict "$S1_RATE" ">=" 400000), loss $(verdict "$S1_LOST" "<=" 0) |"
    echo "| S2 at 10k msgs/s | p99 ≤ 10 ms, zero loss | p99 $(fmt "$S2A_P99" 2) ms, lost $(fmt "$S2A_LOST") | $(verdict "$S2A_P99" "<=" 10), loss $(verdict "$S2A_LOST" "<=" 0) |"
    echo "| S2 at 20k msgs/s | p99 ≤ 20 ms, zero loss | p99 $(fmt "$S2B_P99" 2) ms, lost $(fmt "$S2B_LOST") | $(verdict "$S2B_P99" "<=" 20), loss $(verdict "$S2B_LOST" "<=" 0) |"
    echo "| S3 idle | ≤ 4 KB RSS per connection, near-zero CPU | $(fmt "$S3_RSS") B per connection, server $(fmt "$S3_CPU" 3) cores | $(verdict "$S3_RSS" "<=" 4096) |"
    echo "| S4 join storm | ≥ 10,000 joins/s, p99 ≤ 50 ms | $(fmt "$S4_RATE") joins/s, p99 $(fmt "$S4_P99" 2) ms | $(verdict "$S4_RATE" ">=" 10000), p99 $(verdict "$S4_P99" "<=" 50) |"
    echo "| S5 scale (S1) | 2 workers ≥ 1.6 × 1 worker | $(fmt "$S1_RATE") / $(fmt "$W1_S1") = $S5_S1_RATIO × | $(verdict "$S5_S1_RATIO" ">=" 1.6) |"
    echo "| S5 per server core (S1) | context for the row above | $(fmt "$S1_PER_CORE") (2 workers) vs $(fmt "$W1_PER_CORE") (1 worker) deliveries/s per server core = $S5_PER_CORE_RATIO × | expected at equal efficiency per core on $(nproc) shared cores: ($(nproc) − $S1_OTHERS generator + Redis) / $(fmt "$W1_SERVER" 2) = $S5_CEILING × |"
    echo "| S5 scale (S2 10k) | 2 workers ≥ 1.6 × 1 worker | p99 $(fmt "$S2A_P99" 2) ms (2 workers) vs $(fmt "$W1_S2P99" 2) ms (1 worker) at $(fmt "$S2_IN")/$(fmt "$W1_S2_IN") msgs/s in | see note |"
    echo
    echo "S2 is an open-loop test at a fixed input rate: both worker counts carry the same load, so its"
    echo "S5 comparison is the latency at that load, not a throughput ratio. The throughput ratio is S1's."
    echo "The S5 expectation is what 2 workers can reach here if each server core delivers as much as"
    echo "1 worker's did: the cores generator and Redis leave the server, over the cores 1 worker used."
    for scenario in S1 S2-10k S2-20k S3 S4 S5-S1-w1 S5-S2-w1; do
        echo
        case $scenario in
        S1) echo "## S1 fan-out: 1 room × 100 members, all send, saturate (window 4), 2 workers" ;;
        S2-10k) echo "## S2 many rooms: 200 rooms × 10 members, 10,000 msgs/s in, 2 workers" ;;
        S2-20k) echo "## S2 many rooms: 200 rooms × 10 members, 20,000 msgs/s in, 2 workers" ;;
        S3) echo "## S3 idle: $IDLE_CONNECTIONS joined connections ($IDLE_ROOMS rooms), held ${IDLE_HOLD} s, 2 workers" ;;
        S4) echo "## S4 join storm: $STORM_CONNECTIONS clients connect + join + history, $STORM_CONCURRENCY at a time, 2 workers" ;;
        S5-S1-w1) echo "## S5: S1 with 1 worker" ;;
        S5-S2-w1) echo "## S5: S2 (10,000 msgs/s) with 1 worker" ;;
        esac
        echo
        echo "\`${COMMANDS[$scenario]:-not run}\`"
        echo
        table "$scenario"
    done
    echo
    echo "Raw JSON reports and logs of this run: \`$WORK\` (temporary)."
} >"$OUT"

say "done: $OUT"
cat "$OUT" >&2
