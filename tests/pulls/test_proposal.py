"""What a pull request proposes, from one check result (pure: no git, no GitHub)."""

from __future__ import annotations

import dataclasses

import pytest

from driftbot.engine.findings import resolve_action
from driftbot.engine.lint import LintFinding, LintReport
from driftbot.engine.result import Action, CheckResult, Finding, SchemaReport
from driftbot.errors import PullRequestError
from driftbot.pulls.proposal import build, parse_marker, proposable
from driftbot.settings import EnvironmentSettings

A = "20261201000000_sync_schema_drift"
C = "20261201000000_add_mediakind_video"
# What #13's catch-up looks like: Prisma's warnings header at the top, then the statements.
CATCH_UP = ("/*\n  Warnings:\n\n  - You are about to drop the column `nick` on the `User` table. All the data in the "
            "column will be lost.\n\n*/\n-- AlterTable\nALTER TABLE \"User\" DROP COLUMN \"nick\";\n")
ENUM_SQL = "ALTER TYPE \"MediaKind\" ADD VALUE IF NOT EXISTS 'VIDEO';"

ENV = EnvironmentSettings(name="prod", database_url="postgresql://ro@db/app", git="https://github.com/acme/app.git",
                          ref="main", path="db/migrations/", pull_requests="github")


def result(*findings: Finding, summary=("[*] Changed the `User` table", "  [-] Removed column `nick`"), state="drifted"):
    return CheckResult(environment="prod", state=state, history=None,
                       schema=SchemaReport(checked=True, summary=summary, sql=CATCH_UP), findings=findings)


CATCH_UP_FINDING = Finding("A", "The database has 1 object(s) ...", "", Action(
    "catch_up_migration", (("migration", A),), sql=CATCH_UP, command="save the SQL"))
ENUM_FINDING = Finding("C", "Enum `MediaKind` lacks the value `VIDEO` that schema.prisma has.", "", Action(
    "add_enum_value", (("enum", "MediaKind"), ("value", "VIDEO"), ("schema", "public"), ("sql", ENUM_SQL),
                       ("migration", C)), sql=ENUM_SQL, command="/drift enum prod MediaKind VIDEO"))


def test_catch_up_file_is_the_checked_sql_exactly_with_its_warnings_header():
    r = result(CATCH_UP_FINDING, Finding("A", "Once committed...", "", resolve_action("resolve_applied", A)))
    p = build(r, ENV)
    assert p.content == CATCH_UP  # byte for byte: the header stays at the top, nothing re-rendered
    assert p.file_path == f"db/migrations/{A}/migration.sql"
    assert p.branch == f"driftbot/prod/{A}-{p.sql_sha256[:12]}" and p.base == "main" and p.case == "A"
    assert p.title == f"driftbot: catch-up migration {A} for prod"
    assert "```\n[*] Changed the `User` table\n  [-] Removed column `nick`\n```" in p.body
    assert f"- Check fingerprint: `{r.fingerprint}`" in p.body and "- Environment: `prod`" in p.body
    assert f"`/drift resolve prod --applied {A}`" in p.body and "do not deploy them" in p.body
    assert parse_marker(p.body) == {"env": "prod", "migration": A, "sha": p.sql_sha256}


def test_enum_tracking_migration_holds_the_statement():
    p = build(result(ENUM_FINDING, summary=()), ENV)
    assert (p.migration, p.case, p.content) == (C, "C", ENUM_SQL + "\n")
    assert p.title == f"driftbot: enum tracking migration {C} for prod"
    assert "/drift enum prod MediaKind VIDEO" in p.body and "prisma migrate deploy" in p.body
    assert ENUM_FINDING.title in p.body


def test_the_catch_up_comes_first_and_another_can_be_named():
    r = result(ENUM_FINDING, CATCH_UP_FINDING)
    assert [f.case for f in proposable(r)] == ["C", "A"]
    assert build(r, ENV).migration == C  # the result's order
    assert build(r, ENV, A).migration == A
    with pytest.raises(PullRequestError, match=f"^The check proposes no migration 'x'; it proposes: {C}, {A}.$"):
        build(r, ENV, "x")


def test_nothing_to_propose_and_an_unchecked_environment():
    with pytest.raises(PullRequestError, match="^prod has no catch-up or enum tracking migration to propose \\(state in_sync\\)\\.$"):
        build(result(state="in_sync", summary=()), ENV)
    broken = CheckResult(environment="prod", state="error", history=None,
                         schema=SchemaReport(checked=False, reason="x"), error="The database is unreachable.")
    with pytest.raises(PullRequestError, match="^prod could not be checked: The database is unreachable.$"):
        build(broken, ENV)


def test_same_finding_same_branch_and_marker():
    assert build(result(CATCH_UP_FINDING), ENV) == build(result(CATCH_UP_FINDING), ENV)


def test_the_body_carries_the_lint_of_the_migration_and_of_the_pending_ones():
    p = build(result(CATCH_UP_FINDING), ENV)
    assert "**Lint of this migration** (what it does wherever `prisma migrate deploy` runs it; " in p.body
    assert ("- **risky** statement 1 `ALTER TABLE \"User\" DROP COLUMN \"nick\"`: You are about to drop the column "
            "`nick` on the `User` table. All the data in the column will be lost.") in p.body
    assert "Pending migrations" not in p.body and p.body.endswith(p.marker)
    failing = LintFinding("will_fail", "not_null_over_nulls", "20261130000000_x", 1,
                          'ALTER TABLE "User" ALTER COLUMN "name" SET NOT NULL', "Rows of `User` hold NULL in `name` "
                          "on this database (3 found).", "Backfill `name` first.", "23502")
    pending = LintReport(("20261130000000_x",), findings=(failing,), environment="prod", data_checked=True)
    r = dataclasses.replace(result(CATCH_UP_FINDING), lint=pending)
    body = build(r, ENV).body
    assert "**Pending migrations on prod**, linted on its data (`driftbot lint prod`): 1 will fail · 0 risky · 0 notes" in body
    assert ("- **will fail** (23502) statement 1 `ALTER TABLE \"User\" ALTER COLUMN \"name\" SET NOT NULL`: Rows of "
            "`User` hold NULL in `name` on this database (3 found). *Safer:* Backfill `name` first.") in body
