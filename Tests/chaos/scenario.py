"""What every scenario shares: the result row, and one fault-injection run under steady traffic."""
from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

from checker import Summary, recovery_seconds
from fleet import Fleet
from harness import EchoProc, RedisProc


@dataclass
class Row:
    key: str
    fault: str
    saw: str = ""
    sent: str = "–"
    lost: int = 0
    duplicated: int = 0
    refused: str = "0"
    recover: str = "–"
    ok: bool = False
    verdict: str = ""
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0
    summary: Summary | None = None


@dataclass
class Settings:
    quick: bool = False

    def dur(self, full: float, quick: float) -> float:
        return quick if self.quick else full


@dataclass
class Ctx:
    redis: RedisProc
    echo: EchoProc
    fleet: Fleet
    settings: Settings
    events: list[float] = field(default_factory=list)  # when a fault ended (recovery runs from here)
    notes: list[str] = field(default_factory=list)
    refusals_explained_by: str | None = None  # a documented limit that may refuse connects here
    failures: list[str] = field(default_factory=list)  # what the scenario itself found wrong
    attacker_saw: str | None = None  # abuse rows: what the abusive address got
    attacker_refused: str | None = None  # abuse rows: what was refused to it, and by which limit


def fmt_recover(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if math.isinf(seconds):
        return "never"
    return f"{seconds:.1f} s"


def describe(s: Summary) -> str:
    parts = []
    closes = ", ".join(f"{n}× {code}" for code, n in sorted(s.closes.items(), key=lambda kv: str(kv[0])) if code != 1000)
    if closes:
        parts.append(f"closes {closes}")
    if s.errors:
        parts.append("errors " + ", ".join(f"{n}× {c}" for c, n in sorted(s.errors.items())))
    if s.resumes:
        parts.append(f"{s.resumes} resumes")
    if s.recovered_false:
        parts.append(f"{s.recovered_false}× recovered:false ({s.excused} deliveries admitted missing)")
    if s.refused_connects:
        parts.append(f"{s.refused_connects} connects failed")
    return "; ".join(parts) or "nothing unusual"


def judge(row: Row, s: Summary, extra_failures: list[str], refused_limit: str | None = None):
    row.summary = s
    row.sent = f"{s.sent}"
    row.lost = s.lost
    row.duplicated = s.duplicated
    failures = list(extra_failures)
    if s.lost:
        failures.append(f"{s.lost} lost")
    if s.duplicated:
        failures.append(f"{s.duplicated} duplicated")
    if s.out_of_order:
        failures.append(f"{s.out_of_order} out of order")
    if s.phantom:
        failures.append(f"{s.phantom} delivered but never stored")
    if s.unconfirmed:
        failures.append(f"{s.unconfirmed} sends never confirmed")
    if s.never_joined:
        failures.append(f"{len(s.never_joined)} clients never joined")
    if s.refused_messages:
        failures.append(f"{s.refused_messages} messages refused")
    if s.refused_connects:
        if refused_limit:
            row.refused = f"{s.refused_connects} connects ({refused_limit})"
        else:
            row.refused = f"{s.refused_connects} connects"
            failures.append(f"{s.refused_connects} connects refused")
    row.details.extend(s.examples)
    row.ok = not failures
    row.verdict = "pass" if row.ok else "FAIL: " + "; ".join(failures)


async def run_fault(key: str, fault: str, inject, settings: Settings, *, appendonly=False, workers=2,
                    env: dict | None = None, fleet_kwargs: dict | None = None, per_ip_limits: bool = False) -> Row:
    """Starts Redis + echo + a fleet, lets traffic run, calls `inject(ctx)`, then checks everyone."""
    row = Row(key, fault)
    started = time.monotonic()
    redis = RedisProc(appendonly=appendonly, name=f"redis-{key}").start()
    echo = EchoProc(redis, workers=workers, env=env, name=f"echo-{key}", per_ip_limits=per_ip_limits)
    try:
        echo.wait_healthy(timeout=60, workers=workers)
        fleet = Fleet(echo.ws_url, tag=key[:6], **(fleet_kwargs or {}))
        await fleet.start()
        ctx = Ctx(redis, echo, fleet, settings)
        await asyncio.sleep(2)
        await inject(ctx)
        # Traffic goes on after the last fault until every sender got a new message through (or
        # 20 s): recovery is measured, not cut short by the end of the row.
        settle_until = time.monotonic() + 20
        await asyncio.sleep(2)
        while ctx.events and time.monotonic() < settle_until:
            if not math.isinf(recovery_seconds([c.log for c in fleet.clients], ctx.events) or 0):
                break
            await asyncio.sleep(0.5)
        summary = await fleet.stop(redis.port)
        failures = list(ctx.failures)
        if not echo.alive():
            failures.append(f"echo exited ({echo.proc.returncode})")
        else:
            try:
                echo.wait_healthy(timeout=20)
            except Exception as e:
                failures.append(f"/health not ok at the end: {e}")
        row.recover = fmt_recover(recovery_seconds([c.log for c in fleet.clients], ctx.events))
        if ctx.events and row.recover == "never":
            failures.append("a sender never recovered")
        judge(row, summary, failures, ctx.refusals_explained_by)
        row.saw = describe(summary)
        if ctx.attacker_saw is not None:
            row.saw = f"attacker: {ctx.attacker_saw}. Honest clients (127.0.0.2): {row.saw}"
            row.refused = f"attacker: {ctx.attacker_refused or '0'}; honest clients: {row.refused}"
        row.details.extend(ctx.notes)
    except Exception as e:
        row.ok = False
        row.verdict = f"FAIL: harness error {type(e).__name__}: {e}"
    finally:
        echo.stop()
        redis.cleanup()
        row.seconds = time.monotonic() - started
        row.details.append(f"logs: {echo.log_path}")
    return row
