"""A Prisma 7 project with its own prisma.config.ts, judged by the real Prisma 7.10.1 CLI and by
driftbot configured with ``project = ...`` alone.

The project (tests/fixtures/prisma7-monorepo) is a pnpm workspace of two apps: ``apps/api``'s config
puts a schema folder and the migrations under ``db/`` with ``path.join(__dirname, ...)``;
``apps/ledger`` is an ES module computing ``__dirname`` from ``import.meta.url``, with its migrations
inside the schema folder and its models in two PostgreSQL schemas. Prisma runs each config itself
(Node); driftbot reads it without Node. Both must find the same migrations and the same drift.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from tests.conformance.conftest import installed
from tests.conformance.prisma7_cli import LATEST, run_cli
from tests.conformance.scenario import driftbot_status, drift_summary, parse_status

pytestmark = pytest.mark.conformance

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "prisma7-monorepo"


# Each app: its folder, its last migration, its migrations folder, a table to change by hand.
APPS = {
    "api": ("apps/api", "20250102000000_posts", "db/migrations", '"User"'),
    "ledger": ("apps/ledger", "20250202000000_entries", "prisma/schema/migrations", '"accounts"."accounts"'),
}


@pytest.mark.parametrize("app", sorted(APPS))
def test_prisma7_config_project_read_as_prisma_reads_it(app, databases, pg_url, tmp_path):
    folder, last, migrations, table = APPS[app]
    shutil.copytree(FIXTURE, tmp_path / "acme")
    api = tmp_path / "acme" / folder
    cli = installed(LATEST)
    url = databases.create("conf")
    deployed = run_cli(cli.root, api, url, "migrate", "deploy")
    assert deployed.code == 0 and last in deployed.output, deployed.output
    real = parse_status(run_cli(cli.root, api, url, "migrate", "status"))
    assert (real.code, real.up_to_date) == (0, True), real.text

    code, body = driftbot_status(api, url, pg_url, tmp_path / "driftbot-cache", tmp_path)
    h = body["history"]
    assert (code, body["state"], h["local"], h["applied"]) == (0, "in_sync", 2, 2)
    assert (h["prisma_version"], h["prisma_version_source"]) == ("7.10.1", "lockfile")
    assert h["prisma_status"]["exit_code"] == real.code

    # Drift made by hand: Prisma's `migrate dev` summary (it reads the schema folder) is driftbot's.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'ALTER TABLE {table} ADD COLUMN "nickname" TEXT')
    before = set((api / migrations).iterdir())
    prisma_lines = drift_summary(run_cli(cli.root, api, url, "migrate", "dev", "--create-only", "--name", "probe"))
    for created in set((api / migrations).iterdir()) - before:
        shutil.rmtree(created)
    assert prisma_lines, "Prisma 7.10.1 reported no drift"
    code, body = driftbot_status(api, url, pg_url, tmp_path / "driftbot-cache", tmp_path)
    assert (code, body["state"]) == (1, "drifted")
    assert tuple(body["schema"]["summary"]) == prisma_lines
