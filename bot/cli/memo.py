"""A warm ``driftbot status``: the last answer again, when nothing it was computed from has changed.

A status is a function of its inputs: the settings, the migration files (and the
schema.prisma, package.json and lockfiles the check reads), the target's
``_prisma_migrations`` rows and its catalog (``driftbot.engine.catalog``), the day (proposed
migrations are named after it) and driftbot's own code. ``key`` reads all of them
cheaply: files by their stat (size, mtime, ctime, inode: a write always moves
ctime, as git's index relies on), the database in two queries. When the key equals
the one stored with the last answer, that answer is printed again without importing
the engine; otherwise the check runs and its answer is stored under the key read
before it, only if the key read after it is the same (nothing changed meanwhile).

Only environments with a local ``migrations`` folder are memoised (a git source would
have to be fetched, a ``project`` evaluated); an answer in state ``error`` never is.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg import sql

import driftbot
from driftbot.engine import catalog
from driftbot.engine.db import connect, parse_url

VERSION = "1"
# What the Prisma version lookup reads, upward from the migrations folder (driftbot.engine.project).
UPWARD = ("package.json", "package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "yarn.lock", "bun.lock")
RACY_S = 2.0  # a file written this recently may change again within its timestamp's granularity
_CODE = Path(driftbot.__file__).parent


def eligible(env) -> bool:
    return bool(env.migrations) and not env.git and not getattr(env, "project", None)


class _Files:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.newest = 0.0

    def stat(self, path: str) -> None:
        try:
            s = os.stat(path)
        except OSError:
            self.parts.append(f"{path}\0-")
            return
        self.parts.append(f"{path}\0{s.st_size}\0{s.st_mtime_ns}\0{s.st_ctime_ns}\0{s.st_ino}")
        self.newest = max(self.newest, s.st_mtime, s.st_ctime)

    def tree(self, root: str, suffixes: tuple[str, ...]) -> None:
        for here, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                if name.endswith(suffixes):
                    self.stat(os.path.join(here, name))


def _files(env) -> _Files:
    f = _Files()
    folder = os.path.abspath(env.migrations)
    try:
        entries = sorted((e.name, e.is_dir()) for e in os.scandir(folder))
    except OSError:
        entries = []
    f.parts.append(f"{folder}\0" + "\0".join(f"{n}/{int(d)}" for n, d in entries))
    for name, is_dir in entries:
        if is_dir:
            f.stat(os.path.join(folder, name, "migration.sql"))
    f.stat(os.path.join(folder, "migration_lock.toml"))
    here = os.path.dirname(os.path.realpath(folder))
    while True:
        for name in UPWARD:
            f.stat(os.path.join(here, name))
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    if env.schema_path:
        schema = os.path.abspath(env.schema_path)
        f.stat(schema)
        if os.path.isdir(schema):
            f.tree(schema, (".prisma",))
    f.tree(str(_CODE), (".py", ".sql"))  # driftbot's own code: another version may answer otherwise
    return f


def _database(settings, env) -> str:
    target = parse_url(env.database_url)
    with connect(env.database_url, environment=env.name, connect_timeout=settings.connect_timeout_s,
                 autocommit=True, application_name="driftbot") as conn:
        table = sql.Identifier(target.schema, "_prisma_migrations")
        both = sql.SQL("SELECT ({}), (SELECT count(*)::text || ':' || md5(string_agg(t::text, E'\\n' ORDER BY t.id)) "
                       "FROM {} AS t)").format(sql.SQL(catalog.QUERY), table)
        try:  # one round trip: the catalog and the history rows
            fingerprint, rows = conn.execute(both).fetchone()
        except psycopg.errors.UndefinedTable:  # not managed by Prisma Migrate (yet)
            fingerprint, rows = catalog.fingerprint(conn), None
        return f"{fingerprint}\0{rows}"


def key(settings, env) -> tuple[str, float] | None:
    """The key of *env*'s status now, and the newest file time it read; None when not memoised
    or when the database cannot be read (the check then says why)."""
    if not eligible(env):
        return None
    read: dict[str, object] = {}

    def database() -> None:
        try:
            read["database"] = _database(settings, env)
        except Exception:  # noqa: BLE001 - anything the check itself will report properly
            read["database"] = None

    # The database answers while the files are read: a thread waits on the server, this one on the disk.
    asking = threading.Thread(target=database, name="driftbot-memo")
    asking.start()
    files = _files(env)
    asking.join()
    database = read["database"]
    if database is None:
        return None
    h = hashlib.sha256(f"status-v{VERSION}\0{datetime.now(timezone.utc).date()}\0{env.name}\0".encode())
    h.update(settings.model_dump_json().encode())
    h.update("\n".join(files.parts).encode())
    h.update(database.encode())
    return h.hexdigest(), files.newest


def _path(settings, env) -> Path:
    return Path(settings.cache_dir) / "status" / (hashlib.sha256(env.name.encode()).hexdigest()[:32] + ".json")


def lookup(settings, env, as_json: bool, started: float) -> tuple[str, int, tuple[str, float] | None]:
    """(output, exit code, key) of the stored answer when the key matches; else ("", -1, key)."""
    now = key(settings, env)
    if now is None:
        return "", -1, None
    try:
        stored = json.loads(_path(settings, env).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "", -1, now
    if not isinstance(stored, dict) or stored.get("key") != now[0]:
        return "", -1, now
    if not as_json:
        return stored["text"], stored["exit_code"], now
    body = stored["json"]
    body["checked_at"] = datetime.now(timezone.utc).isoformat()
    body["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return json.dumps(body, indent=2, default=str) + "\n", stored["exit_code"], now


def store(settings, env, before: tuple[str, float] | None, result, text: str) -> None:
    """Keep *result* for the next status when nothing changed while it was computed."""
    if before is None or result.state == "error" or time.time() - before[1] < RACY_S:
        return
    if result.lint is not None and result.lint.data_checked:  # it read the rows, which the key does not cover
        return
    after = key(settings, env)
    if after is None or after[0] != before[0]:
        return
    path = _path(settings, env)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": before[0], "exit_code": result.exit_code, "json": result.to_json(),
                                   "text": text}, default=str), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a memo is an optimisation, never a reason for a status to fail
