#!/usr/bin/env bash
# libFuzzer on the JSON request parser (ClientRequest.parse) for FUZZ_SECONDS (default 600), with
# AddressSanitizer. Built from Fuzz/ into .build-fuzz (never part of the main build). Seeds come
# from Tests/chaos/corpus/json; new interesting inputs go to .test-output/fuzz-parser/corpus and
# crashes to .test-output/fuzz-parser/ (keep reproducers under Tests/chaos/corpus/parser-crashes).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --package-path Fuzz --scratch-path .build-fuzz 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
swift build --package-path Fuzz --scratch-path .build-fuzz >/dev/null
out=.test-output/fuzz-parser
mkdir -p "$out/corpus"
cp -n Tests/chaos/corpus/json/* "$out/corpus/" 2>/dev/null || true
exec .build-fuzz/debug/ParseFuzz "$out/corpus" -max_total_time="${FUZZ_SECONDS:-600}" -max_len=65536 \
  -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$out/" -print_final_stats=1
