"""Reading ``prisma_contract`` (marker, ledger, contracts) in a read-only transaction: the one adapter."""

from __future__ import annotations

import json

import psycopg
from psycopg import sql

from driftbot.engine.prisma8.model import LedgerRow, Marker, State8

SCHEMA = "prisma_contract"
LEGACY = "_prisma_migrations"


def _exists(conn: psycopg.Connection, schema: str, name: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')", (schema, name)).fetchone() is not None


def has_marker_table(conn: psycopg.Connection) -> bool:
    return _exists(conn, SCHEMA, "marker")


def read_state(conn: psycopg.Connection, legacy_schema: str = "public") -> State8:
    """Markers, ledger rows and stored contract hashes; and how many ``_prisma_migrations`` rows a Prisma
    6/7 history left beside them (None: no such table)."""
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        legacy = None
        if _exists(conn, legacy_schema, LEGACY):
            legacy = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(legacy_schema, LEGACY))).fetchone()[0]
        if not has_marker_table(conn):
            return State8(present=False, legacy_rows=legacy)
        markers = tuple(Marker(*r) for r in conn.execute(
            "SELECT space, core_hash, profile_hash, updated_at FROM prisma_contract.marker ORDER BY space").fetchall())
        ledger = ()
        if _exists(conn, SCHEMA, "ledger"):
            ledger = tuple(LedgerRow(*r) for r in conn.execute(
                "SELECT id, created_at, space, migration_name, migration_hash, origin_core_hash, destination_core_hash, "
                "operations FROM prisma_contract.ledger ORDER BY id").fetchall())
        hashes = ()
        if _exists(conn, SCHEMA, "contract"):
            hashes = tuple(r[0] for r in conn.execute("SELECT core_hash FROM prisma_contract.contract ORDER BY core_hash"))
        return State8(present=True, markers=markers, ledger=ledger, contract_hashes=hashes, legacy_rows=legacy)


def read_contract(conn: psycopg.Connection, core_hash: str) -> dict | None:
    """The contract JSON ``db migrate`` / ``db sign`` stored for *core_hash* (the marker's own column first)."""
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        for query in ("SELECT contract_json FROM prisma_contract.marker WHERE core_hash = %s AND contract_json IS NOT NULL",
                      "SELECT contract_json FROM prisma_contract.contract WHERE core_hash = %s"):
            table = query.split("FROM prisma_contract.")[1].split()[0]
            if not _exists(conn, SCHEMA, table):
                continue
            row = conn.execute(query, (core_hash,)).fetchone()
            if row is not None:
                return row[0] if isinstance(row[0], dict) else json.loads(row[0])
    return None
