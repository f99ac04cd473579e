"""Shadow replay: scratch databases, the replay cache, the sweeper, and bad input."""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
from psycopg import sql

from driftbot.engine import shadow
from driftbot.engine.check import run_check
from driftbot.engine.sources import read_folder
from driftbot.settings import Settings
from tests.factory import INIT, POSTS, deploy, write_migrations
from tests.support import as_role, login_role

M1, M2 = "20250101000000_init", "20250102000000_posts"


def mine(server: str) -> list[str]:
    """Scratch databases of this process still on the server."""
    with psycopg.connect(server, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                            (f"{shadow.PREFIX}%\\_{os.getpid()}\\_%",)).fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def new_scratch(pg_url):
    """Scratch databases of this process made during the test and still on the server: an in-process
    `driftbot status` of another test leaves its own for the housekeeping after its answer to drop."""
    before = set(mine(pg_url))
    return lambda: [name for name in mine(pg_url) if name not in before]


@pytest.fixture
def role_without_createdb(pg_url):
    with login_role(pg_url, "drifttest_nocreatedb") as name:
        yield name


def items(tmp_path, scripts):
    return read_folder(write_migrations(tmp_path / uuid.uuid4().hex[:6], scripts)).items


def test_replay_builds_the_schema_and_drops_the_scratch_database(pg_url, tmp_path, new_scratch):
    result = shadow.replay(pg_url, items(tmp_path, {M1: INIT, M2: POSTS}), ("public",))
    assert result.error is None and [t.name for t in result.snapshot.tables] == ["Post", "User"]
    assert new_scratch() == []


def test_warm_replay_comes_from_the_cache_and_a_changed_migration_invalidates_it(pg_url, tmp_path):
    cache = shadow.ReplayCache(tmp_path / "cache")
    calls = []

    def server():
        calls.append(1)
        return pg_url

    first = shadow.replayed_schema(server, items(tmp_path, {M1: INIT}), ("public",), "public", cache)
    warm = shadow.replayed_schema(server, items(tmp_path, {M1: INIT}), ("public",), "public", cache)
    assert (first.cached, warm.cached, len(calls)) == (False, True, 1)
    assert warm.snapshot == first.snapshot
    edited = shadow.replayed_schema(server, items(tmp_path, {M1: INIT + "-- edited\n"}), ("public",), "public", cache)
    added = shadow.replayed_schema(server, items(tmp_path, {M1: INIT, M2: POSTS}), ("public",), "public", cache)
    assert (edited.cached, added.cached, len(calls)) == (False, False, 3)
    assert [t.name for t in added.snapshot.tables] == ["Post", "User"]


def test_a_migration_with_a_syntax_error_is_a_finding_with_its_statement(pg_url, tmp_path, new_scratch):
    bad = 'CREATE TABLE "A" ("id" INTEGER);\nCREATE TABEL "B" ("id" INTEGER);\n'
    result = shadow.replay(pg_url, items(tmp_path, {M1: INIT, M2: bad}), ("public",))
    assert result.snapshot is None
    assert result.error.migration == M2 and result.error.sqlstate == "42601"
    assert result.error.statement == 'CREATE TABEL "B" ("id" INTEGER);'
    assert new_scratch() == []


def test_a_migration_needing_a_missing_extension(pg_url, tmp_path, new_scratch):
    result = shadow.replay(pg_url, items(tmp_path, {M1: 'CREATE EXTENSION IF NOT EXISTS "no_such_extension_x";'}), ("public",))
    assert result.error.migration == M1 and "no_such_extension_x" in result.error.message
    assert new_scratch() == []


def test_a_shadow_server_that_refuses_create_database(pg_url, tmp_path, role_without_createdb, new_scratch):
    with pytest.raises(shadow.ShadowUnavailable, match="refused CREATE DATABASE"):
        shadow.replay(as_role(pg_url, role_without_createdb), items(tmp_path, {M1: INIT}), ("public",))
    assert new_scratch() == []


def test_without_shadow_url_a_role_without_createdb_means_not_checked(db, pg_url, tmp_path, role_without_createdb):
    folder = write_migrations(tmp_path / "m", {M1: INIT})
    deploy(db, folder)
    grant = sql.SQL("{} SELECT ON ALL TABLES IN SCHEMA public {} {}")
    with psycopg.connect(db, autocommit=True) as conn:  # a read-only check role, as product.md configures it
        conn.execute(grant.format(sql.SQL("GRANT"), sql.SQL("TO"), sql.Identifier(role_without_createdb)))
    s = Settings(environments={"prod": {"database_url": as_role(db, role_without_createdb), "migrations": str(folder)}},
                 cache_dir=tmp_path / "cache")
    try:
        result = run_check(s, s.environment("prod"))
    finally:
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(grant.format(sql.SQL("REVOKE"), sql.SQL("FROM"), sql.Identifier(role_without_createdb)))
    # history fine, schema honestly "not checked": never silently skipped, and never read as all clear
    assert result.state == "error" and result.exit_code == 2
    assert result.history is not None and result.history.in_sync
    assert result.error.startswith("Schema drift could not be checked: no shadow_url is set")
    assert not result.schema.checked
    assert f"role `{role_without_createdb}` may not CREATE DATABASE" in result.schema.reason


def test_sweeper_drops_scratch_databases_of_dead_workers_only(pg_url):
    dead_pid = next(p for p in range(4_000_000, 4_100_000) if not shadow._pid_alive(p))
    import time
    dead = f"{shadow.PREFIX}{shadow._HOST}_{dead_pid}_{int(time.time())}_abcd"
    alive = f"{shadow.PREFIX}{shadow._HOST}_{os.getppid()}_{int(time.time())}_abcd"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for name in (dead, alive):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        dropped = shadow.sweep_leftovers(pg_url)
        assert dead in dropped and alive not in dropped
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            for name in (dead, alive):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def test_target_unreachable_mid_check_is_an_error_and_leaves_no_scratch(db, pg_url, tmp_path, new_scratch):
    from driftbot.engine.db import parse_url
    from driftbot.engine.history import classify, read_rows
    from driftbot.engine.schema_check import check_schema
    from driftbot.errors import DatabaseUnreachable

    folder = write_migrations(tmp_path / "m", {M1: INIT})
    deploy(db, folder)
    s = Settings(environments={"prod": {"database_url": db, "migrations": str(folder)}}, cache_dir=tmp_path / "cache")
    migrations = read_folder(folder)
    with psycopg.connect(db) as conn:
        verdict = classify(migrations, read_rows(conn))
        pid = conn.info.backend_pid
        with psycopg.connect(pg_url, autocommit=True) as admin:  # the target goes away after the history was read
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(DatabaseUnreachable, match="connection was lost"):
            check_schema(s, s.environment("prod"), migrations, verdict, conn, parse_url(db))
    assert new_scratch() == []


def test_a_shadow_lacking_an_applied_migrations_extension_is_not_a_finding(db, pg_url, tmp_path):
    """The migration is recorded as applied on the target; only the shadow server lacks its extension:
    the schema could not be checked (exit 2), and that is not a problem of the history."""
    from driftbot.engine import writers

    folder = write_migrations(tmp_path / "m", {M1: 'CREATE EXTENSION IF NOT EXISTS "no_such_extension_x";'})
    writers.resolve_applied(db, read_folder(folder), M1)
    s = Settings(environments={"prod": {"database_url": db, "shadow_url": pg_url, "migrations": str(folder)}},
                 cache_dir=tmp_path / "cache")
    result = run_check(s, s.environment("prod"))
    assert result.state == "error" and result.exit_code == 2 and result.findings == ()
    assert "the shadow server lacks extension no_such_extension_x" in result.schema.reason


def test_within_deferred_housekeeping_the_scratch_is_dropped_after_the_answer(pg_url, tmp_path, new_scratch):
    """A DROP DATABASE waits for a checkpoint: where the caller defers housekeeping (the CLI), the scratch
    database goes after the answer, and does go."""
    from driftbot.engine import later

    with later.deferred() as tasks:
        result = shadow.replay(pg_url, items(tmp_path, {M1: INIT, M2: POSTS}), ("public",), keep_template=False)
    assert result.snapshot is not None and len(new_scratch()) == 1  # the answer first
    later.run(tasks)
    assert new_scratch() == []
