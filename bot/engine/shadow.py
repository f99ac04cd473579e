"""Shadow replay: the schema the applied migrations build, replayed into a scratch
database on the environment's shadow server, as Prisma's shadow database works.

Scratch databases are named ``driftbot_shadow_<host>_<pid>_<epoch>_<rand>`` so
``sweep_leftovers`` can drop those of dead workers; each is dropped in a
``finally`` also when the replay fails. The introspected result is cached as
JSON keyed by the applied migrations' names and checksums, so a warm check does
not replay at all.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import secrets
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from driftbot.engine import catalog, later, phases, templates
from driftbot.engine.db import explain_connect_error, parse_url
from driftbot.engine.inspect import Snapshot, introspect
from driftbot.engine.replay import ScriptError, run_script
from driftbot.engine.sources import LocalMigration
from driftbot.errors import DatabaseUnreachable, ShadowUnavailable

log = logging.getLogger(__name__)

PREFIX = "driftbot_shadow_"
CACHE_VERSION = "2"  # bump when the snapshot's shape (or what fills it) changes
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Replay:
    """The replayed schema, or the migration that could not be replayed."""

    snapshot: Snapshot | None
    error: ScriptError | None = None
    cached: bool = False
    reused: int = 0  # migrations not replayed: copied from a kept template


def replay_digest(migrations: tuple[LocalMigration, ...], schemas: tuple[str, ...], default_schema: str) -> str:
    """The cache key: the replayed migrations' names and checksums, and the schemas in scope."""
    h = hashlib.sha256(f"v{CACHE_VERSION}\0{default_schema}\0{','.join(schemas)}\n".encode())
    for m in migrations:
        h.update(m.name.encode() + b"\0" + m.checksum.encode() + b"\n")
    return h.hexdigest()


def scratch_name() -> str:
    return f"{PREFIX}{_HOST}_{os.getpid()}_{int(time.time())}_{secrets.token_hex(2)}"


def _with_db(url: str, dbname: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + dbname))


def _server(url: str, timeout: int) -> psycopg.Connection:
    try:
        return psycopg.connect(parse_url(url).conninfo, autocommit=True, connect_timeout=timeout,
                               application_name="driftbot-shadow")
    except psycopg.Error as exc:
        raise explain_connect_error(exc, "shadow") from None


def shadow_server(shadow_url: str | None, database_url: str, timeout: int = 5) -> str:
    """The URL of the server to create scratch databases on.

    ``shadow_url`` when set; else the target's own server, but only when the
    target's role may CREATE DATABASE (``ShadowUnavailable`` otherwise).
    """
    if shadow_url:
        return shadow_url
    with _server(database_url, timeout) as conn:
        row = conn.execute("SELECT rolname, rolcreatedb OR rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user").fetchone()
    if not row or not row[1]:
        who = row[0] if row else "the check role"
        raise ShadowUnavailable(
            f"no shadow_url is set and role `{who}` may not CREATE DATABASE on the target's server; "
            "set shadow_url to a server where driftbot may create scratch databases"
        )
    return database_url


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_leftovers(server_url: str, max_age_s: int = 3600, timeout: int = 5) -> list[str]:
    """Drop scratch databases whose worker died (same host, pid gone) or that are older
    than *max_age_s* (any host). Returns the names dropped."""
    dropped = []
    now = time.time()
    with _server(server_url, timeout) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT datname FROM pg_catalog.pg_database WHERE datname LIKE %s", (PREFIX.replace("_", r"\_") + "%",))]
        for name in names:
            try:
                host, pid, epoch, _ = name[len(PREFIX):].split("_")
                pid_i, epoch_i = int(pid), int(epoch)
            except ValueError:
                continue
            dead = host == _HOST and pid_i != os.getpid() and not _pid_alive(pid_i)
            if dead or now - epoch_i > max_age_s:
                try:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                    dropped.append(name)
                except psycopg.Error as exc:
                    log.warning("could not drop leftover scratch database %s: %s", name, exc.diag.message_primary)
    return dropped


@contextmanager
def scratch_database(server_url: str, timeout: int = 5, template: str | None = None) -> Iterator[str]:
    """A new scratch database on *server_url* (its URL), empty or a copy of *template*, dropped
    on the way out, also after an error; a dead worker's leftovers are found by ``sweep_leftovers``."""
    name = scratch_name()
    with _server(server_url, timeout) as admin:
        try:
            if template:
                # The next check that starts from the same template finds a copy waiting (made after the answer).
                later.defer_only(functools.partial(templates.make_ready, server_url, templates.key_of_name(template)))
            if not (template and templates.claim_ready(admin, template, name)):
                create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
                if template:
                    create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
                admin.execute(create)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise ShadowUnavailable(
                f"the shadow server refused CREATE DATABASE ({exc.diag.message_primary}); "
                "give the shadow role CREATEDB or set shadow_url to another server"
            ) from None
        except psycopg.Error as exc:
            raise DatabaseUnreachable(f"Cannot create a scratch database on the shadow server: {exc.diag.message_primary or exc}") from None
        try:
            yield _with_db(server_url, name)
        finally:
            # A DROP DATABASE waits for a checkpoint (seconds on a busy server): after the answer where the caller
            # defers housekeeping; if that never runs, the pid in the name lets sweep_leftovers find it.
            if later.deferring():
                later.run_or_defer(functools.partial(_drop_scratch, server_url, name, timeout))
            else:
                _drop(admin, name)


def _drop(admin: psycopg.Connection, name: str) -> None:
    try:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    except psycopg.Error as exc:  # the sweeper will find it
        log.warning("could not drop scratch database %s: %s", name, exc)


def _drop_scratch(server_url: str, name: str, timeout: int) -> None:
    with _server(server_url, timeout) as admin:
        _drop(admin, name)


def replay(server_url: str, migrations: tuple[LocalMigration, ...], schemas: tuple[str, ...],
           default_schema: str = "public", timeout: int = 5, statement_timeout_ms: int = 300_000,
           keep_template: bool = True) -> Replay:
    """Apply *migrations* in order to a new scratch database on *server_url*, introspect it, drop it.

    It starts from the longest replayed prefix kept as a template (``driftbot.engine.templates``),
    and keeps its own result as one, so the next replay after a new migration applies only that.
    """
    digests = templates.chain(migrations, default_schema)
    with _server(server_url, timeout) as admin:
        start = templates.longest_prefix(admin, digests) if keep_template and migrations else None
    reused, template = start if start else (0, None)
    try:
        return _replay_kept(server_url, migrations, reused, template, digests, schemas, default_schema, timeout,
                            statement_timeout_ms, keep_template)
    except (DatabaseUnreachable, ShadowUnavailable):
        if template is None:
            raise
        # The template could not be copied (dropped meanwhile, in use, or another role's, which a role
        # with CREATEDB alone may not copy): replay from scratch.
        return _replay_kept(server_url, migrations, 0, None, digests, schemas, default_schema, timeout,
                            statement_timeout_ms, keep_template)


def kept_template(server_url: str, migrations: tuple[LocalMigration, ...], default_schema: str = "public",
                  timeout: int = 5) -> str | None:
    """The template kept on *server_url* holding exactly *migrations* replayed, or None."""
    if not migrations:
        return None
    with _server(server_url, timeout) as admin:
        return templates.exact(admin, templates.chain(migrations, default_schema))


def _replay_kept(server_url, migrations, reused, template, digests, schemas, default_schema, timeout,
                 statement_timeout_ms, keep_template) -> Replay:
    with scratch_database(server_url, timeout, template) as url:
        if template is not None:
            with _server(server_url, timeout) as admin:
                templates.touch(admin, template, digests, reused)
        todo = migrations[reused:]
        if keep_template and len(todo) >= 2:
            # The history before its newest migration is kept too: that file edited or deleted after it was
            # applied (the usual way a migration changes once applied) then replays only itself, or nothing.
            with scratch_connection(url, default_schema, timeout, statement_timeout_ms) as conn:
                error = apply_in_order(conn, todo[:-1], default_schema)
            if error is not None:
                return Replay(None, error, reused=reused)
            with _server(server_url, timeout) as admin:
                templates.checkpoint(admin, urlsplit(url).path.lstrip("/"), digests[:-1])
            todo = todo[-1:]
        result = _replay_into(url, todo, schemas, default_schema, timeout, statement_timeout_ms)
        if result.snapshot is not None and keep_template and migrations:
            with _server(server_url, timeout) as admin:
                templates.keep(admin, urlsplit(url).path.lstrip("/"), digests, server_url)
            # After the answer: copies waiting for the next check after a change (a new or pending migration
            # starts from this history; its newest migration edited or deleted, from the one before it).
            for k in (len(digests), len(digests) - 1):
                if k:
                    later.defer_only(functools.partial(templates.make_ready, server_url, templates.key_of(digests[:k])))
        return replace(result, reused=reused)


@contextmanager
def scratch_connection(url: str, default_schema: str, timeout: int = 5,
                       statement_timeout_ms: int = 300_000) -> Iterator[psycopg.Connection]:
    """An autocommit connection to a scratch database, set up as Prisma's engine works:
    the URL's schema exists and is first on the search path (migrations name no schema)."""
    try:
        conn = psycopg.connect(parse_url(url).conninfo, autocommit=True, connect_timeout=timeout,
                               application_name="driftbot-shadow")
    except psycopg.Error as exc:
        raise explain_connect_error(exc, "shadow") from None
    with conn:
        conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(f"{statement_timeout_ms}ms")))
        # A scratch database is thrown away: no migration's commit needs to wait for the WAL flush.
        conn.execute("SET synchronous_commit = off")
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(default_schema)))
        reset_search_path(conn, default_schema)
        yield conn


def reset_search_path(conn: psycopg.Connection, default_schema: str) -> None:
    """Put the URL's schema back first on the search path (a script may have changed it)."""
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(default_schema)))


def apply_in_order(conn: psycopg.Connection, migrations: tuple[LocalMigration, ...], default_schema: str) -> ScriptError | None:
    """Run each migration as one script, in order; the first error stops."""
    for m in migrations:
        error = run_script(conn, m)
        if error is not None:
            return error
        reset_search_path(conn, default_schema)
    return None


def _replay_into(url: str, migrations, schemas, default_schema, timeout, statement_timeout_ms) -> Replay:
    with scratch_connection(url, default_schema, timeout, statement_timeout_ms) as conn:
        error = apply_in_order(conn, migrations, default_schema)
        if error is not None:
            return Replay(None, error)
        return Replay(introspect(conn, schemas, default_schema))


class ReplayCache:
    """Introspected replays as JSON files under ``cache_dir/shadow``, one per digest."""

    def __init__(self, cache_dir: Path, folder: str = "shadow") -> None:
        self.root = Path(cache_dir) / folder

    def _path(self, digest: str) -> Path:
        return self.root / f"{digest}.json"

    def get(self, digest: str) -> Snapshot | None:
        data = self.get_json(digest)
        try:
            return None if data is None else Snapshot.from_json(data)
        except (ValueError, KeyError, TypeError):
            return None

    def get_json(self, digest: str) -> dict | None:
        """The cached snapshot in its JSON form (to build only part of a large one), or None."""
        try:
            data = json.loads(self._path(digest).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def put(self, digest: str, snapshot: Snapshot) -> None:
        """Write *snapshot* under *digest*; after the answer where the caller defers housekeeping."""
        later.run_or_defer(lambda: self._write(digest, snapshot))

    def _write(self, digest: str, snapshot: Snapshot) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self._path(digest).with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(snapshot.to_json()), encoding="utf-8")
        tmp.replace(self._path(digest))  # atomic: concurrent workers never read half a file


def replayed_schema(server_url_fn, migrations: tuple[LocalMigration, ...], schemas: tuple[str, ...],
                    default_schema: str, cache: ReplayCache | None, timeout: int = 5) -> Replay:
    """The replayed schema of *migrations*, from the cache when it holds it.

    *server_url_fn* is called only on a cache miss, so a warm check never touches the shadow server.
    """
    with phases.phase("replay"):
        digest = replay_digest(migrations, schemas, default_schema)
        if cache is not None:
            hit = cache.get(digest)
            if hit is not None:
                return Replay(hit, cached=True)
        server = server_url_fn()
        sweep_leftovers(server, timeout=timeout)
        result = replay(server, migrations, schemas, default_schema, timeout)
        if result.snapshot is not None and cache is not None:
            cache.put(digest, result.snapshot)
        return result


def live_schema(conn: psycopg.Connection, schemas: tuple[str, ...], default_schema: str, cache_dir: Path | None) -> Snapshot:
    """The target's schema: introspected, or the snapshot cached for its catalog fingerprint
    (``driftbot.engine.catalog``), so an unchanged target is not introspected again.

    A snapshot is cached only when the fingerprint read after the introspection equals the one
    read before it: a change made meanwhile is never filed under the older catalog.
    """
    with phases.phase("introspection"):
        return _live_schema(conn, schemas, default_schema, cache_dir)


def _live_schema(conn: psycopg.Connection, schemas: tuple[str, ...], default_schema: str, cache_dir: Path | None) -> Snapshot:
    if cache_dir is None:
        return introspect(conn, schemas, default_schema)
    cache = ReplayCache(cache_dir, "live")
    before = catalog.fingerprint(conn)
    digest = hashlib.sha256(f"live-v{CACHE_VERSION}\0{before}\0{default_schema}\0{','.join(schemas)}".encode()).hexdigest()
    hit = cache.get(digest)
    if hit is not None:
        return hit
    snapshot = introspect(conn, schemas, default_schema)
    if catalog.fingerprint(conn) == before:
        try:
            cache.put(digest, snapshot)
        except OSError as exc:  # a cache is an optimisation, never a reason for a check to fail
            log.warning("could not cache the target's schema: %s", exc)
    return snapshot
