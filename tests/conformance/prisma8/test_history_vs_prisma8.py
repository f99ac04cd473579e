"""Prisma 8's history cases side by side with the real 8.0.0-rc.19 CLI (conftest.py says how): the marker,
the ledger, applied migrations edited or gone, a failed ``db migrate``."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conformance.prisma8.conftest import side_by_side
from tests.factory import execute

pytestmark = pytest.mark.conformance


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
