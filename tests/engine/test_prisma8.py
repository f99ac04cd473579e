"""Prisma 8 projects end to end on real databases (built as `db migrate` leaves them): driftbot's verdict
next to what `migration status` and `db verify` would say. The conformance suite checks those answers
against the real 8.0.0-rc.19 CLI."""

from __future__ import annotations

import json
import shutil

import pytest

from driftbot.engine.check import run_check
from driftbot.settings import Settings
from tests.factory import execute
from driftbot.engine.sources import read_folder
from tests.prisma8_factory import copy_project, migrate


@pytest.fixture
def shop(tmp_path):
    return copy_project(tmp_path)


def check(tmp_path, db, project):
    settings = Settings(environments={"prod": {"database_url": db, "project": str(project)}}, cache_dir=tmp_path / "cache")
    return run_check(settings, settings.environment("prod")).to_json()


def answers(body):
    p8 = body["history"]["prisma8"]
    return [(a["exit_code"], a["says"], tuple(a["issues"])) for a in (p8["migration_status"], p8["db_verify"],
                                                                      p8["db_verify_strict"])]


def test_in_sync(tmp_path, db, shop):
    migrate(db, shop)
    body = check(tmp_path, db, shop)
    assert body["state"] == "in_sync", body
    assert body["history"]["prisma_version"] == "8.0.0-rc.19"
    assert body["history"]["prisma_version_source"] == "lockfile"
    assert answers(body)[0][:2] == (0, "Up to date")
    assert answers(body)[1][:2] == (0, "Database marker and schema match contract")


def test_pending_is_named_and_nothing_half_applied(tmp_path, db, shop):
    migrate(db, shop, upto="20261207T0305_enums")
    body = check(tmp_path, db, shop)
    assert body["state"] == "pending"
    assert body["history"]["pending"] == ["20261207T0305_posts"]
    assert answers(body)[0][:2] == (0, "1 pending — run `prisma db migrate --to 8ff655e8bafc`")
    assert answers(body)[1][:2] == (4, "Hash mismatch")
    assert body["history"]["prisma8"]["nothing_half_applied"] is True
    deploy = next(f for f in body["findings"] if f["action"]["kind"] == "deploy")
    assert "nothing is half-applied" in deploy["detail"]


def test_column_added_by_hand_is_drift_that_tolerant_verify_misses(tmp_path, db, shop):
    migrate(db, shop)
    execute(db, 'ALTER TABLE "User" ADD COLUMN nickname text')
    body = check(tmp_path, db, shop)
    assert body["state"] == "drifted"
    assert body["schema"]["summary"] == ["[*] Changed the `User` table", "  [+] Added column `nickname`"]
    status, verify, strict = answers(body)
    assert verify[:2] == (0, "Database marker and schema match contract")
    assert strict == (4, "Database schema does not satisfy contract (1 failure)", ("extra: database/public/User/column:nickname",))


def test_check_values_changed_under_the_same_name(tmp_path, db, shop):
    migrate(db, shop)
    execute(db, 'ALTER TABLE "Media" DROP CONSTRAINT "Media_kind_check_cb2cdfcd"; ALTER TABLE "Media" ADD CONSTRAINT '
                '"Media_kind_check_cb2cdfcd" CHECK (kind IN (\'image\', \'video\', \'audio\'))')
    body = check(tmp_path, db, shop)
    assert body["state"] == "drifted"
    assert [a[0] for a in answers(body)] == [0, 0, 0]
    assert [f["case"] for f in body["findings"]] == ["C"]
    assert "CHECK (\"kind\" IN ('image', 'video'))" in body["findings"][0]["action"]["sql"]


def test_marker_missing_and_ledger_row_missing(tmp_path, db, shop):
    migrate(db, shop)
    execute(db, "DELETE FROM prisma_contract.marker; DELETE FROM prisma_contract.ledger WHERE migration_name LIKE '%enums'")
    body = check(tmp_path, db, shop)
    assert body["state"] == "drifted"
    assert answers(body)[1][:2] == (4, "Marker missing")
    kinds = [(f["case"], f["action"]["kind"]) for f in body["findings"]]
    assert ("history", "sign") in kinds


def test_edited_and_gone_migrations(tmp_path, db, shop):
    migrate(db, shop)
    folder = shop / "migrations" / "app" / "20261207T0305_posts"
    shutil.rmtree(shop / "migrations" / "app" / "20261207T0305_enums")
    ops = json.loads((folder / "ops.json").read_text())
    ops[0]["execute"][0]["sql"] += " -- edited"
    (folder / "ops.json").write_text(json.dumps(ops))
    body = check(tmp_path, db, shop)
    p8 = body["history"]["prisma8"]
    assert p8["gone"] == ["20261207T0305_enums"]
    assert [(e["name"], e["what"]) for e in p8["edited"]] == [("20261207T0305_posts", "unhashed")]
    assert answers(body)[0][0] == 2 and "MIGRATION.CONTRACT_SPACE_VIOLATION" == p8["migration_status"]["code"]


def test_prisma8_database_without_a_project_says_where_to_point(tmp_path, db, shop):
    migrate(db, shop)
    (tmp_path / "m").mkdir()
    settings = Settings(environments={"prod": {"database_url": db, "migrations": str(tmp_path / "m")}}, cache_dir=tmp_path / "c")
    body = run_check(settings, settings.environment("prod"), schema=False).to_json()
    assert body["state"] == "error" and "managed by Prisma 8" in body["error"] and "`project`" in body["error"]


def test_prisma_6_7_and_8_projects_side_by_side(tmp_path, databases, shop):
    from tests.engine.test_check_project import FIXTURE as MONOREPO
    from tests.factory import deploy
    from driftbot.engine.sources import read_folder

    acme = tmp_path / "acme"
    shutil.copytree(MONOREPO, acme)
    api = acme / "apps" / "api"
    db7, db8 = databases.create(), databases.create()
    deploy(db7, read_folder(api / "db" / "migrations"))
    migrate(db8, shop)
    settings = Settings(environments={"api": {"database_url": db7, "project": str(api), "shadow_url": databases.server_url},
                                      "shop": {"database_url": db8, "project": str(shop)}},
                        cache_dir=tmp_path / "cache")
    seven = run_check(settings, settings.environment("api")).to_json()
    eight = run_check(settings, settings.environment("shop")).to_json()
    assert (seven["state"], seven["history"]["prisma_version"][:2]) == ("in_sync", "7.")
    assert (eight["state"], eight["history"]["prisma_version"][:2]) == ("in_sync", "8.")
    assert "prisma8" not in seven["history"] and eight["history"]["prisma8"]["marker"].startswith("8ff655e8")


def test_the_example_project_is_a_prisma8_environment(tmp_path, db):
    from pathlib import Path

    example = tmp_path / "shop8"
    shutil.copytree(Path(__file__).resolve().parents[2] / "bot" / "examples" / "shop8", example)
    migrate(db, example)
    body = check(tmp_path, db, example)
    assert (body["state"], body["history"]["prisma_version"]) == ("in_sync", "8.0.0-rc.19")


def test_commands_built_on_migration_sql_say_prisma8_is_not_theirs(tmp_path, shop):
    from driftbot.engine import sources
    from driftbot.errors import MigrationsSourceError

    settings = Settings(environments={"prod": {"database_url": "postgresql://x@127.0.0.1:1/x", "project": str(shop)}},
                        cache_dir=tmp_path / "cache")
    with pytest.raises(MigrationsSourceError, match="is a Prisma 8 project"):
        sources.load(settings.environment("prod"), tmp_path / "cache")


def test_the_slack_history_line_names_prisma8s_command(tmp_path, db, shop):
    from driftbot.slack.views import check_message

    migrate(db, shop, upto="20261207T0305_enums")
    settings = Settings(environments={"prod": {"database_url": db, "project": str(shop)}}, cache_dir=tmp_path / "cache")
    result = run_check(settings, settings.environment("prod"))
    text, blocks, _ = check_message(result, 1, "UANA")
    shown = json.dumps(blocks)
    assert "`prisma migration status` would say: 1 pending" in shown and "migrate status" not in shown


def test_a_stored_result_keeps_the_prisma7_history_beside_the_marker(tmp_path, db, shop):
    from driftbot.engine.result import CheckResult
    from tests.factory import deploy, write_migrations

    migrate(db, shop)
    deploy(db, read_folder(write_migrations(tmp_path / "p7", {"20250101000000_init": "SELECT 1;\n"})))
    settings = Settings(environments={"prod": {"database_url": db, "project": str(shop)}}, cache_dir=tmp_path / "c")
    result = run_check(settings, settings.environment("prod"))
    view = result.history.prisma8
    assert view.legacy and "_prisma_migrations" in view.legacy
    again = CheckResult.from_json(json.loads(json.dumps(result.to_record(), default=str))).history.prisma8
    assert (again.legacy, again.legacy_agrees) == (view.legacy, view.legacy_agrees)
