"""Prisma 8 side by side with the real 8.0.0-rc.19 CLI: every history and schema case built on a real
database by the real ``prisma db migrate`` (then drifted by hand), with driftbot's verdict next to what the
real ``migration status``, ``db verify`` and ``db verify --strict`` print; driftbot's "Prisma would say"
must equal them, exit code, summary line and listed issues. One install and one migrated database per
module; each case runs on a copy (``CREATE DATABASE ... TEMPLATE``)."""

from __future__ import annotations

import json
import shutil
import uuid
import warnings
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from driftbot.engine.check import run_check
from driftbot.engine.sources import read_folder
from driftbot.settings import Settings
from tests.conformance import prisma8_cli
from tests.conformance.prisma_cli import PrismaUnavailable
from tests.conftest import _with_db
from tests.factory import deploy, execute
from tests.prisma8_factory import ADOPT, FIXTURE

pytestmark = pytest.mark.conformance

ENUMS_HASH = "8d9824af3ed4874e15cc423440ca178018db9ed14b06d006b3286645bcd7bdfe"
COMMANDS = {"migration status": ("migration", "status", "--json"), "db verify": ("db", "verify", "--json"),
            "db verify --strict": ("db", "verify", "--strict", "--json")}


@pytest.fixture(scope="module")
def cli() -> prisma8_cli.Installed8:
    try:
        return prisma8_cli.install()
    except PrismaUnavailable as exc:
        reason = f"REAL PRISMA CLI {prisma8_cli.VERSION} UNAVAILABLE, Prisma 8 conformance NOT RUN: {exc}"
        warnings.warn(reason, stacklevel=1)
        pytest.skip(reason)


def _url(server: str, name: str) -> str:
    return _with_db(server, name)


class Server:
    def __init__(self, url: str) -> None:
        self.url, self.made = url, []

    def create(self, template: str | None = None) -> str:
        name = f"drifttest_p8_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}" + (" TEMPLATE {}" if template else "")).format(
                sql.Identifier(name), *([sql.Identifier(template)] if template else [])))
        self.made.append(name)
        return name

    def drop(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            for name in self.made:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def server(pg_url):
    s = Server(pg_url)
    yield s
    s.drop()


@pytest.fixture(scope="module")
def built(cli, server, tmp_path_factory):
    """The fixture project migrated by the real CLI: all of it ("full"), and up to its second migration ("part")."""
    project = tmp_path_factory.mktemp("p8") / "shop"
    shutil.copytree(FIXTURE, project)
    out = {}
    for key, args in (("full", ()), ("part", ("--to", ENUMS_HASH))):
        name = server.create()
        run = cli.run(project, _url(server.url, name), "db", "migrate", "--json", *args)
        assert run.code == 0, run.stdout[-1500:] + run.stderr[-1500:]
        out[key] = name
    return project, out


@pytest.fixture
def case(built, server, tmp_path):
    """A copy of the project and of a migrated database: ``case("full")`` -> (project folder, database URL)."""
    source, names = built

    def make(which: str = "full", project: Path | None = None):
        folder = tmp_path / "shop"
        if not folder.exists():
            shutil.copytree(project or source, folder, ignore=shutil.ignore_patterns("node_modules"))
        return folder, _url(server.url, server.create(template=names[which]))

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


# --- history ----------------------------------------------------------------------------


def test_in_sync(cli, case, tmp_path):
    body, ours, _ = side_by_side(cli, *case("full"), tmp_path)
    assert body["state"] == "in_sync" and ours["migration status"][1] == "Up to date"


def test_pending_named_from_the_marker(cli, case, tmp_path):
    body, ours, _ = side_by_side(cli, *case("part"), tmp_path)
    assert body["state"] == "pending" and body["history"]["pending"] == ["20261207T0305_posts"]
    assert ours["migration status"][0] == 0  # Prisma exits 0 with a migration pending
    assert body["history"]["prisma8"]["nothing_half_applied"] is True


def test_marker_missing(cli, case, tmp_path):
    project, url = case("full")
    execute(url, "DELETE FROM prisma_contract.marker")
    body, ours, _ = side_by_side(cli, project, url, tmp_path)
    assert body["state"] == "drifted" and ours["migration status"][1] == "Up to date"
    assert any(f["action"]["kind"] == "sign" for f in body["findings"])


def test_marker_not_in_the_graph(cli, case, tmp_path):
    project, url = case("full")
    execute(url, "UPDATE prisma_contract.marker SET core_hash = repeat('ab', 32)")
    body, ours, _ = side_by_side(cli, project, url, tmp_path)
    assert body["state"] == "drifted" and "not in the on-disk migration graph" in ours["migration status"][1]


def test_marker_moved_back(cli, case, tmp_path):
    project, url = case("full")
    execute(url, "UPDATE prisma_contract.marker SET core_hash = 'cdffca7f2206bdf874adce6c738da6a94fdfb08a7216f3c42910c411f4c46390'")
    body, ours, _ = side_by_side(cli, project, url, tmp_path)
    assert ours["migration status"][1] == "Up to date"  # the ledger has rows for the path
    assert body["state"] == "drifted" and body["history"]["applied_by_hand"] == ["20261207T0305_enums", "20261207T0305_posts"]


def test_ledger_row_missing(cli, case, tmp_path):
    project, url = case("full")
    execute(url, "DELETE FROM prisma_contract.ledger WHERE migration_name LIKE '%_enums'")
    body, ours, _ = side_by_side(cli, project, url, tmp_path)
    assert body["state"] == "drifted" and body["history"]["prisma8"]["ledger_missing"] == ["20261207T0305_enums"]
    assert ours["db verify --strict"][0] == 0


def test_applied_migration_edited_and_re_emitted(cli, case, tmp_path):
    project, url = case("full")
    source = project / "migrations" / "app" / "20261207T0305_posts" / "migration.ts"
    source.write_text(source.read_text().replace(
        "col('title', 'text', { notNull: true, codecRef: { codecId: 'pg/text@1' } }),",
        "col('title', 'text', { notNull: true, codecRef: { codecId: 'pg/text@1' } }),\n"
        "          col('extra', 'text', { notNull: false, codecRef: { codecId: 'pg/text@1' } }),"))
    (project / "node_modules").exists() or (project / "node_modules").symlink_to(cli.modules)
    emitted = cli.node(project, url, str(source))
    assert emitted.code == 0, emitted.stdout + emitted.stderr
    body, _, _ = side_by_side(cli, project, url, tmp_path)
    assert [(e["name"], e["what"]) for e in body["history"]["prisma8"]["edited"]] == [("20261207T0305_posts", "rehashed")]
    assert body["state"] == "drifted"


def test_applied_migration_edited_in_migration_ts_only(cli, case, tmp_path):
    project, url = case("full")
    source = project / "migrations" / "app" / "20261207T0305_posts" / "migration.ts"
    source.write_text(source.read_text().replace("col('title', 'text'", "col('headline', 'text'"))
    body, _, _ = side_by_side(cli, project, url, tmp_path)
    edited = body["history"]["prisma8"]["edited"]
    assert [(e["name"], e["what"]) for e in edited] == [("20261207T0305_posts", "source")] and "headline" in edited[0]["detail"]


def test_applied_migration_ops_edited_by_hand(cli, case, tmp_path):
    project, url = case("full")
    ops_file = project / "migrations" / "app" / "20261207T0305_posts" / "ops.json"
    ops = json.loads(ops_file.read_text())
    ops[0]["execute"][0]["sql"] = ops[0]["execute"][0]["sql"].replace('"title" text NOT NULL', '"title" text')
    ops_file.write_text(json.dumps(ops, indent=2))
    body, ours, _ = side_by_side(cli, project, url, tmp_path)
    assert ours["migration status"][0] == 2 and ours["db verify"][0] == 2
    assert body["history"]["prisma8"]["edited"][0]["what"] == "unhashed"


def test_applied_migration_folder_gone(cli, case, tmp_path):
    project, url = case("full")
    shutil.rmtree(project / "migrations" / "app" / "20261207T0305_posts")
    body, ours, _ = side_by_side(cli, project, url, tmp_path)
    assert ours["migration status"][1] == "Up to date" and body["history"]["missing_locally"] == ["20261207T0305_posts"]
    assert body["state"] == "drifted"


def test_failed_db_migrate_leaves_nothing_and_driftbot_says_so(cli, case, tmp_path):
    project, url = case("full")
    execute(url, "INSERT INTO \"Post\" (title) VALUES ('same'), ('same')")
    contract = project / "src" / "prisma" / "contract.prisma"
    contract.write_text(contract.read_text() + "\nmodel Tag {\n  id   Int    @id @default(autoincrement())\n  name String @unique\n}\n")
    contract.write_text(contract.read_text().replace("  title String\n", "  title String @unique\n"))
    for args in (("contract", "emit", "--json"), ("migration", "plan", "--from", "8ff655e8bafc", "--name", "tags", "--json")):
        run = cli.run(project, url, *args)
        assert run.code == 0, run.stdout[-1500:]
    failed = cli.run(project, url, "db", "migrate", "--json")
    assert failed.code != 0 and failed.envelope["error"]["code"] == "MIGRATION.RUNNER_FAILED"
    body, _, _ = side_by_side(cli, project, url, tmp_path)
    assert body["state"] == "pending" and body["history"]["prisma8"]["nothing_half_applied"] is True
    assert "nothing is half-applied" in next(f for f in body["findings"] if f["action"]["kind"] == "deploy")["detail"]


# --- schema -----------------------------------------------------------------------------

SCHEMA_CASES = {
    "column_added": ('ALTER TABLE "User" ADD COLUMN nickname text', ["[*] Changed the `User` table", "  [+] Added column `nickname`"]),
    "column_dropped": ('ALTER TABLE "Post" DROP COLUMN title', None),
    "column_type_changed": ('ALTER TABLE "Post" ALTER COLUMN title TYPE varchar(10)', None),
    "column_nullable": ('ALTER TABLE "Post" ALTER COLUMN title DROP NOT NULL', None),
    "default_added": ("ALTER TABLE \"Post\" ALTER COLUMN title SET DEFAULT 'x'", None),
    "table_dropped": ('DROP TABLE "Post"', None),
    "table_added": ("CREATE TABLE staff (id int PRIMARY KEY)", ["[+] Added tables", "  - staff"]),
    "index_added": ('CREATE INDEX post_title_idx ON "Post"(title)', None),
    "unique_dropped": ('ALTER TABLE "User" DROP CONSTRAINT "User_email_key"', None),
    "native_enum_value_added": ("ALTER TYPE \"Role\" ADD VALUE 'GUEST'", ["[*] Changed the `Role` enum", "  [+] Added variant `GUEST`"]),
    "native_enum_type_added": ("CREATE TYPE mood AS ENUM ('a')", None),
    "check_dropped": ('ALTER TABLE "Media" DROP CONSTRAINT "Media_kind_check_cb2cdfcd"', None),
    "check_added": ('ALTER TABLE "Media" ADD CONSTRAINT media_pos CHECK (id > 0)', None),
    "check_values_changed_same_name": (
        'ALTER TABLE "Media" DROP CONSTRAINT "Media_kind_check_cb2cdfcd"; ALTER TABLE "Media" ADD CONSTRAINT '
        "\"Media_kind_check_cb2cdfcd\" CHECK (kind IN ('image', 'video', 'audio'))", None),
}


@pytest.mark.parametrize("name", list(SCHEMA_CASES))
def test_schema_drift(cli, case, tmp_path, name):
    statement, summary = SCHEMA_CASES[name]
    project, url = case("full")
    execute(url, statement)
    body, ours, real = side_by_side(cli, project, url, tmp_path)
    assert body["state"] == "drifted", body["schema"]
    assert body["schema"]["summary"], "driftbot's own summary names the drift"
    if summary is not None:
        assert body["schema"]["summary"] == summary
    if name == "check_values_changed_same_name":  # Prisma 8 sees nothing; driftbot does
        assert all(code == 0 for code, _, _ in real.values()) and [f["case"] for f in body["findings"]] == ["C"]


# --- from Prisma 7 to 8 -----------------------------------------------------------------


def test_prisma7_database_adopted_by_the_real_cli_is_in_sync_then_drifts(cli, server, tmp_path):
    project = tmp_path / "adopt"
    shutil.copytree(ADOPT, project)
    url = _url(server.url, server.create())
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

EXAMPLE = Path(__file__).resolve().parents[2] / "bot" / "examples" / "shop8"


def test_the_prisma8_example_project(cli, server, tmp_path):
    """bot/examples/shop8, as its README runs it: the real `db migrate`, driftbot in sync; a column added by hand,
    driftbot drifted where Prisma 8's default `db verify` passes."""
    project = tmp_path / "shop8"
    shutil.copytree(EXAMPLE, project)
    url = _url(server.url, server.create())
    run = cli.run(project, url, "db", "migrate", "--json")
    assert run.code == 0, run.stdout[-1500:]
    body, _, _ = side_by_side(cli, project, url, tmp_path)
    assert body["state"] == "in_sync"
    execute(url, 'ALTER TABLE "User" ADD COLUMN nickname text')
    body, ours, _ = side_by_side(cli, project, url, tmp_path / "again")
    assert body["state"] == "drifted" and ours["db verify"][0] == 0 and ours["db verify --strict"][0] == 4
