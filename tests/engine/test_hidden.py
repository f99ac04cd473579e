"""What Prisma hides: pending migrations already run by hand (decided from schemas), and the
deploy preview (would `migrate deploy` succeed now?). Real PostgreSQL; the shadow is the same server."""

from __future__ import annotations

import pytest

from driftbot.engine.check import run_check
from driftbot.settings import Settings
from tests.factory import INIT, deploy, execute, write_migrations

M1, M2, M3 = "20250101000000_init", "20250102000000_staff", "20250103000000_more"
STAFF = (
    'CREATE TYPE "Role" AS ENUM (\'ADMIN\', \'USER\');\n'
    'CREATE TABLE "staff" ("id" SERIAL NOT NULL, "name" TEXT NOT NULL, "role" "Role" NOT NULL DEFAULT \'USER\',\n'
    '    CONSTRAINT "staff_pkey" PRIMARY KEY ("id"));\n'
    'CREATE UNIQUE INDEX "staff_name_key" ON "staff"("name");\n'
    'ALTER TABLE "User" ADD COLUMN "nickname" TEXT;\n'
)
MORE = 'CREATE TABLE "Other" ("id" INTEGER NOT NULL, CONSTRAINT "Other_pkey" PRIMARY KEY ("id"));\n'


def check(db, pg_url, folder, tmp_path):
    s = Settings(environments={"prod": {"database_url": db, "shadow_url": pg_url, "migrations": str(folder)}},
                 cache_dir=tmp_path / "cache")
    return run_check(s, s.environment("prod"))


@pytest.fixture
def folder(tmp_path):
    return write_migrations(tmp_path / "m", {M1: INIT, M2: STAFF, M3: MORE})


@pytest.fixture
def at_m1(db, tmp_path):
    deploy(db, write_migrations(tmp_path / "deployed", {M1: INIT}))
    return db


def test_applied_by_hand_whole(at_m1, pg_url, folder, tmp_path):
    execute(at_m1, STAFF)  # someone pasted the pending migration into psql
    result = check(at_m1, pg_url, folder, tmp_path)
    h = result.to_json()["history"]
    assert h["applied_by_hand"] == [M2] and h["pending"] == [M3]
    assert h["prisma_status"]["exit_code"] == 1 and M2 in h["prisma_status"]["says"]  # Prisma: pending
    (detail,) = h["applied_by_hand_details"]
    assert detail["whole"] and detail["missing"] == [] and {"staff", "Role", "staff_name_key", "User.nickname"} <= set(detail["present"])
    (finding,) = [f for f in result.findings if f.case == "B'"]
    assert finding.action.kind == "resolve_applied" and finding.action.arguments == {"migration": M2}
    assert not [f for f in result.findings if f.case == "A"]  # explained by M2, not a catch-up migration
    assert result.state == "drifted"
    # what deploy would do now: fail on M2, as Prisma's P3018 "already exists"
    p = h["deploy_preview"]
    assert p["ok"] is False and p["migration"] == M2 and "already exists" in p["error"]


def test_applied_by_hand_in_part_says_what_is_missing(at_m1, pg_url, folder, tmp_path):
    execute(at_m1, STAFF.split('ALTER TABLE "User"')[0])  # everything but the new column
    result = check(at_m1, pg_url, folder, tmp_path)
    h = result.to_json()["history"]
    assert h["applied_by_hand"] == [] and h["pending"] == [M2, M3]
    (detail,) = h["applied_by_hand_details"]
    assert not detail["whole"] and detail["missing"] == ["User.nickname"] and "staff" in detail["present"]
    assert detail["missing_sql"].strip().endswith('ALTER TABLE "User" ADD COLUMN     "nickname" TEXT;')
    (finding,) = [f for f in result.findings if f.case == "B'"]
    assert "partly run by hand" in finding.title and finding.action.sql == detail["missing_sql"]


def test_a_table_of_the_same_name_but_other_columns_is_not_the_migration(at_m1, pg_url, folder, tmp_path):
    execute(at_m1, 'CREATE TABLE "staff" ("id" SERIAL NOT NULL, "email" TEXT, CONSTRAINT "staff_pkey" PRIMARY KEY ("id"))')
    result = check(at_m1, pg_url, folder, tmp_path)
    h = result.to_json()["history"]
    assert h["applied_by_hand"] == [] and h["applied_by_hand_details"] == [] and h["pending"] == [M2, M3]
    p = h["deploy_preview"]
    assert p["ok"] is False and p["migration"] == M2 and p["error"] == 'ERROR: relation "staff" already exists'
    assert any(f.case == "B" and "would fail now, at " + M2 in f.title for f in result.findings)


def test_unrelated_pending_migrations_deploy_cleanly(at_m1, pg_url, folder, tmp_path):
    result = check(at_m1, pg_url, folder, tmp_path)
    h = result.to_json()["history"]
    assert h["applied_by_hand"] == [] and h["applied_by_hand_details"] == [] and h["pending"] == [M2, M3]
    assert h["deploy_preview"]["ok"] is True and h["deploy_preview"]["available"] is True
    # staff is created by the pending migration itself: no row can hold a duplicate name
    assert h["deploy_preview"]["caveats"] == []


LATER = ('ALTER TABLE "User" ADD COLUMN "age" INTEGER NOT NULL;\n'
         'CREATE UNIQUE INDEX "User_email_key" ON "User"("email");\n')


def test_preview_names_no_risk_on_rows_for_tables_without_rows(at_m1, pg_url, tmp_path):
    """The first thing a team points driftbot at: a database whose tables are empty (or missing)."""
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: STAFF, M3: LATER})
    assert check(at_m1, pg_url, folder, tmp_path).deploy_preview.caveats == ()


def test_preview_names_the_risk_on_rows_where_there_are_rows(at_m1, pg_url, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: STAFF, M3: LATER})
    check(at_m1, pg_url, folder, tmp_path)  # the preview itself is cached now: its caveats must not be
    execute(at_m1, 'INSERT INTO "User" ("email") VALUES (\'a@example.com\')')
    caveats = check(at_m1, pg_url, folder, tmp_path).deploy_preview.caveats
    assert [c.split(": ", 1)[1].rsplit(" (", 1)[0] for c in caveats] == [
        'ALTER TABLE "User" ADD COLUMN "age" INTEGER NOT NULL;', 'CREATE UNIQUE INDEX "User_email_key" ON "User"("email");']


def test_preview_keeps_the_risk_on_a_table_a_pending_migration_fills(at_m1, pg_url, tmp_path):
    fills = STAFF.replace('CREATE UNIQUE INDEX', 'INSERT INTO "staff" ("name") VALUES (\'x\');\nCREATE UNIQUE INDEX')
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: fills})
    caveats = check(at_m1, pg_url, folder, tmp_path).deploy_preview.caveats
    assert len(caveats) == 1 and "staff_name_key" in caveats[0]


def test_preview_names_the_failing_statement_of_a_broken_migration(at_m1, pg_url, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: MORE, M3: 'ALTER TABLE "Other" ADD COLUMN "x" TEXT;\nALTER TABLE "Nope" ADD COLUMN "y" TEXT;\n'})
    p = check(at_m1, pg_url, folder, tmp_path).to_json()["history"]["deploy_preview"]
    assert p["ok"] is False and p["migration"] == M3
    assert p["error"] == 'ERROR: relation "Nope" does not exist'
    assert p["statement"] == 'ALTER TABLE "Nope" ADD COLUMN "y" TEXT;'


def test_preview_of_an_enum_value_used_in_the_migration_that_adds_it(at_m1, pg_url, tmp_path):
    """Prisma's `migrate dev` writes ADD VALUE and its first use into one migration.sql; deploy runs the file
    as one transaction, where PostgreSQL refuses the new value (seen on a real public history). The preview
    names the statement that uses it, not Prisma's warnings header, and says how to split the migration."""
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: MORE, M3: (
        "/*\n  Warnings:\n\n  - A unique constraint covering the columns `[role]` will be added.\n\n*/\n"
        "-- CreateEnum\nCREATE TYPE \"Role\" AS ENUM ('USER');\n\n"
        "-- AlterEnum\nALTER TYPE \"Role\" ADD VALUE 'ADMIN';\n\n"
        "-- AlterTable\nALTER TABLE \"Other\" ADD COLUMN \"role\" \"Role\" NOT NULL DEFAULT 'ADMIN';\n")})
    result = check(at_m1, pg_url, folder, tmp_path)
    p = result.to_json()["history"]["deploy_preview"]
    assert p["ok"] is False and p["migration"] == M3 and 'unsafe use of new value "ADMIN"' in p["error"]
    assert p["statement"] == 'ALTER TABLE "Other" ADD COLUMN "role" "Role" NOT NULL DEFAULT \'ADMIN\';'
    (finding,) = [f for f in result.findings if "would fail now" in f.title]
    assert "a migration of its own" in finding.detail and "Warnings" not in finding.detail


def test_preview_of_invalid_sql(at_m1, pg_url, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: "CREATE TABLE oops (;\n"})
    result = check(at_m1, pg_url, folder, tmp_path)
    p = result.to_json()["history"]["deploy_preview"]
    assert p["ok"] is False and p["migration"] == M2 and "syntax error" in p["error"]
    assert any(f.case == "B" and "would fail now" in f.title for f in result.findings)


def test_preview_of_a_missing_extension(at_m1, pg_url, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: 'CREATE EXTENSION IF NOT EXISTS "driftbot_no_such_ext";\n'})
    p = check(at_m1, pg_url, folder, tmp_path).to_json()["history"]["deploy_preview"]
    assert p["ok"] is False and p["available"] is True and p["migration"] == M2
    assert "driftbot_no_such_ext" in p["error"]


def test_preview_is_unavailable_when_the_live_schema_cannot_be_copied(at_m1, pg_url, tmp_path):
    execute(at_m1, "CREATE DOMAIN positive AS integer CHECK (VALUE > 0)")
    execute(at_m1, 'ALTER TABLE "User" ADD COLUMN "score" positive')
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: MORE})
    result = check(at_m1, pg_url, folder, tmp_path)
    p = result.to_json()["history"]["deploy_preview"]
    assert p["available"] is False and p["ok"] is False and p["error"].startswith("preview unavailable: ")
    assert not any("would fail now" in f.title for f in result.findings)


def test_preview_copies_the_live_functions_a_pending_migration_uses(at_m1, pg_url, tmp_path):
    """A function made by hand in production, used by a pending migration: the preview rebuilds it
    with the rest of the live schema, so it answers (here: the deploy would succeed) instead of
    giving up; the same migration against a function nobody made fails, naming it."""
    execute(at_m1, 'CREATE FUNCTION "slugify"(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT lower(t) $$')
    uses = 'CREATE INDEX "User_slug_idx" ON "User" ("slugify"("email"));\n'
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: uses})
    p = check(at_m1, pg_url, folder, tmp_path).to_json()["history"]["deploy_preview"]
    assert p["ok"] is True and p["available"] is True, p
    folder = write_migrations(tmp_path / "m2", {M1: INIT, M2: uses.replace('"slugify"', '"no_such_fn"')})
    p = check(at_m1, pg_url, folder, tmp_path).to_json()["history"]["deploy_preview"]
    assert p["ok"] is False and p["migration"] == M2 and "no_such_fn" in p["error"], p


def test_failed_migration_blocks_deploy_as_prisma_says(db, pg_url, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: "CREATE TABLE oops (;\n", M3: MORE})
    deploy(db, folder)
    p = check(db, pg_url, folder, tmp_path).to_json()["history"]["deploy_preview"]
    assert p["ok"] is False and p["migration"] == M2 and p["error"].startswith("P3009")


def test_no_preview_when_nothing_is_pending(db, pg_url, folder, tmp_path):
    deploy(db, folder)
    body = check(db, pg_url, folder, tmp_path).to_json()
    assert body["state"] == "in_sync" and "deploy_preview" not in body["history"]


def test_a_repeated_check_reuses_the_preview_and_a_changed_migration_does_not(at_m1, pg_url, folder, tmp_path):
    first = check(at_m1, pg_url, folder, tmp_path).to_json()["history"]["deploy_preview"]
    assert first["ok"] is True
    dead_shadow = "postgresql://postgres@127.0.0.1:1/postgres"  # from now on no scratch database can be made
    again = check(at_m1, dead_shadow, folder, tmp_path).to_json()["history"]["deploy_preview"]
    assert again == first  # the replay and the preview both came from the cache
    (folder / M3 / "migration.sql").write_text(MORE + "-- changed\n")
    changed = check(at_m1, dead_shadow, folder, tmp_path).to_json()["history"]["deploy_preview"]
    assert changed["available"] is False and "shadow" in changed["error"]


def test_pending_migrations_run_by_hand_are_judged_at_their_point_of_the_history(db, pg_url, tmp_path, databases):
    """Issue 27, item 3: two pending migrations run by hand, the second dropping and renaming what the
    first added. The first is not "partly run by hand" for lacking what the second removed: the live
    schema is compared with the schema after both. Both are recorded; the plan converges (no step that
    adds a column only for deploy to drop it again)."""
    from tests.engine.converge import Team, carry_out

    add = 'ALTER TABLE "User" ADD COLUMN "nickname" TEXT, ADD COLUMN "handle" TEXT;\nCREATE TABLE "Tag" ("id" INTEGER);\n'
    drop = 'ALTER TABLE "User" DROP COLUMN "nickname";\nALTER TABLE "User" RENAME COLUMN "handle" TO "login";\n'
    deploy(db, write_migrations(tmp_path / "deployed", {M1: INIT}))
    execute(db, add)
    execute(db, drop)  # both pasted into psql, never recorded
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: add, M3: drop})
    s = Settings(environments={"prod": {"database_url": db, "admin_url": db, "shadow_url": pg_url,
                                        "migrations": str(folder)}}, cache_dir=tmp_path / "cache")
    team = Team(s, "prod", db, folder, scratch=databases.create)
    result = team.check()
    assert result.history.applied_by_hand == (M2, M3), [f.title for f in result.findings]
    assert not [f for f in result.findings if "partly" in f.title]
    outcome = carry_out(team, result)
    assert outcome.converged, outcome.explain()


def test_without_drift_the_preview_starts_from_the_replay_not_a_rebuild(at_m1, pg_url, folder, tmp_path, monkeypatch):
    """The replay the check just made (kept as a template) is the live schema: the preview copies it
    instead of building the live schema again from its SQL, and answers the same."""
    from driftbot.engine import preview

    with monkeypatch.context() as m:
        m.setattr(preview, "kept_template", lambda *args: None)  # as if no template were kept: rebuilt
        rebuilt = check(at_m1, pg_url, folder, tmp_path / "rebuilt")
    monkeypatch.setattr(preview, "rebuild", lambda conn, live: pytest.fail("rebuilt, not copied from the replay"))
    copied = check(at_m1, pg_url, folder, tmp_path / "copied")  # another cache: the preview runs again
    assert copied.to_json()["history"]["deploy_preview"] == rebuilt.to_json()["history"]["deploy_preview"]
    assert copied.deploy_preview.ok is True and copied.deploy_preview.available is True


def test_with_drift_the_preview_never_starts_from_the_replay(at_m1, pg_url, tmp_path):
    """A column made by hand that a pending migration adds too: the replay lacks it, so a preview on a copy
    of the replay would say the deploy succeeds; on the live schema it fails, as the deploy would."""
    adds = 'ALTER TABLE "User" ADD COLUMN "nickname" TEXT;\n'
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: adds})
    assert check(at_m1, pg_url, folder, tmp_path / "before").deploy_preview.ok is True  # the replay kept
    execute(at_m1, adds)
    p = check(at_m1, pg_url, folder, tmp_path / "after").to_json()["history"]
    assert p["applied_by_hand"] == [M2]  # the whole migration by hand: resolve, never deploy
    assert p["deploy_preview"]["ok"] is False and "already exists" in p["deploy_preview"]["error"]


def test_a_preview_on_the_replay_follows_an_edited_applied_migration(at_m1, pg_url, tmp_path):
    """The template the preview copies is the replay of the applied files as they are now: after an applied
    migration's file is edited back and forth, never the template of its other content."""
    pending = 'ALTER TABLE "User" ADD COLUMN "nickname" TEXT;\n'
    edited = INIT + pending  # the applied file now also adds the column the pending one adds
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: pending})
    assert check(at_m1, pg_url, folder, tmp_path / "a").deploy_preview.ok is True
    (folder / M1 / "migration.sql").write_text(edited)
    assert check(at_m1, pg_url, folder, tmp_path / "b").state != "in_sync"  # edited, and a column missing
    execute(at_m1, pending)  # the database as the edited file makes it: no drift against the new replay
    result = check(at_m1, pg_url, folder, tmp_path / "c")
    p = result.deploy_preview
    assert p.ok is False and "already exists" in p.error  # on the edited replay, as deploy would fail
