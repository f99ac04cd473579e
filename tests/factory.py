"""Builders for migrations folders and deployed databases, used across tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg

from driftbot.engine import replay
from driftbot.engine.check import run_check
from driftbot.engine.sources import Migrations, read_folder
from driftbot.settings import Settings


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


def git(cwd: Path, *args: str) -> str:
    """git *args* in *cwd*, committing as a test author; what it printed, stripped."""
    done = subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=cwd, check=True,
                          capture_output=True)
    return done.stdout.decode().strip()


def committed_migrations(work: Path, scripts: dict[str, str | bytes]) -> Path:
    """*work* made a git repository whose main branch has one commit: what *work* holds, plus
    prisma/migrations with *scripts*."""
    write_migrations(work / "prisma" / "migrations", scripts)
    git(work, "init", "-q", "-b", "main")
    git(work, "add", ".")
    git(work, "commit", "-qm", "init")
    return work


# A schema.prisma whose MediaKind has VIDEO, which factory.ENUM's migration does not create (case C).
SCHEMA_WITH_VIDEO = "enum MediaKind {\n  IMAGE\n  AUDIO\n  VIDEO\n}\n"


def check_prod(db: str, tmp_path: Path, folder: Path, schema_file: Path | None = None, *, shadow: str | None = None,
               **more):
    """run_check of one environment, prod: *db* with the migrations *folder*, with a schema.prisma and a
    shadow server when given; *more*: other settings of the environment (``ignore=[...]``)."""
    env = {"database_url": db, "migrations": str(folder), **more}
    if schema_file:
        env["schema"] = str(schema_file)
    if shadow:
        env["shadow_url"] = shadow
    s = Settings(environments={"prod": env}, cache_dir=tmp_path / "cache")
    return run_check(s, s.environment("prod"))


def check_enum_value_only_in_schema(db: str, tmp_path: Path):
    """Case C from schema.prisma: *db* has ENUM as its one migration, its schema.prisma adds VIDEO; the check."""
    folder = write_migrations(tmp_path / "m", {"20250101000000_init": ENUM})
    deploy(db, folder)
    schema = tmp_path / "schema.prisma"
    schema.write_text(SCHEMA_WITH_VIDEO)
    return check_prod(db, tmp_path, folder, schema)
