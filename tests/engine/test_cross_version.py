"""No false alarms across PostgreSQL versions: the shadow server may run another major
version than the target (managed databases lag or lead).

A generated 300-migration history with everything real histories contain
(prisma-facts.md) is deployed to one server and checked with the shadow on the
other, both ways: nothing is reported. Then the demo's drift (tables added by
``db push``, an enum value schema.prisma has and the database lacks) is injected
and reported exactly. ``pg_url`` is the machine's PostgreSQL in CI (15) and
``other_pg_url`` the embedded wheel (18); on a machine with only the wheel both
are embedded, of one major version (the version test then skips, saying so).
"""

from __future__ import annotations

import shutil

import psycopg
import pytest

from benchmarks.gen_history import EXTENSIONS, project, write, write_schema
from bot.demo import DB_PUSH_DRIFT
from bot.engine.check import run_check
from bot.settings import Settings
from tests.conftest import server_major
from tests.factory import deploy, execute, write_migrations

MIGRATIONS = 300
DIRECTIONS = ["target on pg_url, shadow on other_pg_url", "target on other_pg_url, shadow on pg_url"]
DEMO_DRIFT_SUMMARY = [
    "[+] Added tables", "  - case_milestones", "  - staff", "  - vendor_candidates", "",
    "[*] Changed the `case_milestones` table", "  [+] Added foreign key on columns (caseId)", "",
    "[*] Changed the `staff` table", "  [+] Added unique index on columns (email)",
]


def _available(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM pg_catalog.pg_available_extensions")}


@pytest.fixture(scope="module")
def history(tmp_path_factory, pg_url, other_pg_url):
    """The generated history (folder) and its schema.prisma folder, using the extensions both servers have.

    The embedded wheel is built without OpenSSL and libuuid: it has no pgcrypto and no uuid-ossp, so a
    history creating them cannot replay there at all (driftbot then says "not checked", never drift).
    """
    common = tuple(e for e in EXTENSIONS if e in _available(pg_url) & _available(other_pg_url))
    scripts, files = project(MIGRATIONS, seed=11, extensions=common)
    root = tmp_path_factory.mktemp("cross")
    return write(root / "migrations", scripts), write_schema(root / "schema", files), files


def _servers(direction: str, databases, other_databases):
    """(fresh target database URL, shadow server URL) for a direction."""
    if direction == DIRECTIONS[0]:
        return databases.create("xv"), other_databases.server_url
    return other_databases.create("xv"), databases.server_url


def _check(target: str, shadow: str, migrations, schema, cache):
    s = Settings(environments={"prod": {"database_url": target, "shadow_url": shadow, "migrations": str(migrations),
                                        "schema": str(schema)}}, cache_dir=cache)
    return run_check(s, s.environment("prod"))


def test_the_two_servers_run_different_major_versions(pg_url, other_pg_url):
    a, b = server_major(pg_url), server_major(other_pg_url)
    if a == b:
        pytest.skip(f"both test servers run PostgreSQL {a} (no DRIFTBOT_TEST_PG_URL: two embedded servers); "
                    "the cross-version tests ran against two servers of one major version")
    assert a != b


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_generated_history_checks_clean_then_shows_exactly_the_demo_drift(direction, history, databases,
                                                                          other_databases, tmp_path):
    migrations, schema, files = history
    target, shadow = _servers(direction, databases, other_databases)
    assert deploy(target, migrations) is None

    clean = _check(target, shadow, migrations, schema, tmp_path / "cache")
    assert clean.error is None and clean.schema.checked, clean.schema.reason
    assert len(clean.history.applied) == MIGRATIONS
    assert (clean.state, clean.schema.summary, clean.schema.sql, clean.findings) == ("in_sync", (), "", ())

    # The demo's db push drift (its foreign key points at a table this history has), and a
    # schema.prisma whose enum has one value more than the database.
    first = min(p for p in migrations.iterdir() if p.is_dir()) / "migration.sql"
    parent = next(ln.split('"')[1] for ln in first.read_text().splitlines() if ln.startswith("CREATE TABLE"))
    execute(target, DB_PUSH_DRIFT.replace('"Case"("id")', f'"{parent}"("id")'))
    enums_file = "public_enums.prisma"
    enum_name = files[enums_file].split("enum ", 1)[1].split(" ", 1)[0]
    edited = tmp_path / "schema"
    shutil.copytree(schema, edited)
    (edited / enums_file).write_text(files[enums_file].replace(f"enum {enum_name} {{\n", f"enum {enum_name} {{\n  LATE_VALUE\n", 1))

    drifted = _check(target, shadow, migrations, edited, tmp_path / "cache")
    assert drifted.schema.checked and list(drifted.schema.summary) == DEMO_DRIFT_SUMMARY
    assert drifted.state == "drifted"
    assert [f.case for f in drifted.findings] == ["A", "A", "C"]
    catch_up, _, enum = drifted.findings
    assert catch_up.title.endswith(": case_milestones, case_milestones_caseId_fkey, staff, staff_email_key, vendor_candidates.")
    assert (enum.action.arguments["enum"], enum.action.arguments["value"]) == (enum_name, "LATE_VALUE")
    assert enum.action.sql == f"ALTER TYPE \"{enum_name}\" ADD VALUE IF NOT EXISTS 'LATE_VALUE';"


VIEWS = {
    "20250101000000_init": (
        'CREATE TYPE "Mood" AS ENUM (\'HAPPY\', \'SAD\');\n'
        'CREATE TABLE "Post" ("id" SERIAL NOT NULL, "title" TEXT NOT NULL, "mood" "Mood" NOT NULL DEFAULT \'HAPPY\', '
        '"tags" TEXT[] DEFAULT ARRAY[]::TEXT[], "score" DECIMAL(65,30) NOT NULL DEFAULT 0, '
        '"at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, "n" INTEGER GENERATED BY DEFAULT AS IDENTITY, '
        'CONSTRAINT "Post_pkey" PRIMARY KEY ("id"), CONSTRAINT "Post_score" CHECK ("score" >= 0 AND "title" <> \'\'));\n'
        'CREATE INDEX "Post_lower_idx" ON "Post"(lower("title")) WHERE "mood" = \'HAPPY\';\n'
        'CREATE INDEX "Post_title_c_idx" ON "Post"("title" COLLATE "C" DESC NULLS LAST);\n'
        'CREATE SEQUENCE "ticket_seq" AS INTEGER START WITH 100 INCREMENT BY 5;\n'),
    "20250102000000_views": (
        # Single-relation queries: PostgreSQL 16+ prints their columns unqualified, 15 qualified.
        'CREATE VIEW "happy_posts" AS SELECT "id", "title" FROM "Post" WHERE "mood" = \'HAPPY\' ORDER BY "at";\n'
        'CREATE MATERIALIZED VIEW "post_stats" AS SELECT "mood", count(*) AS n, max("at") AS latest FROM "Post" GROUP BY "mood";\n'
        'CREATE VIEW "recent" AS SELECT * FROM (SELECT "id", "at" FROM "Post") p WHERE p."at" > now() - interval \'7 days\';\n'),
}


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_views_defaults_identity_and_index_spellings_across_versions(direction, databases, other_databases, tmp_path):
    folder = write_migrations(tmp_path / "migrations", VIEWS)
    target, shadow = _servers(direction, databases, other_databases)
    deploy(target, folder)
    s = Settings(environments={"prod": {"database_url": target, "shadow_url": shadow, "migrations": str(folder)}},
                 cache_dir=tmp_path / "cache")
    clean = run_check(s, s.environment("prod"))
    assert clean.schema.checked and (clean.state, clean.schema.summary, clean.findings) == ("in_sync", (), ())

    # The normalisation hides spellings, not changes: a view edited by hand is still drift.
    execute(target, 'CREATE OR REPLACE VIEW "happy_posts" AS SELECT "id", "title" FROM "Post" WHERE "mood" = \'SAD\' ORDER BY "at"')
    drifted = run_check(s, s.environment("prod"))
    assert drifted.state == "drifted" and any("happy_posts" in line for line in drifted.schema.summary)
