#!/usr/bin/env bash
# The chaos suite: every fault row against real processes, then (unless CHAOS_QUICK=1 or FUZZ=0)
# the 10-minute socket fuzz; writes docs/RELIABILITY.md and fails if any row lost, duplicated or
# refused something it should not have. CHAOS_QUICK=1 runs a short version; arguments are passed to
# Tests/chaos/run.py (e.g. --only worker-kill redis-kill).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
bash scripts/venv.sh
swift build --product echo >/dev/null
swift build --product echo-worker >/dev/null
args=()
if [[ "${FUZZ:-1}" == "0" ]]; then args+=(--fuzz-seconds 0); fi
exec .venv/bin/python Tests/chaos/run.py "${args[@]}" "$@"
