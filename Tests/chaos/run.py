"""Runs the chaos scenarios and writes docs/RELIABILITY.md; exits 1 if any row failed.

  .venv/bin/python Tests/chaos/run.py [--quick] [--only KEY ...] [--fuzz-seconds N] [--no-write] [--systemd]

Unless CHAOS_SYSTEMD=0 (or without root), the rows of Echo under a real systemd as PID 1 are added:
scenarios/systemd.py runs Tests/python/test_systemd_live.py once and makes a row of each test.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fuzz  # noqa: E402
import report  # noqa: E402
from scenario import Row, Settings  # noqa: E402
from scenarios import abuse, consumers, malformed, redis_faults, systemd, workers  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

SCENARIOS = {
    "worker-kill": workers.worker_kill_loop,
    "sighup": workers.sighup_loop,
    "ttin-ttou": workers.ttin_ttou_churn,
    "redis-kill": redis_faults.redis_kill_restart,
    "redis-stop": redis_faults.redis_sigstop,
    "redis-empty": redis_faults.redis_restart_empty,
    "slow-consumer": consumers.slow_consumer,
    "history-hoard": consumers.history_hoarders,
    "slowloris": abuse.slowloris,
    "flood": abuse.connection_flood,
    "join-guess": abuse.join_guessing,
    "malformed": malformed.malformed_input,
}


async def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", default=os.environ.get("CHAOS_QUICK") == "1")
    p.add_argument("--only", nargs="*", help=f"rows to run: {', '.join(SCENARIOS)}, fuzz")
    p.add_argument("--fuzz-seconds", type=float, default=None, help="0 skips the fuzz row")
    p.add_argument("--no-write", action="store_true", help="do not touch docs/RELIABILITY.md")
    p.add_argument("--out", default=str(ROOT / "docs" / "RELIABILITY.md"))
    p.add_argument("--systemd", action=argparse.BooleanOptionalAction,
                   default=os.environ.get("CHAOS_SYSTEMD", "1") == "1" and os.geteuid() == 0,
                   help="add the systemd-as-PID-1 rows (scenarios/systemd.py; needs root)")
    args = p.parse_args()
    # A fuzz or flood connection the server already closed makes asyncio warn on every write.
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    settings = Settings(quick=args.quick)
    keys = args.only or list(SCENARIOS) + ["fuzz"]
    fuzz_seconds = args.fuzz_seconds if args.fuzz_seconds is not None else (20 if args.quick else 600)
    rows: list[Row] = []
    for key in keys:
        if key == "fuzz":
            if fuzz_seconds <= 0:
                continue
            row = await fuzz.fuzz_socket(fuzz_seconds)
        else:
            row = await SCENARIOS[key](settings)
        rows.append(row)
        print(f"[{'pass' if row.ok else 'FAIL'}] {row.key} ({row.seconds:.0f} s): sent {row.sent}, lost {row.lost}, "
              f"duplicated {row.duplicated}, refused {row.refused}, recover {row.recover} — {row.verdict}", flush=True)
        print(f"    saw: {row.saw}", flush=True)
        for d in row.details:
            print(f"    {d}", flush=True)
    if args.systemd:
        for row in await systemd.rows(settings.quick):
            rows.append(row)
            print(f"[{'pass' if row.ok else 'FAIL'}] {row.key}: {row.saw} — {row.verdict}", flush=True)
    if not args.no_write:
        out = Path(args.out)
        out.write_text(report.render(rows, ROOT, settings.quick, report.previous_before_section(out)))
        print(f"wrote {out}")
    failed = [r.key for r in rows if not r.ok]
    print(f"{len(rows) - len(failed)}/{len(rows)} rows pass" + (f"; failing: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
