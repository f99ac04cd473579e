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

import pytest

from benchmarks.gen_history import EXTENSIONS, project, write, write_schema
from driftbot.cli.demo import DB_PUSH_DRIFT
from driftbot.engine.check import run_check
from driftbot.settings import Settings
from tests.conftest import available_extensions, server_major
from tests.factory import deploy, execute, write_migrations

# A generated history replayed on two servers, one of them an embedded PostgreSQL started for it.
pytestmark = pytest.mark.slow

MIGRATIONS = 300
DIRECTIONS = ["target on pg_url, shadow on other_pg_url", "target on other_pg_url, shadow on pg_url"]
DEMO_DRIFT_SUMMARY = [
    "[+] Added tables", "  - case_milestones", "  - staff", "  - vendor_candidates", "",
    "[*] Changed the `case_milestones` table", "  [+] Added foreign key on columns (caseId)", "",
    "[*] Changed the `staff` table", "  [+] Added unique index on columns (email)",
]


@pytest.fixture(scope="module")
def history(tmp_path_factory, pg_url, other_pg_url):
    """The generated history (folder) and its schema.prisma folder, using the extensions both servers have.

    The embedded wheel is built without OpenSSL and libuuid: it has no pgcrypto and no uuid-ossp, so a
    history creating them cannot replay there at all (driftbot then says "not checked", never drift).
    """
    common = tuple(e for e in EXTENSIONS if e in available_extensions(pg_url) & available_extensions(other_pg_url))
    scripts, files = project(MIGRATIONS, seed=11, extensions=common)
    root = tmp_path_factory.mktemp("cross")
    return write(root / "migrations", scripts), write_schema(root / "schema", files), files


def test_the_generated_history_has_what_real_histories_contain(history):
    """prisma-facts.md, "What real histories contain", all in the 300 migrations checked below."""
    migrations, schema, files = history
    names = sorted(p.name for p in migrations.iterdir() if p.is_dir())
    scripts = {n: (migrations / n / "migration.sql").read_text() for n in names}
    body = "\n".join(scripts.values())
    assert len(names) == MIGRATIONS
    assert any(s.strip().startswith("-- CreateIndex\nCREATE INDEX CONCURRENTLY") and s.count(";") == 1 for s in scripts.values())
    for feature in ("BEGIN;", "COMMIT;", "DO $$", "CREATE OR REPLACE FUNCTION", "CREATE TRIGGER", "RENAME VALUE",
                    'CREATE SCHEMA IF NOT EXISTS "billing"', 'FOREIGN KEY ("ownerId") REFERENCES'):
        assert feature in body, feature
    assert body.count("ADD VALUE") >= 20
    for ext in ("citext", "pg_trgm", "btree_gist"):  # pgcrypto and uuid-ossp: only where both servers have them
        assert f'CREATE EXTENSION IF NOT EXISTS "{ext}"' in body
    assert any(" " in n for n in names) and names == sorted(names, key=lambda n: n.encode())
    assert any(len(part.encode()) > 63 for part in body.split('"')[1::2])
    assert len(files) >= 3 and '"multiSchema"' in files["schema.prisma"] and "@@schema(\"billing\")" in "".join(files.values())


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


# Everything whose spelling PostgreSQL could change between majors: column defaults, serial and
# identity columns, sequence options, collations, index, unique, check and foreign-key definitions,
# and views. Measured between 15 and 18: only the views are spelled differently.
SPELLINGS = {
    "20250101000000_init": """CREATE TYPE "Mood" AS ENUM ('HAPPY', 'SAD');
CREATE SEQUENCE "ticket_seq" AS INTEGER START WITH 100 INCREMENT BY 5 MINVALUE 5 MAXVALUE 100000 CACHE 3 CYCLE;
CREATE TABLE "Post" (
    "id" SERIAL NOT NULL,
    "big" BIGSERIAL NOT NULL,
    "n" INTEGER GENERATED BY DEFAULT AS IDENTITY,
    "m" BIGINT GENERATED ALWAYS AS IDENTITY (START WITH 100 INCREMENT BY 5),
    "ticket" INTEGER NOT NULL DEFAULT nextval('ticket_seq'),
    "title" TEXT NOT NULL DEFAULT 'it''s',
    "mood" "Mood" NOT NULL DEFAULT 'HAPPY',
    "moods" "Mood"[] DEFAULT ARRAY['HAPPY']::"Mood"[],
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "meta" JSONB NOT NULL DEFAULT '{}',
    "vc" VARCHAR(255) NOT NULL DEFAULT '',
    "score" DECIMAL(65,30) NOT NULL DEFAULT 0,
    "ratio" DOUBLE PRECISION DEFAULT 0.5,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "at6" TIMESTAMPTZ(6) DEFAULT now(),
    "utc" TIMESTAMP(3) DEFAULT timezone('utc'::text, now()),
    "day" DATE DEFAULT CURRENT_DATE,
    "until" TIMESTAMPTZ DEFAULT (now() + '1 day'::interval),
    "uid" UUID NOT NULL DEFAULT gen_random_uuid(),
    "sid" TEXT NOT NULL DEFAULT (gen_random_uuid())::text,
    "code" TEXT DEFAULT md5((random())::text),
    "c" TEXT COLLATE "C",
    "p" VARCHAR(20) COLLATE "POSIX",
    "twice" INTEGER GENERATED ALWAYS AS ("id" * 2) STORED,
    CONSTRAINT "Post_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "Post_score" CHECK ("score" >= 0 AND "title" <> '' AND "mood" IN ('HAPPY', 'SAD')),
    CONSTRAINT "Post_ratio" CHECK ("ratio" BETWEEN 0 AND 1),
    CONSTRAINT "Post_meta" CHECK (("meta" ->> 'v') IS NOT NULL OR "meta" = '{}'::jsonb)
);
CREATE TABLE "Comment" ("id" SERIAL NOT NULL, "postId" INTEGER, "a" INTEGER, "b" INTEGER,
    CONSTRAINT "Comment_pkey" PRIMARY KEY ("id"), CONSTRAINT "Comment_a_b_key" UNIQUE NULLS NOT DISTINCT ("a", "b"));
ALTER TABLE "Comment" ADD CONSTRAINT "Comment_postId_fkey" FOREIGN KEY ("postId") REFERENCES "Post"("id")
    ON DELETE SET NULL ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
""",
    "20250102000000_indexes": """CREATE UNIQUE INDEX "Post_vc_key" ON "Post"("vc");
CREATE INDEX "Post_lower_idx" ON "Post"(lower("title")) WHERE "mood" = 'HAPPY' AND "vc" <> '';
CREATE INDEX "Post_title_c_idx" ON "Post"("title" COLLATE "C" DESC NULLS LAST);
CREATE INDEX "Post_vc_incl_idx" ON "Post"("vc") INCLUDE ("title");
CREATE INDEX "Post_meta_idx" ON "Post" USING GIN ("meta" jsonb_path_ops);
CREATE INDEX "Post_meta_v_idx" ON "Post"((("meta" ->> 'v')::int));
CREATE INDEX "Post_uid_idx" ON "Post" USING HASH ("uid");
CREATE INDEX "Post_at_idx" ON "Post" USING BRIN ("at");
CREATE INDEX "Post_day_idx" ON "Post"(date_trunc('day', "at"));
CREATE INDEX "Post_text_idx" ON "Post" USING GIN (to_tsvector('english', "title"));
CREATE INDEX "Post_pattern_idx" ON "Post"("title" text_pattern_ops) WITH (fillfactor = 70);
""",
    "20250103000000_views": """-- Single-relation queries: PostgreSQL 16+ prints their columns unqualified, 15 qualified.
CREATE VIEW "happy_posts" AS SELECT "id", "title" FROM "Post" WHERE "mood" = 'HAPPY' ORDER BY "at";
CREATE MATERIALIZED VIEW "post_stats" AS SELECT "mood", count(*) AS n, max("at") AS latest FROM "Post" GROUP BY "mood";
CREATE VIEW "recent" AS SELECT * FROM (SELECT "id", "at" FROM "Post") p WHERE p."at" > now() - interval '7 days';
CREATE VIEW "with_comments" AS SELECT p."id", c."a" FROM "Post" p JOIN "Comment" c ON c."postId" = p."id";
""",
}


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_defaults_sequences_collations_definitions_and_views_across_versions(direction, databases, other_databases,
                                                                            tmp_path):
    folder = write_migrations(tmp_path / "migrations", SPELLINGS)
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


UNSEEN_BY_PRISMA = """CREATE TABLE "T" ("id" INTEGER NOT NULL, "n" TEXT, CONSTRAINT "T_pkey" PRIMARY KEY ("id"));
CREATE FUNCTION "twice"(x integer) RETURNS integer LANGUAGE sql IMMUTABLE RETURN x * 2;
CREATE FUNCTION "cnt"() RETURNS bigint LANGUAGE sql STABLE
  BEGIN ATOMIC SELECT count(*) FROM "T" WHERE "n" LIKE 'a%' AND "id" IN (1, 2); END;
CREATE FUNCTION "rows"(a integer DEFAULT 3, VARIADIC b text[] DEFAULT '{}') RETURNS SETOF "T"
  LANGUAGE sql AS $$ SELECT * FROM "T" $$;
CREATE FUNCTION "touch"() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public
  AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER "tr" BEFORE UPDATE OF "n" ON "T" FOR EACH ROW WHEN (OLD."n" IS DISTINCT FROM NEW."n")
  EXECUTE FUNCTION "touch"();
ALTER TABLE "T" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "T" FORCE ROW LEVEL SECURITY;
CREATE POLICY "p" ON "T" USING ("n" LIKE 'x%' AND "id" = ANY (ARRAY[1, 2]) AND current_setting('a.b') = 'c');
CREATE POLICY "q" ON "T" AS RESTRICTIVE FOR INSERT WITH CHECK ("id" > 0);
"""


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_functions_triggers_and_policies_compare_equal_across_versions(direction, databases, other_databases,
                                                                     tmp_path, pg_url, other_pg_url):
    """SQL-standard bodies and policy expressions are stored as parse trees and printed back by
    each server in its own words; they must still compare equal across major versions."""
    if server_major(pg_url) == server_major(other_pg_url):
        pytest.skip(f"both servers run PostgreSQL {server_major(pg_url)}: this needs two major versions")
    target, shadow = (databases.create("xv"), other_pg_url) if direction == DIRECTIONS[0] else \
        (other_databases.create("xv"), pg_url)
    folder = write_migrations(tmp_path / "m", {"20250101000000_unseen": UNSEEN_BY_PRISMA})
    assert deploy(target, folder) is None
    s = Settings(environments={"prod": {"database_url": target, "shadow_url": shadow, "migrations": str(folder)}},
                 cache_dir=tmp_path / "cache")
    result = run_check(s, s.environment("prod"))
    assert result.state == "in_sync", result.to_json()
