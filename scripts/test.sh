#!/usr/bin/env bash
# Runs every test: Swift unit tests, then the Python suites against real processes (a private
# redis-server on a free port, real echo/echo-worker binaries, a real Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh --test
bash scripts/venv.sh

echo "== build"
swift build --build-tests 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
# The grep above hides progress lines; make sure the build really succeeded.
swift build --build-tests >/dev/null

out=.test-output
mkdir -p "$out"
redis_dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$redis_dir" \
  --daemonize yes --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log"
cluster_dir=$(mktemp -d)
cleanup() {
  [[ -f "$redis_dir/redis.pid" ]] && kill "$(cat "$redis_dir/redis.pid")" 2>/dev/null || true
  rm -rf "$redis_dir"
  (cd Tests/python && ../../.venv/bin/python cluster_ctl.py stop "$cluster_dir") || true
  rm -rf "$cluster_dir"
}
trap cleanup EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

echo "== unit tests (swift test)"
# Per-test progress lines go to the log only; failures, and the closing summary, are shown.
swift test --skip-build > "$out/swift-test.log" 2>&1 || true
grep -E '✘|error:|Test run with' "$out/swift-test.log" || true
# The verdict comes from Swift Testing's closing line (the XCTest runner has no tests here).
if ! grep -qE 'Test run with [0-9]+ tests? (in [0-9]+ suites? )?passed' "$out/swift-test.log"; then
  echo "swift test failed" >&2
  grep -E '✘|error' "$out/swift-test.log" | head -40 >&2
  exit 1
fi

echo "== integration, system and browser tests (pytest, redis on port $port)"
ECHO_TEST_REDIS_URL="redis://127.0.0.1:$port" .venv/bin/pytest Tests/python -ra "$@"

# Issue 12: the whole protocol suite again, with Echo on a Redis Cluster (3 primaries, 3 replicas);
# typing (issue 13) too: it is published by SPUBLISH on the room's shard; edit and delete: their
# script reads, appends and publishes in the room's slot; moderation: the join, kick and lock scripts
# read and write the room's moderation hash in the room's slot and publish there.
cluster_url=$(cd Tests/python && ../../.venv/bin/python cluster_ctl.py start "$cluster_dir")
echo "== the protocol tests against a Redis Cluster ($cluster_url)"
ECHO_TEST_REDIS_URL="$cluster_url" .venv/bin/pytest Tests/python/test_protocol.py Tests/python/test_typing.py Tests/python/test_edit_delete.py Tests/python/test_react.py Tests/python/test_moderation.py Tests/python/test_e2e.py -ra "$@"
