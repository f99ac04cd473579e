"""The check message says what Prisma hides: work run by hand, the deploy preview, and Prisma's wrong "up to date"."""

from __future__ import annotations

import json
from pathlib import Path

from driftbot.engine.check import run_check
from driftbot.engine.result import Action, CheckResult, Finding, SchemaReport
from driftbot.settings import Settings
from driftbot.slack.views import check_message, finding_lines
from tests.factory import INIT, deploy, execute, write_migrations

M1, M2, M3 = "20250101000000_init", "20250102000000_staff", "20250103000000_more"
STAFF = 'CREATE TABLE "staff" ("id" SERIAL NOT NULL, "name" TEXT NOT NULL, CONSTRAINT "staff_pkey" PRIMARY KEY ("id"));\n'
MORE = 'ALTER TABLE "User" ADD COLUMN "age" INTEGER NOT NULL;\n'


def result_for(db, pg_url, folder: Path, tmp_path):
    s = Settings(environments={"prod": {"database_url": db, "shadow_url": pg_url, "migrations": str(folder)}},
                 cache_dir=tmp_path / "cache")
    return run_check(s, s.environment("prod"))


def text_of(blocks) -> str:
    return "\n".join(b["text"]["text"] for b in blocks if b.get("type") == "section")


def test_message_shows_by_hand_work_and_the_deploy_preview(db, pg_url, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: STAFF, M3: MORE})
    deploy(db, write_migrations(tmp_path / "deployed", {M1: INIT}))
    execute(db, STAFF)
    result = result_for(db, pg_url, folder, tmp_path)
    _, blocks, _ = check_message(result, 1, "U1")
    body = text_of(blocks)
    assert "1 run by hand, never recorded" in body
    assert f"*Deploy preview* `prisma migrate deploy` would fail at `{M2}`: ERROR: relation \"staff\" already exists" in body
    lines = finding_lines(result)
    assert f"[B']* Migration {M2} is pending, but the database already has every change it makes" in lines


def test_message_says_when_prisma_would_wrongly_say_up_to_date(db, pg_url, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: STAFF})
    deploy(db, folder)
    (folder / M2 / "migration.sql").write_text(STAFF + "-- edited\n")
    result = result_for(db, pg_url, folder, tmp_path)
    body = text_of(check_message(result, 1, None)[1])
    assert "1 edited after apply" in body and "`prisma migrate status` would say: Database schema is up to date!" in body
    assert "_Prisma does not say:_ " + M2 + " was edited after it was applied" in finding_lines(result)


def test_preview_caveats_reach_the_thread(db, pg_url, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT, M3: MORE})
    deploy(db, write_migrations(tmp_path / "deployed", {M1: INIT}))
    execute(db, 'INSERT INTO "User" ("email") VALUES (\'a@example.com\')')  # a NOT NULL column can fail on it
    result = result_for(db, pg_url, folder, tmp_path)
    body = text_of(check_message(result, 1, None)[1])
    assert "would apply every pending migration" in body and "can still fail on real rows" in body
    assert f'`{M3}: ALTER TABLE "User" ADD COLUMN "age" INTEGER NOT NULL;' in finding_lines(result)


def test_message_says_prisma_cannot_see_a_hand_edited_trigger(db, pg_url, tmp_path):
    touch = ('CREATE FUNCTION "touch"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n'
             'CREATE TRIGGER "user_touch" BEFORE UPDATE ON "User" FOR EACH ROW EXECUTE FUNCTION "touch"();\n')
    folder = write_migrations(tmp_path / "m", {M1: INIT + touch})
    deploy(db, folder)
    execute(db, 'ALTER TABLE "User" DISABLE TRIGGER "user_touch"')
    result = result_for(db, pg_url, folder, tmp_path)
    body = text_of(check_message(result, 1, None)[1])
    assert "[*] Changed triggers\n  - user_touch on User (now disabled)" in body
    assert ("_`prisma migrate dev` and `migrate diff` show none of the function, trigger, row-level security or "
            "index-validity changes here._") in body
    assert "_Prisma does not say:_ `prisma migrate dev` and `migrate diff` compare no functions, triggers" in finding_lines(result)


def test_open_pull_request_buttons_only_where_pull_requests_are_set_up():
    catch_up = Finding("A", "The database has 1 object(s)...", "", Action(
        "catch_up_migration", (("migration", "20261201000000_sync_schema_drift"),), sql="CREATE TABLE x ();"))
    enum = Finding("C", "Enum `E` lacks `B`.", "", Action(
        "add_enum_value", (("enum", "E"), ("value", "B"), ("migration", "20261201000000_add_e_b")),
        sql="ALTER TYPE \"E\" ADD VALUE IF NOT EXISTS 'B';"))
    result = CheckResult(environment="prod", state="drifted", history=None, findings=(enum, catch_up),
                         schema=SchemaReport(checked=True, summary=("[+] Added tables", "  - x"), sql="CREATE TABLE x ();"))

    def pull_buttons(blocks):
        return [e for b in blocks if b["type"] == "actions" for e in b["elements"]
                if e["action_id"].startswith("open_pull_request_")]

    assert pull_buttons(check_message(result, 7, None)[1]) == []
    both = pull_buttons(check_message(result, 7, None, pull_requests=True)[1])
    assert [b["text"]["text"] for b in both] == ["Open pull request: 20261201000000_add_e_b",
                                                 "Open pull request: 20261201000000_sync_schema_drift"]
    assert [json.loads(b["value"]) for b in both] == [{"check": 7, "finding": 0}, {"check": 7, "finding": 1}]
    one = CheckResult(environment="prod", state="drifted", history=None, findings=(catch_up,), schema=result.schema)
    (only,) = pull_buttons(check_message(one, 7, None, pull_requests=True)[1])
    assert (only["action_id"], only["text"]["text"]) == ("open_pull_request_0", "Open pull request")
