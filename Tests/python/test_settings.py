"""Issue 10, move 5: every setting is declared once; the binaries' flags, --help and errors come
from that table."""
from __future__ import annotations

import re
import subprocess

from conftest import BIN_DIR


def run(*args, env=None):
    return subprocess.run([str(BIN_DIR / args[0]), *args[1:]], capture_output=True, text=True, timeout=30, env=env)


def documented_settings():
    table = run("echo", "config-table")
    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if line.startswith("| `")]
    settings = []
    for row in rows:
        flag = re.search(r"`(--[a-z-]+)", row)
        settings.append((re.match(r"\| `([A-Z_]+)`", row).group(1), flag.group(1) if flag else None, "set by `echo`" in row))
    return settings


def test_help_lists_every_setting_with_its_flag():
    settings = documented_settings()
    assert len(settings) >= 35
    serve = run("echo", "serve", "--help").stdout
    worker = run("echo-worker", "--help").stdout
    for name, flag, hand_off in settings:
        # What echo hands each worker is a worker's flag, not the supervisor's.
        help_text = worker if hand_off else serve
        assert name in help_text, name
        if flag:
            assert flag in help_text, flag
    # The worker lists its own settings and none of the supervisor's.
    assert "ECHO_RATE_LIMIT" in worker and "--rate-limit" in worker
    assert "ECHO_WORKERS" not in worker and "--drain-timeout" not in worker


def test_unknown_flags_and_bad_values_are_clear_errors():
    unknown = run("echo", "--no-such-flag", "1")
    assert unknown.returncode == 64 and "Unknown option '--no-such-flag'" in unknown.stderr, unknown
    supervisor_only = run("echo-worker", "--workers", "2")
    assert supervisor_only.returncode == 64 and "Unknown option '--workers'" in supervisor_only.stderr
    bad = run("echo", "--port=http", "--workers", "1")
    assert bad.returncode == 78 and "PORT=http is not valid" in bad.stderr, bad
    out_of_range = run("echo-worker", "--rate-burst", "0")
    assert out_of_range.returncode == 78 and "ECHO_RATE_BURST=0 is not valid: expected a whole number in 1...1000000000" in out_of_range.stderr
