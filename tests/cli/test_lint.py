"""`driftbot lint ENV [--migration NAME] [--json]` and `driftbot lint --offline PATH`: exit codes, JSON, text."""

from __future__ import annotations

import json

import pytest

from driftbot.cli import main
from tests.factory import INIT, deploy, execute, write_migrations

M1, M2, M3 = "20250101000000_init", "20250102000000_name", "20250103000000_index"
NAME = 'ALTER TABLE "User" ADD COLUMN "name" TEXT;\n'
REQUIRED = '-- AlterTable\nALTER TABLE "User" ALTER COLUMN "name" SET NOT NULL;\n'
INDEX = 'CREATE INDEX CONCURRENTLY "User_name_idx" ON "User"("name");\n'


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def project(tmp_path, db, configure):
    folder = write_migrations(tmp_path / "migrations", {M1: INIT + NAME, M2: REQUIRED})
    configure(f'[environments.prod]\nmigrations = "{folder}"\n',
              {"DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL": db, "DRIFTBOT_ENVIRONMENTS__PROD__ADMIN_URL": db})
    deploy(db, write_migrations(tmp_path / "applied", {M1: INIT + NAME}))
    return folder


def test_lint_env_exits_1_when_the_rows_break_a_pending_migration(project, db, capsys):
    execute(db, """INSERT INTO "User" (email, name) VALUES ('a@x.io', NULL), ('b@x.io', 'bo')""")
    code, out, _ = run(capsys, "lint", "prod", "--json")
    body = json.loads(out)
    assert code == 1 and body["migrations"] == [M2] and body["data_checked"] is True
    [failing] = [f for f in body["findings"] if f["severity"] == "will_fail"]
    assert failing["rule"] == "not_null_over_nulls" and failing["sqlstate"] == "23502"
    assert failing["statement"] == 'ALTER TABLE "User" ALTER COLUMN "name" SET NOT NULL' and failing["safer"]
    [statement] = body["statements"]
    assert statement["lock"] == "ACCESS EXCLUSIVE" and statement["scans"] is True and statement["table"] == "public.User"
    assert body["counts"]["will_fail"] == 1
    code, out, _ = run(capsys, "lint", "prod")
    assert code == 1 and "WILL FAIL (23502)" in out and "safer: Backfill" in out and "ACCESS EXCLUSIVE" in out


def test_lint_env_exits_0_when_the_rows_are_fine(project, db, capsys):
    execute(db, """INSERT INTO "User" (email, name) VALUES ('a@x.io', 'ana')""")
    code, out, _ = run(capsys, "lint", "prod")
    assert code == 0 and "0 will fail" in out


def test_lint_a_named_migration(project, db, capsys, tmp_path):
    code, out, _ = run(capsys, "lint", "prod", "--migration", M2, "--json")
    assert code == 0 and json.loads(out)["migrations"] == [M2]
    code, _, err = run(capsys, "lint", "prod", "--migration", "20990101000000_nope")
    assert code == 2 and "No migration named 20990101000000_nope" in err and "Pending here: " + M2 in err


def test_lint_could_not_check_exits_2(tmp_path, configure, capsys):
    folder = write_migrations(tmp_path / "migrations", {M1: INIT})
    configure(f'[environments.prod]\nmigrations = "{folder}"\n',
              {"DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    code, out, err = run(capsys, "lint", "prod")
    assert code == 2 and out == "" and "Cannot connect" in err and "Traceback" not in err
    code, _, err = run(capsys, "lint")
    assert code == 2 and "Name an environment" in err
    code, _, err = run(capsys, "lint", "prod", "--offline", str(folder))
    assert code == 2 and "not both" in err


def test_lint_offline_on_a_migrations_folder(tmp_path, capsys):
    folder = write_migrations(tmp_path / "migrations", {M1: INIT + NAME, M2: REQUIRED, M3: INDEX + INDEX.replace("name_idx", "n2")})
    code, out, _ = run(capsys, "lint", "--offline", str(folder), "--json")
    body = json.loads(out)
    assert code == 1 and body["data_checked"] is False and body["migrations"] == [M1, M2, M3]
    assert {(f["migration"], f["rule"]) for f in body["findings"] if f["severity"] == "will_fail"} == {
        (M3, "concurrently_in_transaction")}
    risky = [f for f in body["findings"] if f["severity"] == "risky"]
    assert [(f["migration"], f["rule"]) for f in risky] == [(M2, "not_null_over_nulls")]
    assert "Made the column `name` on table `User` required." in risky[0]["why"]  # Prisma's own words
    code, out, _ = run(capsys, "lint", "--offline", str(folder / M2))  # one migration's folder
    assert code == 0 and "risky" in out
    code, out, _ = run(capsys, "lint", "--offline", str(folder / M1 / "migration.sql"))  # its file
    assert code == 0 and out.startswith("offline: 1 migration · 0 will fail")
    (tmp_path / "bad.sql").write_text("ALTER TABL x;")
    code, out, _ = run(capsys, "lint", "--offline", str(tmp_path / "bad.sql"))
    assert code == 1 and "syntax error" in out
    code, _, err = run(capsys, "lint", "--offline", str(tmp_path / "nowhere"))
    assert code == 2 and "neither a migrations folder" in err


def test_status_carries_the_lint_beside_its_deploy_preview(project, db, capsys):
    execute(db, """INSERT INTO "User" (email, name) VALUES ('a@x.io', NULL)""")
    code, out, _ = run(capsys, "status", "prod", "--json")
    body = json.loads(out)
    preview = body["history"]["deploy_preview"]
    assert code == 1 and body["state"] == "pending"
    assert preview["ok"] is True  # without data the preview passes; the lint knows the rows
    lint = body["history"]["lint"]
    assert lint["counts"]["will_fail"] == 1 and lint["findings"][0]["rule"] == "not_null_over_nulls"
    assert lint["migrations"] == [M2] and lint["data_checked"] is True
    code, out, _ = run(capsys, "status", "prod")
    assert "Lint on this data: 1 will fail" in out and "WILL FAIL: " + M2 + " #1" in out


def test_a_failed_migration_is_linted_too_so_its_resolve_request_can_say_why(project, db, capsys):
    """The migration failed on the rows (23502); the check's lint names it, for the resolve request."""
    execute(db, """INSERT INTO "User" (email, name) VALUES ('a@x.io', NULL)""")
    deploy(db, project)  # the pending M2 fails on the NULL, as Prisma's deploy would
    code, out, _ = run(capsys, "status", "prod", "--json")
    body = json.loads(out)
    assert body["state"] == "failed" and body["history"]["failed"] == [M2]
    lint = body["history"]["lint"]
    assert [(f["migration"], f["rule"], f["severity"]) for f in lint["findings"] if f["severity"] != "note"] == [
        (M2, "not_null_over_nulls", "will_fail")]
