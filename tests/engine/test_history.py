"""The history verdict, on real databases written the way Prisma writes them."""

from __future__ import annotations

import psycopg
import pytest

from driftbot.engine import history
from driftbot.engine.db import parse_url
from driftbot.engine.sources import read_folder
from tests.factory import ENUM, INIT, POSTS, deploy, execute, write_migrations

M1, M2, M3 = "20250101000000_init", "20250102000000_posts", "20250103000000_media"


def verdict(url, folder):
    with psycopg.connect(parse_url(url).conninfo) as conn:
        return history.classify(read_folder(folder), history.read_rows(conn))


@pytest.fixture
def folder(tmp_path):
    return write_migrations(tmp_path / "migrations", {M1: INIT, M2: POSTS, M3: ENUM})


def test_up_to_date(db, folder):
    deploy(db, folder)
    v = verdict(db, folder)
    assert v.in_sync and v.applied == (M1, M2, M3) and v.pending == ()
    assert v.prisma_status() == (0, "Database schema is up to date!")


def test_not_managed_when_table_is_absent(db, folder):
    execute(db, 'CREATE TABLE "legacy" ("id" INTEGER)')  # a database built without Prisma Migrate
    v = verdict(db, folder)
    assert not v.managed and v.pending == (M1, M2, M3)
    assert v.prisma_status()[0] == 1


def test_an_empty_database_without_the_table_is_managed_with_everything_pending(db, folder):
    """A new database: `migrate deploy` creates the table and applies everything (Prisma lists
    every migration as not yet applied)."""
    v = verdict(db, folder)
    assert v.managed and v.pending == (M1, M2, M3) and v.rows == 0
    assert v.prisma_status() == (1, f"Following migrations have not yet been applied: {M1}, {M2}, {M3}")


def test_pending(db, tmp_path, folder):
    deploy(db, write_migrations(tmp_path / "partial", {M1: INIT}))
    v = verdict(db, folder)
    assert v.pending == (M2, M3) and v.applied == (M1,) and not v.in_sync
    assert v.last_common_migration == M1


def test_failed_migration_blocks_the_rest(db, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: "CREATE TABLE broken (;", M3: ENUM})
    error = deploy(db, folder)
    assert error is not None and error.sqlstate == "42601"
    v = verdict(db, folder)
    assert [f.name for f in v.failed] == [M2]
    assert v.failed[0].may_be_partial is False and "syntax error" in v.failed[0].logs
    assert v.pending == (M3,)  # a failed migration is not pending, the one after it is
    assert v.prisma_status()[0] == 1


def test_partially_applied_failure_is_flagged(db, tmp_path):
    script = 'BEGIN;\nCREATE TABLE "Part" (id int);\nCOMMIT;\nCREATE TABLE "Part" (id int);\n'
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: script})
    assert deploy(db, folder) is not None
    v = verdict(db, folder)
    assert v.failed[0].may_be_partial is True
    with psycopg.connect(db) as conn:  # PostgreSQL kept the first half
        assert conn.execute("SELECT to_regclass('\"Part\"')").fetchone()[0] is not None


def test_rolled_back_then_pending_again(db, folder, tmp_path):
    execute(db, 'CREATE TABLE "Post" (id int)')  # makes M2 fail
    deploy(db, folder)
    execute(db, "UPDATE _prisma_migrations SET rolled_back_at = now() WHERE finished_at IS NULL")
    v = verdict(db, folder)
    assert v.failed == ()
    assert v.rolled_back_pending == (M2,) and v.pending == (M2, M3)
    assert any("pending again" in note for note in v.prisma_blind_spots)


def test_edited_after_apply_is_modified(db, folder):
    deploy(db, folder)
    (folder / M2 / "migration.sql").write_text(POSTS + "-- edited\n")
    v = verdict(db, folder)
    assert [m.name for m in v.modified] == [M2]
    assert v.prisma_status()[0] == 0  # Prisma says "up to date" here; driftbot does not
    assert not v.in_sync


def test_in_database_but_not_found_locally(db, folder, tmp_path):
    deploy(db, folder)
    short = write_migrations(tmp_path / "short", {M1: INIT, M2: POSTS})
    v = verdict(db, short)
    assert v.missing_locally == (M3,) and v.pending == ()
    assert v.prisma_status() == (0, "Database schema is up to date!")
    assert not v.diverged and not v.in_sync


def test_diverged_histories(db, folder, tmp_path):
    deploy(db, folder)
    other = write_migrations(tmp_path / "other", {M1: INIT, M2: POSTS, "20250104000000_other": "SELECT 1;"})
    v = verdict(db, other)
    assert v.diverged and v.missing_locally == (M3,) and v.pending == ("20250104000000_other",)
    assert v.last_common_migration == M2


def test_several_rows_per_migration(db, folder, tmp_path):
    execute(db, 'CREATE TABLE "Post" (id int)')
    deploy(db, folder)  # M2 fails
    execute(db, 'DROP TABLE "Post"')
    execute(db, "UPDATE _prisma_migrations SET rolled_back_at = now() WHERE finished_at IS NULL")
    deploy(db, folder)  # M2 applied on a second attempt
    v = verdict(db, folder)
    assert v.in_sync and v.rows == 4


def test_read_rows_is_read_only(db, folder):
    deploy(db, folder)
    with psycopg.connect(db) as conn:
        history.read_rows(conn)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            with conn.transaction():
                conn.execute("SET TRANSACTION READ ONLY")
                conn.execute("DELETE FROM _prisma_migrations")
