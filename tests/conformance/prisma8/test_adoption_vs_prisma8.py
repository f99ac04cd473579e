"""From Prisma 7 to 8, and the example project, side by side with the real 8.0.0-rc.19 CLI (conftest.py says
how): each builds its own database from scratch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from driftbot.engine.check import run_check
from driftbot.engine.sources import read_folder
from driftbot.settings import Settings
from tests.conformance.prisma8.conftest import side_by_side
from tests.factory import deploy, execute
from tests.prisma8_factory import ADOPT

pytestmark = pytest.mark.conformance


def test_prisma7_database_adopted_by_the_real_cli_is_in_sync_then_drifts(cli, databases, tmp_path):
    project = tmp_path / "adopt"
    shutil.copytree(ADOPT, project)
    url = databases.create("p8")
    deploy(url, read_folder(project / "prisma" / "migrations"))  # a Prisma 7 database: _prisma_migrations rows

    settings = Settings(environments={"prod": {"database_url": url, "project": str(project)}}, cache_dir=tmp_path / "c")
    before = run_check(settings, settings.environment("prod"), schema=False).to_json()
    assert before["state"] == "not_managed" and before["findings"][0]["action"]["kind"] == "sign"

    for args in (("contract", "emit", "--json"), ("db", "sign", "--json")):
        run = cli.run(project, url, *args)
        assert run.code == 0, run.stdout[-1500:] + run.stderr[-800:]
    body, ours, _ = side_by_side(cli, project, url, tmp_path)
    assert body["state"] == "in_sync", body
    assert ours["db verify --strict"][2] == ("_prisma_migrations",)
    assert body["history"]["prisma8"]["histories_agree"] is True

    execute(url, 'ALTER TABLE "User" ADD COLUMN nickname text')
    body, ours, _ = side_by_side(cli, project, url, tmp_path / "again")
    assert body["state"] == "drifted" and body["schema"]["summary"] == ["[*] Changed the `User` table",
                                                                        "  [+] Added column `nickname`"]
    assert ours["db verify"][0] == 0  # Prisma 8's default verify passes
    assert body["history"]["prisma8"]["histories_agree"] is True  # the schema drift is outside both histories


# --- the example project ----------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[3] / "bot" / "examples" / "shop8"


def test_the_prisma8_example_project(cli, databases, tmp_path):
    """bot/examples/shop8, as its README runs it: the real `db migrate`, driftbot in sync; a column added by hand,
    driftbot drifted where Prisma 8's default `db verify` passes."""
    project = tmp_path / "shop8"
    shutil.copytree(EXAMPLE, project)
    url = databases.create("p8")
    run = cli.run(project, url, "db", "migrate", "--json")
    assert run.code == 0, run.stdout[-1500:]
    body, _, _ = side_by_side(cli, project, url, tmp_path)
    assert body["state"] == "in_sync"
    execute(url, 'ALTER TABLE "User" ADD COLUMN nickname text')
    body, ours, _ = side_by_side(cli, project, url, tmp_path / "again")
    assert body["state"] == "drifted" and ours["db verify"][0] == 0 and ours["db verify --strict"][0] == 4
