"""The catalog fingerprint and the target's cached schema: a change to the target is never missed."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from driftbot.engine import catalog, later, shadow
from driftbot.engine.check import run_check
from driftbot.settings import Settings
from tests.factory import INIT, POSTS, deploy, write_migrations

QUERIES = Path(catalog.__file__).parent / "inspect" / "queries"
M1, M2 = "20250101000000_init", "20250102000000_posts"


def test_the_fingerprint_covers_every_catalog_the_introspection_reads():
    read = set()
    for path in QUERIES.glob("*.sql"):
        read |= {name for name in re.findall(r"pg_catalog\.(pg_[a-z_]+)", path.read_text()) if not name.startswith("pg_get_")}
    assert read and read <= set(catalog.CATALOGS), read - set(catalog.CATALOGS)


CHANGES = [
    'ALTER TABLE "User" ADD COLUMN "nickname" TEXT',
    'ALTER TABLE "User" RENAME COLUMN "email" TO "mail"',
    'ALTER TABLE "User" ALTER COLUMN "email" SET DEFAULT \'x\'',
    'CREATE INDEX "user_email_idx" ON "User" ("email")',
    'DROP TABLE "Post"',
    'CREATE TYPE "Mood" AS ENUM (\'ok\')',
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$",
    'ALTER TABLE "User" ENABLE ROW LEVEL SECURITY',
    'CREATE VIEW "v" AS SELECT 1 AS one',
    'ALTER TABLE "Post" RENAME TO "Article"',
]


@pytest.mark.parametrize("change", CHANGES)
def test_every_kind_of_change_moves_the_fingerprint(db, tmp_path, change):
    deploy(db, write_migrations(tmp_path / "m", {M1: INIT, M2: POSTS}))
    with psycopg.connect(db, autocommit=True) as conn:
        before = catalog.fingerprint(conn)
        assert catalog.fingerprint(conn) == before  # nothing changed: the same fingerprint
        conn.execute(change.encode())
        assert catalog.fingerprint(conn) != before


def test_changes_to_existing_objects_move_the_fingerprint(db, tmp_path):
    """Edits that keep every object's name: a function's body, a trigger disabled, an enum value, an
    index marked invalid (PostgreSQL's own state, as a failed CREATE INDEX CONCURRENTLY leaves it)."""
    deploy(db, write_migrations(tmp_path / "m", {M1: INIT, M2: POSTS}))
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$")
        conn.execute('CREATE TRIGGER t BEFORE INSERT ON "User" FOR EACH ROW EXECUTE FUNCTION f()')
        conn.execute("CREATE TYPE \"Mood\" AS ENUM ('ok')")
        conn.execute('CREATE INDEX "user_email_idx" ON "User" ("email")')
        for change in ("CREATE OR REPLACE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$",
                       'ALTER TABLE "User" DISABLE TRIGGER t',
                       "ALTER TYPE \"Mood\" ADD VALUE 'meh'",
                       "UPDATE pg_index SET indisvalid = false WHERE indexrelid = '\"user_email_idx\"'::regclass"):
            before = catalog.fingerprint(conn)
            conn.execute(change.encode())
            assert catalog.fingerprint(conn) != before, change


def test_a_changed_target_is_introspected_again(db, tmp_path):
    """The check's cached schema of the target: reused while its catalog is unchanged, and the new
    schema read (the new answer) as soon as it changes."""
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: POSTS})
    deploy(db, folder)
    s = Settings(environments={"prod": {"database_url": db, "migrations": str(folder)}}, cache_dir=tmp_path / "cache")
    first = run_check(s, s.environment("prod"))
    assert first.state == "in_sync", first.error
    cached = list((tmp_path / "cache" / "live").glob("*.json"))
    assert len(cached) == 1
    assert run_check(s, s.environment("prod")).state == "in_sync"
    assert list((tmp_path / "cache" / "live").glob("*.json")) == cached  # unchanged target: the same entry reused
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute('ALTER TABLE "User" ADD COLUMN "nickname" TEXT')
    after = run_check(s, s.environment("prod"))
    assert after.state == "drifted"
    assert any("nickname" in line for line in after.schema.summary), after.schema.summary
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute('ALTER TABLE "User" DROP COLUMN "nickname"')
    assert run_check(s, s.environment("prod")).state == "in_sync"


def test_a_cached_schema_is_what_introspection_reads(db, tmp_path):
    deploy(db, write_migrations(tmp_path / "m", {M1: INIT, M2: POSTS}))
    with psycopg.connect(db, autocommit=True) as conn:
        read = shadow.live_schema(conn, ("public",), "public", tmp_path / "c")
        again = shadow.live_schema(conn, ("public",), "public", tmp_path / "c")
        assert again == read == shadow.introspect(conn, ("public",), "public")


def test_the_caches_can_be_written_after_the_answer(db, tmp_path):
    """Within later.deferred a check writes no cache (the CLI writes them after printing its answer);
    run, the collected writes leave the caches a later check hits."""
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: POSTS})
    deploy(db, folder)
    s = Settings(environments={"prod": {"database_url": db, "migrations": str(folder)}}, cache_dir=tmp_path / "cache")
    with later.deferred() as tasks:
        assert run_check(s, s.environment("prod")).state == "in_sync"
    assert not list((tmp_path / "cache").rglob("*.json"))
    later.run(tasks)
    assert len(list((tmp_path / "cache" / "live").glob("*.json"))) == 1
    assert len(list((tmp_path / "cache" / "shadow").glob("*.json"))) == 1
