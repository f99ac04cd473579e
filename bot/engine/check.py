"""The one entry point of the engine: ``run_check`` returns a ``CheckResult``."""

from __future__ import annotations

import time
from pathlib import Path

from bot.engine import history as history_mod
from bot.engine import sources
from bot.engine.db import connect, parse_url
from bot.engine.findings import history_findings
from bot.engine.result import CheckResult, SchemaReport, decide_state
from bot.errors import DriftbotError
from bot.settings import EnvironmentSettings, Settings


def run_check(settings: Settings, env: EnvironmentSettings, *, schema: bool = True, fetch: bool = True) -> CheckResult:
    """Check one environment: history, then (when asked) schema drift.

    Never raises for a problem of the environment: an unreachable database or an
    unreadable migrations source becomes a result in state ``error``.
    """
    started = time.perf_counter()
    try:
        migrations = sources.load(env, Path(settings.cache_dir), fetch=fetch)
        target = parse_url(env.database_url)
        with connect(env.database_url, connect_timeout=settings.connect_timeout_s) as conn:
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{settings.check_statement_timeout_ms}ms",))
            rows = history_mod.read_rows(conn, target.schema)
            verdict = history_mod.classify(migrations, rows)
            report = SchemaReport(checked=False, reason="schema drift is not checked by this build yet")
            findings = history_findings(verdict)
    except DriftbotError as exc:
        return CheckResult(
            environment=env.name,
            state="error",
            history=None,
            schema=SchemaReport(checked=False, reason=str(exc)),
            error=str(exc),
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    return CheckResult(
        environment=env.name,
        state=decide_state(verdict, report),
        history=verdict,
        schema=report,
        findings=tuple(findings),
        duration_ms=(time.perf_counter() - started) * 1000,
        source=migrations.origin if migrations.revision is None else f"{migrations.origin} ({migrations.revision[:12]})",
    )
