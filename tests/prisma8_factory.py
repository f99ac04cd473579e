"""Prisma 8 databases for the everyday tests, built the way the real 8.0.0-rc.19 ``db migrate`` leaves
them (observed: prisma-facts.md, "Prisma 8"): each migration's ops.json SQL run in order, one ledger
row per migration, the marker moved to the last contract, the contract JSON stored. The conformance
suite (tests/conformance/prisma8/) builds them with the real CLI instead."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

# The example Prisma 8 project the demo ships (bot/examples/shop8) is the tests' project too: one copy.
FIXTURE = Path(__file__).resolve().parents[1] / "bot" / "examples" / "shop8"
ADOPT = Path(__file__).resolve().parent / "fixtures" / "prisma8" / "adopt"  # a Prisma 7 project moving to 8

STATE_DDL = """
CREATE SCHEMA IF NOT EXISTS prisma_contract;
CREATE TABLE IF NOT EXISTS prisma_contract.marker (
  space text NOT NULL DEFAULT 'app' PRIMARY KEY, core_hash text NOT NULL, profile_hash text NOT NULL,
  contract_json jsonb, canonical_version integer, updated_at timestamptz NOT NULL DEFAULT now(), app_tag text,
  meta jsonb NOT NULL DEFAULT '{}'::jsonb, invariants text[] NOT NULL DEFAULT '{}'::text[]);
CREATE TABLE IF NOT EXISTS prisma_contract.ledger (
  id bigserial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), space text NOT NULL,
  migration_name text NOT NULL, migration_hash text NOT NULL, origin_core_hash text, origin_profile_hash text,
  destination_core_hash text NOT NULL, destination_profile_hash text, operations jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS prisma_contract.contract (
  core_hash text PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), contract_json jsonb NOT NULL);
"""


def copy_project(tmp_path: Path, name: str = "shop") -> Path:
    shutil.copytree(FIXTURE, tmp_path / name)
    return tmp_path / name


def migrate(url: str, project: Path, upto: str | None = None) -> None:
    """Apply the project's migrations in folder order (the fixture's graph is a line), up to and including
    *upto*, in one transaction, as ``db migrate`` does."""
    folders = sorted((project / "migrations" / "app").iterdir(), key=lambda p: p.name.encode())
    with psycopg.connect(url) as conn:
        conn.execute(STATE_DDL)
        for folder in folders:
            meta = json.loads((folder / "migration.json").read_text())
            ops = json.loads((folder / "ops.json").read_text())
            for op in ops:
                for step in op["execute"]:
                    conn.execute(step["sql"])
            contract = json.loads((project / "migrations" / "snapshots" / meta["to"] / "contract.json").read_text())
            conn.execute("INSERT INTO prisma_contract.ledger (space, migration_name, migration_hash, origin_core_hash, "
                         "destination_core_hash, operations) VALUES ('app', %s, %s, %s, %s, %s)",
                         (folder.name, meta["migrationHash"], meta["from"] or "empty", meta["to"], Jsonb(ops)))
            conn.execute("INSERT INTO prisma_contract.contract (core_hash, contract_json) VALUES (%s, %s) "
                         "ON CONFLICT DO NOTHING", (meta["to"], Jsonb(contract)))
            conn.execute("INSERT INTO prisma_contract.marker (space, core_hash, profile_hash) VALUES ('app', %s, %s) "
                         "ON CONFLICT (space) DO UPDATE SET core_hash = excluded.core_hash, updated_at = now()",
                         (meta["to"], contract["profileHash"]))
            if upto is not None and folder.name == upto:
                break
