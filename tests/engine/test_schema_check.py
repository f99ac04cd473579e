"""Schema drift findings end to end: each runbook case with its exact proposal."""

from __future__ import annotations

import re

from tests.factory import INIT, POSTS, check_enum_value_only_in_schema, check_prod, deploy, execute, write_migrations

M1, M2, M3 = "20250101000000_init", "20250102000000_posts", "20250103000000_more"


def by_case(result, case):
    return [f for f in result.findings if f.case == case]


def test_case_a_extra_objects_get_a_catch_up_migration_then_resolve_applied(db, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT})
    deploy(db, folder)
    execute(db, 'CREATE TABLE "staff" ("id" SERIAL NOT NULL, CONSTRAINT "staff_pkey" PRIMARY KEY ("id")); '
                'ALTER TABLE "User" ADD COLUMN "nickname" TEXT')
    result = check_prod(db, tmp_path, folder)
    assert result.state == "drifted" and result.exit_code == 1
    assert list(result.schema.summary) == ["[+] Added tables", "  - staff", "",
                                           "[*] Changed the `User` table", "  [+] Added column `nickname`"]
    catch_up, resolve = by_case(result, "A")
    name = catch_up.action.arguments["migration"]
    assert re.fullmatch(r"\d{14}_sync_schema_drift", name)
    assert catch_up.action.kind == "catch_up_migration" and catch_up.action.sql == result.schema.sql
    assert 'CREATE TABLE "staff"' in catch_up.action.sql
    assert (resolve.action.kind, resolve.action.arguments) == ("resolve_applied", {"migration": name})
    body = result.to_json()
    assert body["schema"]["checked"] is True and body["schema"]["summary"][0] == "[+] Added tables"


def test_case_b_missing_objects_restore_by_deploy_never_reset(db, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: POSTS})
    deploy(db, folder)
    execute(db, 'DROP TABLE "Post"')
    result = check_prod(db, tmp_path, folder)
    assert list(result.schema.summary) == ["[-] Removed tables", "  - Post"]
    (b,) = by_case(result, "B")
    assert b.action.kind == "deploy" and 'CREATE TABLE IF NOT EXISTS "Post"' in b.action.sql
    assert "reset" not in (b.action.command or "") and "Never reset" in b.detail


def test_case_c_enum_value_in_schema_prisma_but_not_in_database(db, tmp_path):
    result = check_enum_value_only_in_schema(db, tmp_path)
    (c,) = by_case(result, "C")
    args = c.action.arguments
    assert c.action.kind == "add_enum_value"
    assert (args["enum"], args["value"]) == ("MediaKind", "VIDEO")
    assert args["sql"] == c.action.sql == "ALTER TYPE \"MediaKind\" ADD VALUE IF NOT EXISTS 'VIDEO';"
    assert re.fullmatch(r"\d{14}_add_mediakind_video", args["migration"])


def test_case_c_enum_value_a_migration_added_but_the_database_lacks(db, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: "CREATE TYPE \"E\" AS ENUM ('A');\n", M2: "ALTER TYPE \"E\" ADD VALUE 'B';\n"})
    deploy(db, write_migrations(tmp_path / "deployed", {M1: "CREATE TYPE \"E\" AS ENUM ('A');\n", M2: "SELECT 1;\n"}))
    result = check_prod(db, tmp_path, folder)
    assert list(result.schema.summary) == ["[*] Changed the `E` enum", "  [-] Removed variant `B`"]
    (c,) = by_case(result, "C")
    assert c.action.arguments["value"] == "B" and "the migrations" in c.title


def test_case_e_no_prisma_migrations_gets_a_baseline_from_the_live_schema(db, tmp_path):
    execute(db, INIT)
    folder = write_migrations(tmp_path / "m", {})  # (with M1 = INIT in the folder, M1 is recorded instead: test_verdicts)
    result = check_prod(db, tmp_path, folder)
    assert result.state == "not_managed"
    (e,) = by_case(result, "E")
    assert e.action.kind == "baseline" and e.action.arguments == {"migration": "0_baseline"}
    assert e.action.sql.startswith('-- CreateTable\nCREATE TABLE "User" (')


def test_pending_migration_already_run_by_hand_is_resolved_not_deployed(db, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: POSTS})
    deploy(db, write_migrations(tmp_path / "deployed", {M1: INIT}))
    execute(db, POSTS)  # someone ran the pending migration's SQL by hand
    result = check_prod(db, tmp_path, folder)
    assert list(result.schema.summary) == ["[+] Added tables", "  - Post"]
    hand = [f for f in result.findings if f.case == "B'" and M2 in f.title]
    assert hand and hand[0].action.kind == "resolve_applied" and hand[0].action.arguments == {"migration": M2}
    assert result.history.applied_by_hand == (M2,) and result.history.pending == ()
    assert not [f for f in result.findings if f.case in ("A", "B")]  # no catch-up, no deploy for it


def test_a_history_that_cannot_be_replayed_is_a_finding_and_schema_not_checked(db, tmp_path):
    deploy(db, write_migrations(tmp_path / "deployed", {M1: INIT, M2: "SELECT 1;\n"}))
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: 'ALTER TABLE "Nope" ADD COLUMN "x" TEXT;\n'})
    result = check_prod(db, tmp_path, folder)
    assert not result.schema.checked and f"migration {M2} cannot be replayed" in result.schema.reason
    (h,) = [f for f in result.findings if "cannot be replayed" in f.title]
    assert 'ALTER TABLE "Nope" ADD COLUMN "x" TEXT;' in h.detail and 'relation "Nope" does not exist' in h.title


def test_far_apart_history_and_schema_proposes_a_baseline(db, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT})
    deploy(db, folder)
    execute(db, ";".join(f'CREATE TABLE "t{i}" ("id" INTEGER)' for i in range(12)))
    result = check_prod(db, tmp_path, folder)
    (e,) = by_case(result, "E")
    assert "far apart" in e.title and 'CREATE TABLE "t0"' in e.action.sql and 'CREATE TABLE "User"' in e.action.sql


def test_proposed_names_are_stable_all_day_and_sort_after_every_migration():
    from datetime import datetime, timezone

    from driftbot.engine.schema_check import migration_stamp

    morning, evening = datetime(2025, 12, 21, 8, 0, tzinfo=timezone.utc), datetime(2025, 12, 21, 23, 59, tzinfo=timezone.utc)
    assert migration_stamp((M1,), morning) == migration_stamp((M1,), evening) == "20251221000000"
    assert migration_stamp(("20251221150000_today", M1), morning) == "20251221150001"


def test_the_same_drift_checked_twice_has_the_same_fingerprint(db, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT})
    deploy(db, folder)
    execute(db, 'CREATE TABLE "staff" ("id" INTEGER)')
    first, second = check_prod(db, tmp_path, folder), check_prod(db, tmp_path, folder)
    assert first.fingerprint == second.fingerprint


def test_drift_from_a_migration_edited_after_apply_says_so(db, tmp_path):
    deploy(db, write_migrations(tmp_path / "deployed", {M1: INIT}))
    folder = write_migrations(tmp_path / "m", {M1: INIT + 'CREATE INDEX "User_email_idx" ON "User"("email");\n'})
    result = check_prod(db, tmp_path, folder)
    assert list(result.schema.summary) == ["[*] Changed the `User` table", "  [-] Removed index on columns (email)"]
    (b,) = by_case(result, "B")
    assert f"{M1} was edited after it was applied" in b.detail and 'CREATE INDEX IF NOT EXISTS "User_email_idx"' in b.action.sql


def test_an_enum_value_a_pending_migration_renames_into_place_is_deployed_not_added_by_hand(db, pg_url, tmp_path, databases):
    """Issue 27, item 3: schema.prisma has C; pending migrations add B, then rename B to C. The value
    comes with `migrate deploy`, after both: adding C by hand first makes the rename fail ("already
    exists"). Judged at the end of the pending history, not one migration alone."""
    from driftbot.settings import Settings
    from tests.engine.converge import Team, carry_out

    init, add = "CREATE TYPE \"Kind\" AS ENUM ('A');\n", "ALTER TYPE \"Kind\" ADD VALUE 'B';\n"
    rename = "ALTER TYPE \"Kind\" RENAME VALUE 'B' TO 'C';\n"
    deploy(db, write_migrations(tmp_path / "deployed", {M1: init}))
    folder = write_migrations(tmp_path / "m", {M1: init, M2: add, M3: rename})
    schema = tmp_path / "schema.prisma"
    schema.write_text("enum Kind {\n  A\n  C\n}\n")
    s = Settings(environments={"prod": {"database_url": db, "admin_url": db, "shadow_url": pg_url, "migrations": str(folder),
                                        "schema": str(schema)}}, cache_dir=tmp_path / "cache")
    team = Team(s, "prod", db, folder, scratch=databases.create)
    result = team.check()
    assert by_case(result, "C") == [], [f.title for f in result.findings]
    outcome = carry_out(team, result)
    assert outcome.converged, outcome.explain()
