"""Prisma 8 side by side with the real 8.0.0-rc.19 CLI: every history and schema case built on a real
database by the real ``prisma db migrate`` (then drifted by hand), with driftbot's verdict next to what the
real ``migration status``, ``db verify`` and ``db verify --strict`` print; driftbot's "Prisma would say"
must equal them, exit code, summary line and listed issues.

One install, and one pair of databases migrated by the real CLI per test process (``built``); each case
runs on a copy of one of them (``CREATE DATABASE ... TEMPLATE``). The cases are split by subject into
three files so that pytest-xdist runs them on all its workers: they share nothing on the server but the
two template databases of their own process."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from driftbot.engine.check import run_check
from driftbot.settings import Settings
from tests.conformance.conftest import PRISMA_8, installed
from tests.conformance.prisma8_cli import Installed8
from tests.conftest import Databases
from tests.prisma8_factory import FIXTURE

ENUMS_HASH = "8d9824af3ed4874e15cc423440ca178018db9ed14b06d006b3286645bcd7bdfe"
COMMANDS = {"migration status": ("migration", "status", "--json"), "db verify": ("db", "verify", "--json"),
            "db verify --strict": ("db", "verify", "--strict", "--json")}


@pytest.fixture(scope="session")
def cli() -> Installed8:
    return installed(PRISMA_8)


@pytest.fixture(scope="session")
def built(cli, pg_url, tmp_path_factory):
    """The fixture project migrated by the real CLI: all of it ("full"), and up to its second migration
    ("part"); the two databases are the templates of the cases' copies."""
    project = tmp_path_factory.mktemp("p8") / "shop"
    shutil.copytree(FIXTURE, project)
    dbs = Databases(pg_url)
    out = {}
    for key, args in (("full", ()), ("part", ("--to", ENUMS_HASH))):
        url = dbs.create("p8tpl")
        run = cli.run(project, url, "db", "migrate", "--json", *args)
        assert run.code == 0, run.stdout[-1500:] + run.stderr[-1500:]
        out[key] = dbs.created[-1]
    yield project, out
    dbs.drop_all()


@pytest.fixture
def case(built, databases, tmp_path):
    """A copy of the project and of a migrated database: ``case("full")`` -> (project folder, database URL)."""
    source, names = built

    def make(which: str = "full", project: Path | None = None):
        folder = tmp_path / "shop"
        if not folder.exists():
            shutil.copytree(project or source, folder, ignore=shutil.ignore_patterns("node_modules"))
        return folder, databases.create("p8", template=names[which])

    return make


def side_by_side(cli, project: Path, url: str, tmp_path: Path) -> tuple[dict, dict, dict]:
    """driftbot's check and the real CLI's answers; prints both as a table and asserts they agree."""
    settings = Settings(environments={"prod": {"database_url": url, "project": str(project)}}, cache_dir=tmp_path / "cache")
    body = run_check(settings, settings.environment("prod")).to_json()
    p8 = body["history"]["prisma8"]
    ours, real = {}, {}
    for command, args in COMMANDS.items():
        key = {"migration status": "migration_status", "db verify": "db_verify", "db verify --strict": "db_verify_strict"}[command]
        a = p8[key]
        ours[command] = (a["exit_code"], a["says"], () if command == "migration status" else tuple(sorted(a["issues"])))
        code, says, issues = cli.run(project, url, *args).answer()
        real[command] = (code, says, () if command == "migration status" else issues)
    table = "\n".join(f"  {c:20} driftbot: {ours[c]}\n  {'':20} real CLI: {real[c]}" for c in COMMANDS)
    print(f"\n{body['state']} | findings {[f['case'] for f in body['findings']]}\n{table}")
    assert ours == real, table
    return body, ours, real
