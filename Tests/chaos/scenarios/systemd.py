"""Rows for Echo under a real systemd as PID 1: Tests/python/test_systemd_live.py, run once (one
throwaway systemd in private namespaces, the shipped unit and env file, the embedded Redis). Each
test is a row; its verdict is the test's, and what it measured is the line it printed. The
accounting is the tests' own: the reload row's receiver must hold exactly what the sender sent,
the connect loops count every refused or unanswered connect, stop checks every close code."""
from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from scenario import Row

ROOT = Path(__file__).resolve().parents[3]
TESTS = ROOT / "Tests" / "python" / "test_systemd_live.py"

# (row key, test name, fault, the start of the line the test prints with its figures)
ROWS = [
    ("systemd-start", "test_start_with_the_shipped_unit_serves_chat_and_health",
     "systemd as PID 1: `systemctl start echo`, shipped unit and env file, embedded Redis", "systemctl start echo:"),
    ("systemd-sandbox", "test_the_sandbox_is_live",
     "systemd as PID 1: the sandbox directives live (dynamic user, no capabilities, seccomp, read-only /usr and /etc)", None),
    ("systemd-journal", "test_the_journal_has_no_error_lines_at_start",
     "systemd as PID 1: no error line in the journal at start", None),
    ("systemd-reload", "test_reload_under_a_connect_loop_refuses_nothing_and_loses_nothing",
     "systemd as PID 1: `systemctl reload echo` under a connect loop and a chat", "systemctl reload:"),
    ("systemd-churn", "test_sigttin_sigttou_churn_refuses_nothing",
     "systemd as PID 1: SIGTTIN/SIGTTOU (`systemctl kill`) under a connect loop", "SIGTTIN/SIGTTOU churn:"),
    ("systemd-watchdog", "test_watchdog_restarts_a_stopped_supervisor",
     "systemd as PID 1: watchdog (SIGSTOP of the supervisor)", "watchdog:"),
    ("systemd-stop", "test_stop_drains_every_websocket_with_1001",
     "systemd as PID 1: `systemctl stop echo` drains WebSockets", "systemctl stop:"),
]


def _run_tests(report_path: Path) -> tuple[str, dict[str, str]]:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", str(TESTS), "-s", "-q", "-p", "no:cacheprovider",
         f"--junitxml={report_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    outcomes: dict[str, str] = {}
    if report_path.exists():
        for case in ET.parse(report_path).getroot().iter("testcase"):
            # Element truthiness counts children: compare with None.
            failure = next((e for e in (case.find("failure"), case.find("error")) if e is not None), None)
            skipped = case.find("skipped")
            if failure is not None:
                outcomes[case.get("name")] = "FAIL: " + failure.get("message", "")[:300]
            elif skipped is not None:
                outcomes[case.get("name")] = "skipped: " + skipped.get("message", "")[:200]
            else:
                outcomes[case.get("name")] = "pass"
    return out.stdout + out.stderr, outcomes


async def rows(quick: bool) -> list[Row]:
    started = time.monotonic()
    report_path = ROOT / ".test-output" / "chaos" / "systemd-live.xml"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.unlink(missing_ok=True)
    output, outcomes = await asyncio.to_thread(_run_tests, report_path)
    seconds = time.monotonic() - started
    result = []
    for key, test, fault, prefix in ROWS:
        outcome = outcomes.get(test, "FAIL: did not run (see .test-output/chaos/systemd-live.log)")
        line = next((m.group(0) for m in re.finditer(rf"^.*{re.escape(prefix)}.*$", output, re.M)), "") if prefix else ""
        saw = line[line.index(prefix):] if line else ("checked" if outcome == "pass" else "")
        refused = "0" if outcome == "pass" else "–"
        result.append(Row(key, fault, saw=saw, refused=refused, ok=outcome == "pass", verdict=outcome,
                          seconds=seconds / len(ROWS)))
    (ROOT / ".test-output" / "chaos" / "systemd-live.log").write_text(output)
    return result
