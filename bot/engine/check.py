"""The one entry point of the engine: ``run_check`` returns a ``CheckResult``."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import psycopg

from driftbot.engine import history as history_mod
from driftbot.engine import sources
from driftbot.engine.db import connect, error_line, parse_url
from driftbot.engine.findings import history_findings, preview_findings
from driftbot.engine.lint_model import LintReport
from driftbot.engine.prisma8 import check as prisma8_check
from driftbot.engine.prisma8 import files as prisma8_files
from driftbot.engine.schema_check import check_schema
from driftbot.engine.result import CheckResult, SchemaReport, decide_state
from driftbot.errors import CannotConnect, ConfigError, DatabaseUnreachable, DriftbotError
from driftbot.settings import EnvironmentSettings, Settings


def run_check(settings: Settings, env: EnvironmentSettings, *, schema: bool = True, fetch: bool = True) -> CheckResult:
    """Check one environment: history, then (when asked) schema drift.

    Never raises for a problem of the environment: an unreachable database or an
    unreadable migrations source becomes a result in state ``error``.
    """
    started = time.perf_counter()
    version = None
    try:
        settled = sources.settle(env, Path(settings.cache_dir), fetch=fetch)
        env, version = settled.env, settled.prisma_version
        if settled.project is not None and settled.project.prisma8:
            return _run_prisma8(settings, env, settled, schema, started)
        source = sources.open_source(env, Path(settings.cache_dir))
        migrations = source.read(fetch=fetch and not settled.fetched)
        target = parse_url(env.database_url)
        with connect(env.database_url, environment=env.name, connect_timeout=settings.connect_timeout_s) as conn:
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{settings.check_statement_timeout_ms}ms",))
            rows = history_mod.read_rows(conn, target.schema)
            verdict = dataclasses.replace(history_mod.classify(migrations, rows), prisma_version=version)
            if verdict.missing_locally:
                verdict = dataclasses.replace(verdict, missing_locally_refs=_where_else(source, verdict.missing_locally))
            preview, unreplayable = None, False
            if schema:
                outcome = check_schema(settings, env, migrations, verdict, conn, target, folder=advice_folder(settled))
                report, found, preview = outcome.report, list(outcome.findings), outcome.preview
                unreplayable = outcome.unreplayable
                if outcome.by_hand:
                    verdict = with_by_hand(verdict, outcome.by_hand)
            else:
                report, found = SchemaReport(checked=False, reason="schema drift was not asked for"), []
            findings = history_findings(verdict)
            if any(f.case == "E" for f in found):  # the schema check's baseline carries its SQL
                findings = [f for f in findings if f.case != "E"]
            restore = next((f.action.arguments["migration"] for f in found if f.case == "B" and f.action.kind == "deploy"), None)
            findings = in_plan_order(findings, found) + preview_findings(preview, verdict, restore)
            lint = lint_pending(settings, env, migrations, verdict) if preview is not None or verdict.failed else None
    except (DriftbotError, psycopg.Error) as exc:
        kind = "unreachable" if isinstance(exc, CannotConnect) else None  # not connected to at all
        if isinstance(exc, psycopg.Error):  # the target went away mid-check
            exc = DatabaseUnreachable(f"The target database of {env.name} failed during the check: {error_line(exc)}")
        return CheckResult(
            environment=env.name,
            state="error",
            history=None,
            schema=SchemaReport(checked=False, reason=str(exc)),
            error=str(exc),
            duration_ms=(time.perf_counter() - started) * 1000,
            prisma_version=version,
            error_kind=kind,
        )
    state, error = decide_state(verdict, report, findings=findings), None
    if schema and not report.checked and state == "in_sync":
        if unreplayable:  # the migrations cannot build a database: a problem found in the history
            state = "drifted"
        else:  # a skipped schema check (no usable shadow) must not read as all clear
            state, error = "error", f"Schema drift could not be checked: {report.reason}."
    return CheckResult(
        environment=env.name,
        state=state,
        error=error,
        history=verdict,
        schema=report,
        findings=tuple(findings),
        duration_ms=(time.perf_counter() - started) * 1000,
        deploy_preview=preview,
        lint=lint,
        prisma_version=version,
        source=migrations.origin if migrations.revision is None else f"{migrations.origin} ({migrations.revision[:12]})",
    )


LINT_BUDGET_S = 20.0  # a check's lint of its pending migrations asks the data for at most this long


def lint_pending(settings: Settings, env: EnvironmentSettings, migrations: sources.Migrations,
                 verdict: history_mod.HistoryVerdict) -> LintReport:
    """The migrations ``migrate deploy`` would run (the deploy preview's list) and the failed ones a resolve
    request would mark (``--rolled-back`` has deploy run them again), linted on the target's data on a
    connection of their own (read-only, bounded); a lint that cannot run says why, never fails the check."""
    wanted = set(verdict.pending) | set(verdict.applied_by_hand) | {f.name for f in verdict.failed} | \
        set(verdict.rolled_back_pending)
    from driftbot.engine.lint import Limits, lint_on  # pglast and the rules: only a check that lints pays for their imports

    pending = tuple(m for m in migrations.items if m.name in wanted)
    limits = Limits(probe_timeout_ms=min(5_000, settings.check_statement_timeout_ms), budget_s=LINT_BUDGET_S)
    try:
        with connect(env.database_url, environment=env.name, connect_timeout=settings.connect_timeout_s,
                     autocommit=True) as conn:
            return lint_on(conn, pending, parse_url(env.database_url).schema, env.name, limits)
    except (DriftbotError, psycopg.Error) as exc:
        return LintReport(migrations=tuple(m.name for m in pending), environment=env.name,
                          error=f"the lint could not run: {exc}")


def _run_prisma8(settings: Settings, env: EnvironmentSettings, settled: sources.Settled, schema: bool,
                 started: float) -> CheckResult:
    """A Prisma 8 environment: the marker, ledger and graph instead of ``_prisma_migrations`` and
    migration.sql; the schema against the contract instead of a replay."""
    located = settled.project
    if env.git:
        raise ConfigError(f"{env.name}: Prisma 8 projects are read from a local folder for now (setting `project`); "
                          "a git source is not supported for them yet.")
    project = prisma8_files.read_project(dataclasses.replace(located, migrations=str(env.migrations)))
    target = parse_url(env.database_url)
    with connect(env.database_url, environment=env.name, connect_timeout=settings.connect_timeout_s) as conn:
        conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{settings.check_statement_timeout_ms}ms",))
        outcome = prisma8_check.check(project, settled.prisma_version, conn, target.schema, schema=schema)
    verdict, report, findings = outcome.verdict, outcome.report, list(outcome.findings)
    state = decide_state(verdict, report, findings=findings)
    return CheckResult(environment=env.name, state=state, history=verdict, schema=report, findings=tuple(findings),
                       duration_ms=(time.perf_counter() - started) * 1000, prisma_version=settled.prisma_version,
                       source=f"{project.migrations} (Prisma 8, contract {(project.contract_hash or 'not emitted')[:12]})")


def advice_folder(settled: sources.Settled) -> str:
    """The migrations folder as the team names it: inside the repository for a git source, inside the
    project for a project folder, else as configured."""
    env = settled.env
    if env.git:
        return env.path.strip("/")
    if settled.project is not None:
        inside = os.path.relpath(env.migrations, settled.project.folder)
        if not inside.startswith(".."):
            return inside
    return project_relative(str(env.migrations))


def project_relative(folder: str) -> str:
    """A migrations folder as the project names it, never the worker's file system: an absolute path is cut
    to its part from the last ``prisma`` folder on (``prisma/migrations``), else to its last name."""
    folder = folder.rstrip("/")
    if not os.path.isabs(folder):
        return folder
    parts = folder.split("/")
    if "prisma" in parts:
        return "/".join(parts[len(parts) - 1 - parts[::-1].index("prisma"):])
    return parts[-1] or folder


def in_plan_order(history: list, schema: list) -> list:
    """The findings as one plan: the history's own steps (failed and hand-run migrations resolved, files
    restored), then the files the schema findings add (catch-up, restore, enum values), then deploying
    the pending migrations, which ``migrate deploy`` runs together with a restore in folder order."""
    deploys = [f for f in history if f.action.kind == "deploy"]
    return [f for f in history if f.action.kind != "deploy"] + list(schema) + deploys


def with_by_hand(verdict: history_mod.HistoryVerdict, by_hand) -> history_mod.HistoryVerdict:
    """A migration wholly found in the live schema is applied by hand, no longer pending."""
    whole = tuple(b.name for b in by_hand if b.whole)
    return dataclasses.replace(
        verdict,
        by_hand=tuple(b for b in by_hand if not b.changes_no_schema),
        applied_by_hand=whole,
        pending=tuple(n for n in verdict.pending if n not in whole),
        no_schema_pending=tuple(b.name for b in by_hand if b.changes_no_schema),
    )


def _where_else(source, names: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...] | None], ...]:
    """For each database-only migration, the git refs whose history holds it (None: not searchable)."""
    out = []
    for name in names:
        try:
            refs = source.refs_containing(name)
        except DriftbotError:
            refs = None
        out.append((name, None if refs is None else tuple(refs)))
    return tuple(out)
