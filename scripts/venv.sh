#!/usr/bin/env bash
# The test venv: PyPI packages in .venv, re-installed only when requirements.txt changes.
set -euo pipefail
cd "$(dirname "$0")/.."
req=Tests/python/requirements.txt
stamp=.venv/.requirements-installed
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
if [[ ! -f "$stamp" ]] || ! cmp -s "$req" "$stamp"; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r "$req"
  cp "$req" "$stamp"
fi
