"""Deploy preview: would ``prisma migrate deploy`` succeed on this database now?

A scratch database on the shadow server gets the live schema (the baseline SQL
rendered from introspection; no data); the pending migrations are applied in
order as Prisma applies them (each file as one script); the first failure is
reported with its statement and PostgreSQL's error. Without data, a NOT NULL or
unique change can still fail on real rows: those statements are named.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import psycopg

from driftbot.engine import diff as d
from driftbot.engine.caveats import HasRows, data_caveats
from driftbot.engine.history import HistoryVerdict
from driftbot.engine.inspect import Snapshot, empty
from driftbot.engine.render import render_sql, render_steps
from driftbot.engine.replay import run_script
from driftbot.engine.result import DeployPreview
from driftbot.engine.shadow import (ShadowUnavailable, apply_in_order, kept_template, reset_search_path, scratch_connection,
                                    scratch_database)
from driftbot.engine.sources import LocalMigration, Migrations
from driftbot.errors import DriftbotError

# SQLSTATEs that mean "the thing this statement needs is not there": with objects the
# baseline cannot express (functions, triggers, domains...), the preview cannot tell.
PREVIEW_CACHE_VERSION = "3"  # bump when the preview's logic changes
_NEEDS_SOMETHING = {"42883", "42704", "3F000", "42P01"}


def pending_for_deploy(verdict: HistoryVerdict, migrations: Migrations) -> tuple[LocalMigration, ...]:
    """The migrations ``migrate deploy`` would try, in its order (Prisma's pending list)."""
    wanted = set(verdict.pending) | set(verdict.applied_by_hand)
    return tuple(m for m in migrations.items if m.name in wanted)


_INEXPRESSIBLE = """
SELECT kind || ' ' || name FROM (
  SELECT CASE t.typtype WHEN 'd' THEN 'domain' WHEN 'r' THEN 'range type' ELSE 'composite type' END AS kind,
         n.nspname || '.' || t.typname AS name
    FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
    LEFT JOIN pg_catalog.pg_class c ON c.oid = t.typrelid
   WHERE n.nspname = ANY(%(schemas)s)
     AND (t.typtype IN ('d', 'r') OR (t.typtype = 'c' AND c.relkind = 'c'))
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep
                      WHERE dep.classid = 'pg_catalog.pg_type'::regclass AND dep.objid = t.oid AND dep.deptype = 'e')
) objects ORDER BY 1
"""


def inexpressible_objects(conn: psycopg.Connection, schemas: tuple[str, ...]) -> tuple[str, ...]:
    """Objects of the live schema the baseline does not rebuild (domains, range and composite types).
    Functions, triggers and policies are part of the snapshot, so it rebuilds those."""
    return tuple(r[0] for r in conn.execute(_INEXPRESSIBLE, {"schemas": list(dict.fromkeys(schemas))}))


def available_extensions(conn: psycopg.Connection) -> frozenset[str]:
    """Extensions the target's server could install (a migration's CREATE EXTENSION works there)."""
    return frozenset(r[0] for r in conn.execute("SELECT name FROM pg_catalog.pg_available_extensions"))


def rows_reader(conn: psycopg.Connection, live: Snapshot) -> HasRows:
    """Whether a table of the live database holds a row now (one ``SELECT 1 ... LIMIT 1`` per table asked
    about, remembered). A table the database lacks has none; one the role may not read counts as filled."""
    known = {t.key for t in live.tables}
    seen: dict[tuple[str, str], bool] = {}

    def has_rows(schema: str | None, table: str) -> bool:
        key = (schema or live.default_schema, table)
        if key not in known:
            return False
        if key not in seen:
            query = psycopg.sql.SQL("SELECT 1 FROM {}.{} LIMIT 1").format(*map(psycopg.sql.Identifier, key))
            try:
                with conn.transaction():  # a savepoint: a refused read leaves the check's connection usable
                    seen[key] = conn.execute(query).fetchone() is not None
            except psycopg.Error:
                seen[key] = True
        return seen[key]

    return has_rows


def baseline_sql(live: Snapshot) -> str:
    return render_sql(d.diff(empty(live.schemas, live.default_schema), live), live.default_schema)


def rebuild(conn: psycopg.Connection, live: Snapshot) -> str | None:
    """Build *live* in the empty database of *conn* (autocommit); None when done, else what could not be
    rebuilt and why, in words.

    The schemas first (those of the live schema and those its extensions live in), then each step of
    the baseline alone, in Prisma's order; a step that fails for want of something a later step makes
    (a function a default calls, a view another view reads) is tried again once the others ran, while
    that makes progress. Index definitions come from the catalog, so their operator classes and
    collations are qualified as it names them."""
    for schema in dict.fromkeys((*live.schemas, *(e.schema for e in live.extensions))):
        conn.execute(psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(psycopg.sql.Identifier(schema)))
    ops = d.diff(empty(live.schemas, live.default_schema), live)
    # One script first (one round trip, and as one transaction a failure leaves nothing behind); step by
    # step only when it fails.
    if run_script(conn, LocalMigration("0_live_schema", render_sql(ops, live.default_schema), "")) is None:
        reset_search_path(conn, live.default_schema)
        return None
    reset_search_path(conn, live.default_schema)
    waiting = list(render_steps(ops, live.default_schema))
    while waiting:
        failed: list[tuple] = []
        for step, text in waiting:
            error = run_script(conn, LocalMigration("0_live_schema", text, ""))
            reset_search_path(conn, live.default_schema)
            if error is not None:
                failed.append((step, text, error))
        if not failed:
            return None
        if len(failed) == len(waiting):  # no progress: the first one in Prisma's order says why
            step, text, error = failed[0]
            return f"{d.describe(step.ops[0])} could not be rebuilt ({error.message.splitlines()[0]})"
        waiting = [(step, text) for step, text, _ in failed]
    return None


def _unavailable(reason: str, caveats: tuple[str, ...]) -> DeployPreview:
    return DeployPreview(ok=False, error=f"preview unavailable: {reason}", caveats=caveats, available=False)


def deploy_preview(
    verdict: HistoryVerdict,
    migrations: Migrations,
    live: Snapshot,
    server_url: Callable[[], str],
    inexpressible: tuple[str, ...] = (),
    timeout: int = 5,
    target_extensions: frozenset[str] | None = None,
    cache_dir: Path | None = None,
    has_rows: HasRows | None = None,
    replayed: tuple[LocalMigration, ...] = (),
) -> DeployPreview | None:
    """None when nothing is pending; otherwise what ``migrate deploy`` would do now.

    The answer depends only on the live schema and the pending files, so it is cached
    (under *cache_dir*) by their hash: a repeated check does not build a scratch database.
    The caveats depend on the rows too (*has_rows*, ``rows_reader``): they are never taken from the cache.

    *replayed*: the applied migrations, when their replay is the live schema (no drift). The pending ones
    are then applied to a copy of that replay's kept template (``shadow.kept_template``) instead of a
    database rebuilt from the live schema's SQL: the same schema, copied rather than built again.
    """
    pending = pending_for_deploy(verdict, migrations)
    if not pending:
        return None
    caveats = data_caveats(pending, has_rows)
    if not verdict.managed and live.tables:
        return DeployPreview(
            ok=False, migration=pending[0].name, caveats=caveats,
            error="P3005: The database schema is not empty. Baseline it first (case E), then deploy.",
        )
    if verdict.failed:
        name = verdict.failed[0].name
        return DeployPreview(
            ok=False, migration=name, caveats=caveats,
            error=f"P3009: migrate found failed migrations in the target database ({name}); "
            "new migrations will not be applied until it is resolved.",
        )
    key = _cache_key(live, pending, inexpressible, target_extensions, bool(replayed))
    cached = _cached(cache_dir, key)
    if cached is not None:
        return dataclasses.replace(cached, caveats=caveats)
    result = _on_shadow(live, pending, caveats, server_url, inexpressible, timeout, target_extensions, replayed)
    if cache_dir is not None and result.available:  # "unavailable" may be a passing shadow problem
        _store(cache_dir, key, result)
    return result


def _cache_key(live: Snapshot, pending, inexpressible, target_extensions, on_replay: bool = False) -> str:
    # On a copy of the replay the database also holds what migrations make beyond the snapshot (their
    # rows, domains): an answer may differ from the rebuilt schema's, so the two are kept apart.
    h = hashlib.sha256(f"preview-v{PREVIEW_CACHE_VERSION}{'-replay' if on_replay else ''}\n".encode())
    h.update(json.dumps(live.to_json(), sort_keys=True, default=str).encode())
    for m in pending:
        h.update(f"\n{m.name}\0{m.checksum}".encode())
    h.update(json.dumps([list(inexpressible), sorted(target_extensions or ())]).encode())
    return h.hexdigest()


def _cached(cache_dir: Path | None, key: str) -> DeployPreview | None:
    if cache_dir is None:
        return None
    try:
        data = json.loads((Path(cache_dir) / "preview" / f"{key}.json").read_text(encoding="utf-8"))
        return DeployPreview(**{**data, "caveats": tuple(data["caveats"])})
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _store(cache_dir: Path, key: str, result: DeployPreview) -> None:
    folder = Path(cache_dir) / "preview"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{key}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(result.to_json()), encoding="utf-8")
    tmp.replace(folder / f"{key}.json")  # atomic for concurrent workers


class _NotRebuilt(Exception):
    """The live schema could not be rebuilt in the scratch database (the words say what and why)."""


def _apply_pending(server: str, template: str | None, live: Snapshot, pending, timeout: int):
    """The first pending migration's error (None: all applied) in a scratch database holding the live
    schema: a copy of *template*, else rebuilt from its SQL."""
    with scratch_database(server, timeout, template) as url, scratch_connection(url, live.default_schema, timeout) as conn:
        if template is None:
            failed = rebuild(conn, live)
            if failed is not None:
                raise _NotRebuilt(failed)
        return apply_in_order(conn, pending, live.default_schema)


def _on_shadow(live, pending, caveats, server_url, inexpressible, timeout, target_extensions,
               replayed: tuple[LocalMigration, ...] = ()) -> DeployPreview:
    """Build the live schema in a scratch database (or copy the replay that is the live schema) and apply
    the pending migrations there."""
    try:
        render_steps(d.diff(empty(live.schemas, live.default_schema), live), live.default_schema)
    except Exception as exc:  # a renderer gap must never crash a check
        return _unavailable(f"the live schema cannot be rendered as SQL ({type(exc).__name__}: {exc})", caveats)
    try:
        server = server_url()
        template = kept_template(server, replayed, live.default_schema, timeout) if replayed else None
        try:
            error = _apply_pending(server, template, live, pending, timeout)
        except DriftbotError:
            if template is None:
                raise
            error = _apply_pending(server, None, live, pending, timeout)  # the template went meanwhile: rebuild
    except _NotRebuilt as exc:
        return _unavailable(f"the live schema could not be rebuilt on the shadow server: {exc}", caveats)
    except ShadowUnavailable as exc:
        return _unavailable(str(exc), caveats)
    except DriftbotError as exc:
        return _unavailable(f"the shadow server is unavailable: {exc}", caveats)
    except psycopg.Error as exc:  # the shadow went away mid-preview: never the target's problem
        return _unavailable(f"the shadow server failed: {str(exc).strip().splitlines()[0] if str(exc).strip() else 'closed'}",
                            caveats)
    if error is None:
        return DeployPreview(ok=True, caveats=caveats)
    name = error.missing_extension
    if name and target_extensions is not None:
        if name in target_extensions:  # the shadow server lacks it, the target has it
            return _unavailable(f"{error.migration} needs extension {name}, which the target's server has but the "
                                "shadow server lacks", caveats)
    if error.missing_role:  # a server-wide object: the target's server may well have it
        return _unavailable(f"{error.migration} uses role {error.missing_role}, which the shadow server lacks", caveats)
    if error.sqlstate in _NEEDS_SOMETHING and inexpressible:
        return _unavailable(
            f"{error.migration} failed with \"{error.message.splitlines()[0]}\", but the live schema has objects the "
            f"preview cannot copy ({', '.join(inexpressible[:5])}); it may need one of them", caveats)
    return DeployPreview(ok=False, migration=error.migration, error=error.message.splitlines()[0],
                         statement=error.statement, caveats=caveats, sqlstate=error.sqlstate)
