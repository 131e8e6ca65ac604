#!/usr/bin/env bash
# Fuzzes a real worker over its socket (mutated JSON requests, mangled frames, hostile HTTP) for
# FUZZ_SECONDS (default 600). Crash inputs land in Tests/chaos/corpus/. Does not touch
# docs/RELIABILITY.md unless WRITE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
bash scripts/venv.sh
swift build --product echo >/dev/null
swift build --product echo-worker >/dev/null
write=(--no-write)
if [[ "${WRITE:-0}" == "1" ]]; then write=(); fi
exec .venv/bin/python Tests/chaos/run.py --only fuzz --fuzz-seconds "${FUZZ_SECONDS:-600}" "${write[@]}"
