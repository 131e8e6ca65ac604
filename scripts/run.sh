#!/usr/bin/env bash
# `make run`: installs what is missing, builds release, and starts Echo on port 8080 (PORT to
# change). With no REDIS_URL, `echo` starts a private redis-server of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product echo
swift build -c release --product echo-worker
export PORT="${PORT:-8080}"
export ECHO_WEB_ROOT="${ECHO_WEB_ROOT:-$PWD/web}"
echo "Echo on http://localhost:$PORT/ (Ctrl-C to stop)"
exec .build/release/echo "$@"
