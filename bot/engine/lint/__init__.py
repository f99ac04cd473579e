"""``driftbot lint``: what each statement of a migration will do on an environment, before it is deployed.

The lock it takes, whether it rewrites or scans the table and how big that table is on the target; whether
it will fail on the target's rows (NULLs, duplicates, orphans, a CHECK, a cast), Prisma's own failure
classes (CONCURRENTLY in a multi-statement migration, an enum value added and used in one migration, data
lost by a drop) and the safer form. ``rules`` is pure over PostgreSQL's parse trees; ``target`` is the only
part that reads the database (read-only, bounded).
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg

from driftbot.engine.lint import rules, target
from driftbot.engine.lint_model import SEVERITIES, SEVERITY_WORDS, LintFinding, LintReport, StatementInfo
from driftbot.engine.lint.rules import Limits
from driftbot.engine.sources import SCRIPT, LocalMigration, read_folder
from driftbot.errors import DatabaseUnreachable, MigrationsSourceError

__all__ = ["SEVERITIES", "SEVERITY_WORDS", "LintFinding", "LintReport", "StatementInfo", "Limits", "lint_on",
           "lint_text", "lint_offline"]


def lint_text(migrations: tuple[LocalMigration, ...] | list[LocalMigration], schema: str = "public",
              together: bool = False) -> LintReport:
    """The rules that need no database, over *migrations* in deploy order (*together*: in one deploy, as
    pending migrations are; otherwise each on its own day, as a folder's history was)."""
    started = time.perf_counter()
    p = rules.plan([(m.name, m.script) for m in migrations], schema, together)
    infos, findings = rules.judge(p, None, None)
    return LintReport(migrations=tuple(m.name for m in migrations), statements=infos, findings=findings,
                      reason="offline: the rules that need no database", duration_ms=(time.perf_counter() - started) * 1000)


def lint_on(conn: psycopg.Connection, migrations: tuple[LocalMigration, ...] | list[LocalMigration],
            schema: str = "public", environment: str | None = None, limits: Limits = Limits()) -> LintReport:
    """*migrations* (deploy order) against the database of *conn*: an autocommit connection, made read-only
    here, on the environment's check role."""
    started = time.perf_counter()
    p = rules.plan([(m.name, m.script) for m in migrations], schema)
    tables = set(p.existing) | {q.ref_table for q in p.questions if q.ref_table is not None}
    try:
        target.open_reader(conn)
        facts = target.table_facts(conn, tables)
        answers = target.answer(conn, p.questions, facts, limits)
    except psycopg.OperationalError as exc:
        raise DatabaseUnreachable(f"The target database of {environment or 'the environment'} failed during the "
                                  f"lint: {str(exc).strip().splitlines()[0] if str(exc).strip() else 'closed'}") from None
    infos, findings = rules.judge(p, facts, answers, limits)
    return LintReport(migrations=tuple(m.name for m in migrations), statements=infos, findings=findings,
                      environment=environment, data_checked=True, duration_ms=(time.perf_counter() - started) * 1000)


def read_path(path: str | Path) -> tuple[LocalMigration, ...]:
    """A migrations folder, one migration's folder, or one .sql file."""
    root = Path(path)
    if root.is_file():
        name = root.parent.name if root.name == SCRIPT else root.stem
        return (LocalMigration.from_bytes(name, root.read_bytes(), str(root.parent)),)
    if (root / SCRIPT).is_file():
        return (LocalMigration.from_bytes(root.name, (root / SCRIPT).read_bytes(), str(root.parent)),)
    if root.is_dir():
        return read_folder(root).items
    raise MigrationsSourceError(f"{root} is neither a migrations folder, a migration's folder nor a .sql file.")


def lint_offline(path: str | Path, schema: str = "public") -> LintReport:
    """``driftbot lint --offline PATH``: the rules that need no database, over a folder of migrations."""
    return lint_text(read_path(path), schema)
