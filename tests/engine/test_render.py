"""Rendering: Prisma's drift summary and catch-up SQL, line for line as prisma-facts.md records them."""

from __future__ import annotations

from driftbot.cli.demo import DB_PUSH_DRIFT
from driftbot.engine.diff import diff
from driftbot.engine.render import render_migration, render_sql, render_summary
from tests.engine.snapshots import snapshot_of

BASE = """
CREATE TYPE "ApiTokenAlgorithm" AS ENUM ('IMAGE');
CREATE TABLE "Account" ("id" SERIAL NOT NULL, CONSTRAINT "Account_pkey" PRIMARY KEY ("id"));
"""
DRIFT = """
ALTER TYPE "ApiTokenAlgorithm" ADD VALUE 'AUDIO';
ALTER TABLE "Account" ADD COLUMN "nickname" TEXT;
CREATE TABLE "staff" ("id" SERIAL NOT NULL, "name" TEXT NOT NULL, "email" TEXT, CONSTRAINT "staff_pkey" PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "staff_email_key" ON "staff"("email");
"""

# What Prisma 6.19.3 printed for this drift (prisma-facts.md).
PRISMA_SUMMARY = """\
[+] Added tables
  - staff

[*] Changed the `ApiTokenAlgorithm` enum
  [+] Added variant `AUDIO`

[*] Changed the `Account` table
  [+] Added column `nickname`

[*] Changed the `staff` table
  [+] Added unique index on columns (email)"""

PRISMA_SQL = """\
-- AlterEnum
ALTER TYPE "ApiTokenAlgorithm" ADD VALUE 'AUDIO';

-- AlterTable
ALTER TABLE "Account" ADD COLUMN     "nickname" TEXT;

-- CreateTable
CREATE TABLE "staff" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "email" TEXT,

    CONSTRAINT "staff_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "staff_email_key" ON "staff"("email");
"""

DEMO_DRIFT = """
CREATE TABLE "User" ("id" SERIAL NOT NULL, CONSTRAINT "User_pkey" PRIMARY KEY ("id"));
CREATE TABLE "Case" ("id" SERIAL NOT NULL, CONSTRAINT "Case_pkey" PRIMARY KEY ("id"));
"""
DB_PUSH = DB_PUSH_DRIFT  # the demo's own db-push drift (product.md's example)


def _ops(databases, base, drift):
    before = snapshot_of(databases.create(), base)
    after = snapshot_of(databases.create(), base + drift)
    return diff(before, after)


def test_summary_matches_prisma_line_for_line(databases):
    assert "\n".join(render_summary(_ops(databases, BASE, DRIFT))) == PRISMA_SUMMARY


def test_catch_up_sql_matches_prisma_migrate_diff(databases):
    assert render_sql(_ops(databases, BASE, DRIFT)) == PRISMA_SQL


def test_product_example_db_push_tables(databases):
    summary = render_summary(_ops(databases, DEMO_DRIFT, DB_PUSH))
    assert list(summary) == [
        "[+] Added tables", "  - case_milestones", "  - staff", "  - vendor_candidates", "",
        "[*] Changed the `case_milestones` table", "  [+] Added foreign key on columns (caseId)", "",
        "[*] Changed the `staff` table", "  [+] Added unique index on columns (email)",
    ]


def test_removals_and_changes_read_as_prisma_prints_them(databases):
    base = BASE + 'ALTER TABLE "Account" ADD COLUMN "access_token" TEXT, ADD COLUMN "n" INTEGER NOT NULL;'
    drift = 'ALTER TABLE "Account" DROP COLUMN "access_token", ALTER COLUMN "n" DROP NOT NULL; CREATE TYPE "EmailTransportType" AS ENUM (\'SMTP\');'
    assert list(render_summary(_ops(databases, base, drift))) == [
        "[+] Added enums", "  - EmailTransportType", "",
        "[*] Changed the `Account` table", "  [-] Removed column `access_token`",
        "  [*] Altered column `n` (changed from Required to Nullable)",
    ]


def test_warnings_are_prisma_s_header_never_comments_inside_the_statements(databases):
    """Case 3 of issue 13: Prisma writes its warnings as a header at the top of the migration file
    (its words: tests/conformance/test_warnings_vs_prisma.py); `migrate diff --script` writes none."""
    base = BASE + 'ALTER TABLE "Account" ADD COLUMN "old" TEXT, ADD COLUMN "n" INTEGER;'
    drift = ('ALTER TABLE "Account" DROP COLUMN "old", ALTER COLUMN "n" SET NOT NULL; '
             'CREATE INDEX "Account_n_idx" ON "Account"("n");')
    ops = _ops(databases, base, drift)
    assert "Warning" not in render_sql(ops)
    migration = render_migration(ops)
    assert migration == (
        "/*\n  Warnings:\n\n"
        "  - You are about to drop the column `old` on the `Account` table. All the data in the column will be lost.\n"
        "  - Made the column `n` on table `Account` required. This step will fail if there are existing NULL values "
        "in that column.\n"
        "  - The index `Account_n_idx` is built without CONCURRENTLY, blocking writes to `Account` while it runs.\n"
        "\n*/\n" + render_sql(ops)
    )
    assert 'CREATE INDEX "Account_n_idx" ON "Account"("n");' in render_sql(ops).splitlines()


def test_new_enum_values_are_added_never_recreated(databases):
    sql = render_sql(_ops(databases, BASE, "ALTER TYPE \"ApiTokenAlgorithm\" ADD VALUE 'A'; ALTER TYPE \"ApiTokenAlgorithm\" ADD VALUE 'B' BEFORE 'IMAGE';"))
    assert "CREATE TYPE" not in sql and "DROP TYPE" not in sql
    assert "ALTER TYPE \"ApiTokenAlgorithm\" ADD VALUE 'B' BEFORE 'IMAGE';" in sql
    assert "ALTER TYPE \"ApiTokenAlgorithm\" ADD VALUE 'A';" in sql


def test_no_drift_renders_nothing(databases):
    ops = _ops(databases, BASE, "")
    assert ops == () and render_summary(ops) == () and render_sql(ops) == "-- This is an empty migration.\n"


def test_removed_views_share_one_block(databases):
    base = BASE + 'CREATE VIEW "v_a" AS SELECT 1 AS x; CREATE VIEW "v_b" AS SELECT 2 AS y;'
    summary = render_summary(_ops(databases, base, 'DROP VIEW "v_a"; DROP VIEW "v_b";'))
    assert list(summary) == ["[-] Removed views", "  - v_a", "  - v_b"]
