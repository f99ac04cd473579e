"""``driftbot lint ENV``: the migrations ``migrate deploy`` would run now, linted on the environment's data.

Apart from ``driftbot.engine.lint`` itself so that a check (which lints the pending migrations it already
knows) does not import the sources and the preview for it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import psycopg

from driftbot.engine import history, sources
from driftbot.engine.db import connect, parse_url
from driftbot.engine.lint import LintReport, lint_on
from driftbot.engine.lint.rules import Limits
from driftbot.engine.preview import pending_for_deploy
from driftbot.engine.sources import LocalMigration
from driftbot.errors import DriftbotError


def lint_environment(settings, env, migration: str | None = None, limits: Limits | None = None) -> LintReport:
    """``driftbot lint ENV``: the migrations ``migrate deploy`` would run now (or the one named), on the
    environment's data, through its check role."""
    cache = Path(settings.cache_dir)
    settled = sources.settle(env, cache)
    env = settled.env
    migrations = sources.open_source(env, cache).read(fetch=not settled.fetched)
    schema = parse_url(env.database_url).schema
    limits = limits or Limits(probe_timeout_ms=min(5_000, settings.check_statement_timeout_ms))
    with connect(env.database_url, environment=env.name, connect_timeout=settings.connect_timeout_s,
                 autocommit=True) as conn:
        try:
            verdict = history.classify(migrations, history.read_rows(conn, schema))
        except psycopg.Error as exc:
            raise DriftbotError(f"Reading _prisma_migrations of {env.name} failed: {exc.diag.message_primary or exc}") from None
        if migration is not None:
            found = migrations.by_name().get(migration)
            if found is None:
                raise DriftbotError(f"No migration named {migration} in {migrations.origin}. "
                                    f"Pending here: {', '.join(verdict.pending) or 'none'}.")
            chosen: tuple[LocalMigration, ...] = (found,)
        else:
            chosen = pending_for_deploy(verdict, migrations)
        report = lint_on(conn, chosen, schema, env.name, limits)
    if migration is not None and migration in set(verdict.applied):
        report = dataclasses.replace(report, reason=f"{migration} is already applied on {env.name}: its checks read the data as "
                                        "it is after it ran")
    return report
