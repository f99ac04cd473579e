"""Builders for migrations folders and deployed databases, used across tests."""

from __future__ import annotations

from pathlib import Path

import psycopg

from bot.engine import replay
from bot.engine.sources import Migrations, read_folder


def write_migrations(root: Path, scripts: dict[str, str | bytes], provider: str = "postgresql") -> Path:
    """Write ``{name: sql}`` as a Prisma migrations folder under *root*."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "migration_lock.toml").write_text(f'provider = "{provider}"\n')
    for name, script in scripts.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        data = script if isinstance(script, bytes) else script.encode("utf-8")
        (folder / "migration.sql").write_bytes(data)
    return root


def deploy(url: str, migrations: Migrations | Path, schema: str = "public"):
    """Apply migrations to *url* exactly as ``prisma migrate deploy`` records them."""
    if isinstance(migrations, Path):
        migrations = read_folder(migrations)
    with psycopg.connect(url, autocommit=True) as conn:
        return replay.deploy(conn, migrations.items, schema)


def rows(url: str, name: str | None = None) -> list[dict]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        query = 'SELECT * FROM "_prisma_migrations"'
        if name:
            return cur.execute(query + " WHERE migration_name = %s ORDER BY started_at, finished_at NULLS FIRST", (name,)).fetchall()
        return cur.execute(query + " ORDER BY started_at").fetchall()


def execute(url: str, statement: str, params=None) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement, params)


INIT = 'CREATE TABLE "User" ("id" SERIAL NOT NULL, "email" TEXT NOT NULL, CONSTRAINT "User_pkey" PRIMARY KEY ("id"));\n'
POSTS = 'CREATE TABLE "Post" ("id" SERIAL NOT NULL, "title" TEXT NOT NULL, CONSTRAINT "Post_pkey" PRIMARY KEY ("id"));\n'
ENUM = "CREATE TYPE \"MediaKind\" AS ENUM ('IMAGE', 'AUDIO');\n"
