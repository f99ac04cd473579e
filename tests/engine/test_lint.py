"""``driftbot lint`` on a real PostgreSQL database with data.

Each finding class is a migration that a naive reading passes (it applies to the schema, and to an
empty table) and that this database's rows break: the lint must say "will fail" with the SQLSTATE that
PostgreSQL then really raises when the migration is deployed as Prisma deploys it (one script), and the
same migration on the same table without rows must lint clean and deploy.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest

from driftbot.engine import replay
from driftbot.engine.lint import Limits, lint_on, lint_text
from driftbot.engine.sources import LocalMigration

SCHEMA = """
CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN', 'GUEST');
CREATE TABLE "User" ("id" SERIAL PRIMARY KEY, "email" TEXT, "name" TEXT, "code" TEXT, "age" INTEGER,
                     "role" "Role" NOT NULL DEFAULT 'USER');
CREATE TABLE "Post" ("id" SERIAL PRIMARY KEY, "authorId" INTEGER, "title" TEXT);
"""


@dataclass(frozen=True)
class Case:
    rule: str
    migration: str
    rows: str  # what makes this database break it
    sqlstate: str


CASES = {
    "not_null": Case("not_null_over_nulls", 'ALTER TABLE "User" ALTER COLUMN "name" SET NOT NULL;',
                     """INSERT INTO "User" (name) VALUES ('ana'), (NULL);""", "23502"),
    "required_column": Case("required_column_over_rows", 'ALTER TABLE "User" ADD COLUMN "nickname" TEXT NOT NULL;',
                            """INSERT INTO "User" (name) VALUES ('ana');""", "23502"),
    "added_then_required": Case(
        "not_null_over_nulls",
        'ALTER TABLE "User" ADD COLUMN "plan" TEXT;\nALTER TABLE "User" ALTER COLUMN "plan" SET NOT NULL;',
        """INSERT INTO "User" (name) VALUES ('ana');""", "23502"),
    "unique_index": Case("unique_over_duplicates", 'CREATE UNIQUE INDEX "User_email_key" ON "User"("email");',
                         """INSERT INTO "User" (email) VALUES ('a@x.io'), ('a@x.io'), (NULL), (NULL);""", "23505"),
    "unique_expression": Case("unique_over_duplicates",
                              'CREATE UNIQUE INDEX "User_email_ci" ON "User"(lower("email")) WHERE "age" > 17;',
                              """INSERT INTO "User" (email, age) VALUES ('A@x.io', 30), ('a@x.io', 40);""", "23505"),
    "unique_constraint": Case("unique_over_duplicates",
                              'ALTER TABLE "User" ADD CONSTRAINT "User_name_key" UNIQUE ("name");',
                              """INSERT INTO "User" (name) VALUES ('ana'), ('ana');""", "23505"),
    "foreign_key": Case(
        "foreign_key_over_orphans",
        'ALTER TABLE "Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"("id") '
        "ON DELETE RESTRICT ON UPDATE CASCADE;",
        """INSERT INTO "User" (id) VALUES (1); INSERT INTO "Post" ("authorId") VALUES (1), (99), (NULL);""", "23503"),
    "check": Case("check_over_violations", 'ALTER TABLE "User" ADD CONSTRAINT "User_age_check" CHECK ("age" >= 0);',
                  """INSERT INTO "User" (age) VALUES (3), (-1), (NULL);""", "23514"),
    "cast_using": Case("cast_over_values",
                       'ALTER TABLE "User" ALTER COLUMN "code" SET DATA TYPE INTEGER USING "code"::integer;',
                       """INSERT INTO "User" (code) VALUES ('12'), ('twelve');""", "22P02"),
    "cast_shorter": Case("cast_over_values", 'ALTER TABLE "User" ALTER COLUMN "name" SET DATA TYPE VARCHAR(5);',
                         """INSERT INTO "User" (name) VALUES ('ana'), ('bartholomew');""", "22001"),
    "enum_rebuilt": Case(  # Prisma's own migration for removing an enum value
        "cast_over_values",
        """BEGIN;
CREATE TYPE "Role_new" AS ENUM ('USER', 'ADMIN');
ALTER TABLE "User" ALTER COLUMN "role" DROP DEFAULT;
ALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");
ALTER TYPE "Role" RENAME TO "Role_old";
ALTER TYPE "Role_new" RENAME TO "Role";
DROP TYPE "Role_old";
ALTER TABLE "User" ALTER COLUMN "role" SET DEFAULT 'USER';
COMMIT;""",
        """INSERT INTO "User" (role) VALUES ('USER'), ('GUEST');""", "22P02"),
}


@pytest.fixture
def target(db):
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(SCHEMA)
    return db


def _lint(url: str, script: str, limits: Limits = Limits()):
    with psycopg.connect(url, autocommit=True) as conn:
        return lint_on(conn, (LocalMigration("20260101000000_change", script, ""),), "public", "prod", limits)


def _deploy(url: str, script: str):
    with psycopg.connect(url, autocommit=True) as conn:
        return replay.run_script(conn, LocalMigration("20260101000000_change", script, ""))


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_migration_this_databases_rows_break_will_fail(target, name):
    case = CASES[name]
    factory_rows(target, case.rows)
    report = _lint(target, case.migration)
    failing = [f for f in report.will_fail if f.rule == case.rule]
    assert failing, [(f.severity, f.rule, f.why) for f in report.findings]
    assert failing[0].sqlstate == case.sqlstate and failing[0].safer
    assert report.exit_code == 1
    error = _deploy(target, case.migration)  # and PostgreSQL agrees, deploying it as Prisma does (one script)
    assert error is not None and error.sqlstate == case.sqlstate, error


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_same_migration_on_an_empty_table_passes(target, name):
    case = CASES[name]
    report = _lint(target, case.migration)
    assert not report.will_fail and not report.risky, [(f.severity, f.rule, f.why) for f in report.findings]
    assert report.exit_code == 0
    assert _deploy(target, case.migration) is None


def factory_rows(url: str, statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statements)


def test_a_backfill_before_set_not_null_is_not_a_failure(target):
    factory_rows(target, """INSERT INTO "User" (name) VALUES ('ana'), (NULL);""")
    script = 'UPDATE "User" SET "name" = \'unknown\' WHERE "name" IS NULL;\nALTER TABLE "User" ALTER COLUMN "name" SET NOT NULL;'
    report = _lint(target, script)
    assert not report.will_fail
    assert any(f.rule == "not_null_over_nulls" and f.severity == "risky" and "UPDATE" in f.why for f in report.findings)
    assert _deploy(target, script) is None


def test_a_required_column_with_a_default_passes_over_rows(target):
    factory_rows(target, """INSERT INTO "User" (name) VALUES ('ana');""")
    script = 'ALTER TABLE "User" ADD COLUMN "nickname" TEXT NOT NULL DEFAULT \'\';'
    assert not _lint(target, script).will_fail
    assert _deploy(target, script) is None


def test_concurrently_in_a_multi_statement_migration_fails_with_25001(target):
    script = 'CREATE INDEX CONCURRENTLY "User_name_idx" ON "User"("name");\nCREATE INDEX "User_age_idx" ON "User"("age");'
    report = _lint(target, script)
    assert [(f.rule, f.sqlstate) for f in report.will_fail] == [("concurrently_in_transaction", "25001")]
    assert _deploy(target, script).sqlstate == "25001"
    alone = 'CREATE INDEX CONCURRENTLY "User_name_idx" ON "User"("name");'  # the safer form: its own migration
    assert not _lint(target, "-- CreateIndex\n" + alone).will_fail
    assert _deploy(target, "-- CreateIndex\n" + alone) is None


def test_an_enum_value_added_and_used_in_one_migration_fails_with_55p04(target):
    factory_rows(target, """INSERT INTO "User" (name) VALUES ('ana');""")
    for use in ('UPDATE "User" SET "role" = \'OWNER\' WHERE "name" = \'ana\';',
                'ALTER TABLE "User" ALTER COLUMN "role" SET DEFAULT \'OWNER\';'):
        script = f"ALTER TYPE \"Role\" ADD VALUE 'OWNER';\n{use}"
        report = _lint(target, script)
        assert [(f.rule, f.sqlstate) for f in report.will_fail] == [("enum_value_used_in_same_migration", "55P04")], use
        assert _deploy(target, script).sqlstate == "55P04"
    assert not lint_text([LocalMigration("m", "ALTER TYPE \"Role\" ADD VALUE 'OWNER';", "")]).findings
    committed = "BEGIN;\nALTER TYPE \"Role\" ADD VALUE 'OWNER';\nCOMMIT;\nUPDATE \"User\" SET \"role\" = 'OWNER';"
    assert not _lint(target, committed).will_fail and _deploy(target, committed) is None


def test_dropping_what_still_holds_data_is_risky_in_prismas_words(target):
    script = 'ALTER TABLE "User" DROP COLUMN "code";\nDROP TABLE "Post";'
    quiet = _lint(target, script)  # empty: Prisma would still warn; driftbot knows nothing is lost here
    assert not quiet.risky and not quiet.will_fail
    factory_rows(target, """INSERT INTO "User" (code) VALUES ('x'); INSERT INTO "Post" (title) VALUES ('t');""")
    report = _lint(target, script)
    whys = {f.rule: f.why for f in report.risky}
    assert whys["data_loss_drop_column"].startswith(
        "You are about to drop the column `code` on the `User` table. All the data in the column will be lost.")
    assert whys["data_loss_drop_table"].startswith(
        "You are about to drop the `Post` table. If the table is not empty, all the data it contains will be lost.")


def test_a_rewrite_of_a_big_table_under_access_exclusive_says_so(target):
    factory_rows(target, """INSERT INTO "User" (name, age) SELECT 'n' || g, g FROM generate_series(1, 5000) g;
                            ANALYZE "User";""")
    limits = Limits(big_rows=1000)
    report = _lint(target, 'ALTER TABLE "User" ALTER COLUMN "age" SET DATA TYPE BIGINT;', limits)
    [info] = report.statements
    assert (info.lock, info.rewrites, info.table) == ("ACCESS EXCLUSIVE", True, "public.User")
    assert info.rows == 5000 and info.pages > 0
    [risky] = [f for f in report.risky if f.rule == "lock_rewrite"]
    assert "about 5,000 rows" in risky.why and "Expand and contract" in risky.safer
    small = _lint(target, 'ALTER TABLE "User" ALTER COLUMN "age" SET DATA TYPE BIGINT;')  # default limits: small
    assert not small.risky
    index = _lint(target, 'CREATE INDEX "User_age_idx" ON "User"("age");', limits)
    assert [f.rule for f in index.risky] == ["lock_index"] and "CONCURRENTLY" in index.risky[0].safer
    factory_rows(target, 'ALTER TABLE "User" ALTER COLUMN "email" SET DATA TYPE VARCHAR(100);')
    widening = _lint(target, 'ALTER TABLE "User" ALTER COLUMN "email" SET DATA TYPE VARCHAR(300);', limits)
    assert not widening.statements[0].rewrites and not [f for f in widening.risky if f.rule == "lock_rewrite"]


def test_a_table_too_big_to_scan_is_sampled_and_says_so(target):
    factory_rows(target, """INSERT INTO "User" (name) SELECT NULL FROM generate_series(1, 20000) g; ANALYZE "User";""")
    report = _lint(target, 'ALTER TABLE "User" ALTER COLUMN "name" SET NOT NULL;', Limits(scan_rows=1000, sample_rows=2000))
    [failing] = report.will_fail
    assert "in a sample of about 2,000 of 20,000 rows" in failing.why
    factory_rows(target, """UPDATE "User" SET name = 'x'; ANALYZE "User";""")
    report = _lint(target, 'ALTER TABLE "User" ALTER COLUMN "name" SET NOT NULL;', Limits(scan_rows=1000, sample_rows=2000))
    assert not report.will_fail and [f.rule for f in report.risky] == ["not_null_over_nulls"]
    assert "the rest of the table was not read" in report.risky[0].why


def test_a_check_that_runs_out_of_time_is_skipped_with_a_note(target):
    factory_rows(target, """INSERT INTO "User" (name) SELECT 'n' FROM generate_series(1, 200000) g;""")
    script = 'ALTER TABLE "User" ADD CONSTRAINT "slow" CHECK (length(repeat("name", 2000)) > 0);'
    report = _lint(target, script, Limits(probe_timeout_ms=1))
    assert not report.will_fail
    assert any(f.severity == "note" and "did not finish" in f.why for f in report.findings)


def test_the_lint_never_writes(target):
    """Even a CHECK whose expression would write is asked in a READ ONLY transaction."""
    factory_rows(target, """INSERT INTO "User" (name) VALUES ('ana');
        CREATE FUNCTION sneaky() RETURNS boolean LANGUAGE sql AS $$ INSERT INTO "Post" (title) VALUES ('x') RETURNING true $$;""")
    report = _lint(target, 'ALTER TABLE "User" ADD CONSTRAINT "c" CHECK (sneaky());')
    assert any("read-only transaction" in f.why for f in report.findings)
    with psycopg.connect(target) as conn:
        assert conn.execute('SELECT count(*) FROM "Post"').fetchone()[0] == 0
