"""The plan an approver binds to says exactly what the writer runs."""

from __future__ import annotations

import re

from driftbot.engine import writers
from driftbot.engine.sources import read_folder
from driftbot.requests.plans import make_plan
from tests.factory import ENUM, INIT, deploy, execute, write_migrations

M1, M2 = "20250101000000_init", "20250102000000_media"


def _statements(sql: str) -> list[str]:
    """A plan's SQL as statements, without its comments and the final semicolons."""
    body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def test_the_resolve_applied_plan_is_the_sql_the_writer_runs(db, tmp_path):
    folder = write_migrations(tmp_path / "migrations", {M1: INIT, M2: ENUM})
    deploy(db, write_migrations(tmp_path / "first", {M1: INIT}))
    execute(db, "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count) "
                "VALUES ('00000000-0000-0000-0000-000000000001', 'x', %s, now(), 0)", (M2,))  # a failed attempt
    migrations = read_folder(folder)
    plan = make_plan("prod", "resolve_applied", {"migration": M2}, "fp", migrations.by_name()[M2].checksum)
    done = writers.resolve_applied(db, migrations, M2)
    ran = [re.sub(r"'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'", "<new uuid>", s) for s in done.statements]
    assert _statements(plan.sql) == ran


def test_the_resolve_rolled_back_plan_is_the_sql_the_writer_runs(db, tmp_path):
    deploy(db, write_migrations(tmp_path / "first", {M1: INIT}))
    execute(db, "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count) "
                "VALUES ('00000000-0000-0000-0000-000000000001', 'x', %s, now(), 0)", (M2,))
    plan = make_plan("prod", "resolve_rolled_back", {"migration": M2}, "fp")
    done = writers.resolve_rolled_back(db, M2)
    assert _statements(plan.sql) == list(done.statements)
