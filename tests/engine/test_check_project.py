"""A whole check configured by ``project = DIR`` alone, on real databases."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from driftbot.cli.views import status_text
from driftbot.engine.check import run_check
from driftbot.slack.views import check_message
from driftbot.engine.sources import read_folder
from driftbot.settings import Settings
from tests.factory import deploy, execute

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "prisma7-monorepo"


@pytest.fixture
def monorepo(tmp_path) -> Path:
    shutil.copytree(FIXTURE, tmp_path / "acme")
    return tmp_path / "acme"


def status_json(tmp_path: Path, env: dict[str, str]) -> tuple[int, dict]:
    """``driftbot status prod --json`` as its own process, configured from the environment only."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTBOT_")}
    clean.update({f"DRIFTBOT_ENVIRONMENTS__PROD__{k.upper()}": v for k, v in env.items()})
    clean["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    done = subprocess.run([sys.executable, "-m", "driftbot.cli", "status", "prod", "--json"], cwd=tmp_path, env=clean,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip(), done.stderr[-800:]
    return done.returncode, json.loads(done.stdout)


# Each app of the fixture: its folder, its migrations folder (as its prisma.config.ts computes it), and a
# table to change by hand (schema-qualified outside public).
APPS = {
    "api": ("apps/api", "db/migrations", '"User"'),
    "ledger": ("apps/ledger", "prisma/schema/migrations", '"accounts"."accounts"'),
}


@pytest.mark.parametrize("app", sorted(APPS))
def test_prisma7_project_with_its_own_config_is_checked_through_project_alone(db, pg_url, monorepo, tmp_path, app):
    folder, migrations, table = APPS[app]
    project = monorepo / folder
    deploy(db, read_folder(project / migrations))
    code, body = status_json(tmp_path, {"database_url": db, "shadow_url": pg_url, "project": str(project)})
    assert (code, body["state"]) == (0, "in_sync"), body
    h = body["history"]
    assert (h["local"], h["applied"]) == (2, 2)
    assert (h["prisma_version"], h["prisma_version_source"]) == ("7.10.1", "lockfile")  # ^7.8.0, locked at 7.10.1
    assert body["schema"]["checked"] is True  # the schema folder and migrations came from prisma.config.ts

    # Drift is found with the same configuration, and the advice names the project's own migrations folder.
    execute(db, f'ALTER TABLE {table} ADD COLUMN "nickname" TEXT')
    code, body = status_json(tmp_path, {"database_url": db, "shadow_url": pg_url, "project": str(project)})
    assert (code, body["state"]) == (1, "drifted")
    catch_up = next(f for f in body["findings"] if f["case"] == "A")
    assert f"{migrations}/" in catch_up["detail"] and "prisma/migrations" not in catch_up["detail"]


def test_prisma_version_setting_wins(db, monorepo, tmp_path):
    api = monorepo / "apps" / "api"
    deploy(db, read_folder(api / "db" / "migrations"))
    settings = Settings(environments={"prod": {"database_url": db, "project": str(api), "prisma_version": "7.8.0"}},
                        cache_dir=tmp_path / "cache")
    body = run_check(settings, settings.environment("prod"), schema=False).to_json()
    assert (body["history"]["prisma_version"], body["history"]["prisma_version_source"]) == ("7.8.0", "setting")


def test_unreadable_config_is_could_not_check_with_one_line(db, monorepo, tmp_path):
    api = monorepo / "apps" / "api"
    config = api / "prisma.config.ts"
    config.write_text(config.read_text().replace('path.join(__dirname, "db", "migrations")', "migrationsDir()"))
    code, body = status_json(tmp_path, {"database_url": db, "project": str(api)})
    assert (code, body["state"]) == (2, "error")
    assert body["error"].startswith(f"{config}, line 8: driftbot cannot evaluate `migrations` without Node (`path: migrationsDir(),`)")
    assert "\n" not in body["error"]


def test_prisma8_database_behind_a_migrations_folder_says_to_set_project(db, tmp_path):
    execute(db, 'CREATE SCHEMA prisma_contract; CREATE TABLE prisma_contract.marker (id int PRIMARY KEY, hash text)')
    (tmp_path / "m").mkdir()
    code, body = status_json(tmp_path, {"database_url": db, "migrations": str(tmp_path / "m")})
    assert (code, body["state"]) == (2, "error")
    assert body["error"].startswith("This database is managed by Prisma 8")


def test_the_version_is_in_the_terminal_text_and_the_slack_headline(db, monorepo, tmp_path):
    api = monorepo / "apps" / "api"
    deploy(db, read_folder(api / "db" / "migrations"))
    settings = Settings(environments={"prod": {"database_url": db, "project": str(api)}}, cache_dir=tmp_path / "cache")
    result = run_check(settings, settings.environment("prod"), schema=False)
    text = status_text(result).splitlines()
    assert text[1] == f"Prisma: 7.10.1 (from {monorepo}/pnpm-lock.yaml)"
    assert "Prisma 7.10.1 `migrate status` would say: Database schema is up to date! (exit 0)" in text
    slack_text, _, _ = check_message(result, 1, "UANA")
    assert slack_text.splitlines()[0].endswith("* · Prisma 7.10.1 · checked by <@UANA>")
