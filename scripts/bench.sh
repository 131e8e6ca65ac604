#!/usr/bin/env bash
# `make bench`: builds Echo in release mode and runs `echo-bench suite`, which starts a private
# Redis and `echo` on loopback, runs the standard scenarios S1–S5, S1 in end-to-end encrypted rooms and
# the TLS rows (three times each), then S6 against that Redis and against a 3-primary Redis Cluster it
# starts (stepped rates, once), then times the page's crypto in Chromium (scripts/bench_e2e_browser.py,
# once), and writes BENCHMARKS.md with the median and spread of every figure (docs/benchmarks.md).
#
#   BENCH_QUICK=1   one run per scenario, short durations, small S3/S4 (for development; the
#                   numbers are not comparable with a full run)
#   BENCH_OUT=path  where to write the report (default: BENCHMARKS.md at the repository root)
#   BENCH_RUNS=n    runs per scenario (default 3, quick 1)
#   BENCH_ONLY=ids  only these scenarios, comma-separated (S1,S2-10k,S2-20k,S3,S4,S5-S1-w1,S5-S2-w1,
#                   over TLS: S1-tls,S1-tls-compact,S3-tls,S3-tls-compact,S4-tls,S4-tls-resumed;
#                   Redis Cluster: S6; end-to-end encryption: S1-e2e,E2E-browser)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash scripts/install-deps.sh

LOGS=$(mktemp -d /tmp/echo-bench-build.XXXXXX)
echo "== building release binaries" >&2
for product in echo echo-worker echo-bench; do
    if ! swift build -c release --product "$product" >"$LOGS/build-$product.log" 2>&1; then
        cat "$LOGS/build-$product.log" >&2
        echo "bench.sh: release build of $product failed" >&2
        exit 1
    fi
done
BIN=$(swift build -c release --show-bin-path)

args=(suite --out "${BENCH_OUT:-$ROOT/BENCHMARKS.md}" --echo "$BIN/echo")
[[ ${BENCH_QUICK:-0} == 1 ]] && args+=(--quick)
[[ -n ${BENCH_RUNS:-} ]] && args+=(--runs "$BENCH_RUNS")
[[ -n ${BENCH_ONLY:-} ]] && args+=(--only "$BENCH_ONLY")
exec "$BIN/echo-bench" "${args[@]}"
