"""Build snapshots from SQL on a real database (the way the engine sees schemas)."""

from __future__ import annotations

import psycopg

from driftbot.engine.inspect import Snapshot, introspect


def snapshot_of(url: str, script: str, schemas: tuple[str, ...] = ("public",)) -> Snapshot:
    with psycopg.connect(url, autocommit=True) as conn:
        if script:
            conn.execute(script.encode())
        return introspect(conn, schemas)
