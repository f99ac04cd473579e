"""Two environments side by side: ``compare`` returns one ``Comparison`` for every view.

Prisma 7 can no longer diff two databases; this is that answer, in Prisma's words.
Both environments are read at once (two threads, read-only transactions): their
``_prisma_migrations`` rows and their live schemas. Then, pure:

- the history gap: migrations applied, failed or rolled back in one only, and the
  same migration applied with different checksums;
- the schema difference of TO relative to FROM (``diff(FROM, TO)``), less what
  either environment's ``ignore`` list names (an object one environment ignores
  may be anything there, so a difference in it says nothing);
- which part of that difference the history gap explains. That needs the schema
  each side's applied migrations build: when the histories differ, both are
  replayed with the shadow machinery (snapshot cache, kept templates); when they
  agree nothing needs replaying, and the drift is named with its environment only
  if the replay cache already holds their schema (never a scratch database).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from queue import SimpleQueue
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psycopg

from driftbot.engine import diff as d
from driftbot.engine import prisma_schema, sources
from driftbot.engine.comparison import (
    Comparison, HistoryGap, SchemaDifference, Touched, history_gap, restrict_json, schema_difference, states, touched,
)
from driftbot.engine.db import connect, parse_url
from driftbot.engine.history import MigrationRow, checksum_matches, read_rows
from driftbot.engine.inspect import Snapshot, introspect
from driftbot.engine.shadow import ReplayCache, ShadowUnavailable, replay_digest, replayed_schema, shadow_server
from driftbot.engine.sources import LocalMigration
from driftbot.errors import ConfigError, DatabaseUnreachable, DriftbotError, MigrationsNotFound
from driftbot.settings import EnvironmentSettings, Settings


@dataclass(frozen=True)
class _Side:
    rows: tuple[MigrationRow, ...] | None
    snapshot: Snapshot


@dataclass(frozen=True)
class _Recorded:
    """A migration as the replay cache keys it (name and checksum), from a ``_prisma_migrations`` row."""

    name: str
    checksum: str


def _recorded(rows) -> tuple[_Recorded, ...]:
    return tuple(_Recorded(name, checksum) for name, (state, checksum) in
                 sorted(states(rows or ()).items(), key=lambda kv: kv[0].encode()) if state == "applied")


_UNREAD = object()  # put in ``rows_read`` when the rows could not be read


def _read(settings: Settings, env: EnvironmentSettings, scopes: tuple[str, ...], default_schema: str,
          rows_read: SimpleQueue) -> _Side:
    """One environment's rows and live schema, read-only (runs in its own thread). The rows are
    put in *rows_read* as soon as they are read, before the longer introspection."""
    handed = False
    try:
        with connect(env.database_url, connect_timeout=settings.connect_timeout_s,
                     application_name="driftbot-compare") as conn:
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{settings.check_statement_timeout_ms}ms",))
            found = read_rows(conn, default_schema)
            rows = None if found is None else tuple(found)
            rows_read.put(rows)
            handed = True
            return _Side(rows, introspect(conn, scopes, default_schema))
    except psycopg.Error as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnreachable(f"its database failed during the read: {text}") from None
    finally:
        if not handed:
            rows_read.put(_UNREAD)


def _prefetch(cache: ReplayCache, rows_read: tuple[SimpleQueue, SimpleQueue], scopes: tuple[str, ...],
              default_schema: str) -> tuple[tuple[tuple[_Recorded, ...], ...], dict[str, dict | None]]:
    """Each side's applied migrations, and the cached schemas they name in JSON form (digest ->
    data or None), read while the introspections wait on their servers."""
    histories = [q.get() for q in rows_read]
    if any(rows is _UNREAD for rows in histories):
        return ((), ()), {}
    recorded = tuple(_recorded(rows) for rows in histories)
    digests = {replay_digest(r, scopes, default_schema) for r in recorded if r}
    return recorded, {digest: cache.get_json(digest) for digest in digests}


class _NoScratch(Exception):
    """Raised instead of choosing a shadow server: this replay may come from the cache only."""


def _no_scratch() -> str:
    raise _NoScratch


def _chosen(rows, own: dict[str, LocalMigration], other: dict[str, LocalMigration]) -> tuple[LocalMigration, ...]:
    """The scripts of the migrations applied per *rows*, in Prisma's order: the file whose checksum
    matches the recorded one, from either environment's source (its own first)."""
    out = []
    for name, (state, checksum) in sorted(states(rows or ()).items(), key=lambda kv: kv[0].encode()):
        if state != "applied":
            continue
        found = [m for m in (own.get(name), other.get(name)) if m is not None]
        if not found:
            raise MigrationsNotFound(name)
        out.append(next((m for m in found if checksum_matches(m, checksum)), found[0]))
    return tuple(out)


def _expected(settings: Settings, envs: tuple[EnvironmentSettings, EnvironmentSettings], sides: tuple[_Side, _Side],
              gap: HistoryGap, scopes: tuple[str, ...], default_schema: str, fetch: bool, wanted: Touched,
              recorded: tuple[tuple[_Recorded, ...], ...], prefetched: dict[str, dict | None]):
    """(expected FROM, expected TO, why unsorted, why unnamed): what each side's applied migrations build.

    First from the replay cache, by the checksums the databases recorded, built only where the
    difference is (*wanted*): no source is read. On a miss the sources are read, one after the
    other (two environments often share one git cache), and the gap is replayed; with agreeing
    histories a miss is an answer (no scratch database), not a replay."""
    cache = ReplayCache(Path(settings.cache_dir))
    timeout = settings.connect_timeout_s

    def cached(applied: tuple[_Recorded, ...]) -> Snapshot | None:
        if not applied:
            return Snapshot(scopes, default_schema)
        digest = replay_digest(applied, scopes, default_schema)
        data = prefetched[digest] if digest in prefetched else cache.get_json(digest)
        try:
            return None if data is None else Snapshot.from_json(restrict_json(data, wanted))
        except (KeyError, TypeError, ValueError):  # an entry of another shape: replay
            return None

    found = [cached(recorded[0])] * 2 if gap.same_applied else [cached(applied) for applied in recorded]
    if None not in found:
        return found[0], found[1], None, None
    try:
        sets = tuple(sources.load(env, Path(settings.cache_dir), fetch=fetch).by_name() for env in envs)
        chosen = (_chosen(sides[0].rows, sets[0], sets[1]), _chosen(sides[1].rows, sets[1], sets[0]))
    except DriftbotError as exc:
        if gap.same_applied:
            return None, None, None, str(exc).rstrip(".")
        return None, None, f"the history gap's schema is unknown: {str(exc).rstrip('.')}", None

    def build(migrations: tuple[LocalMigration, ...], server: Callable[[], str]) -> Snapshot:
        result = replayed_schema(server, migrations, scopes, default_schema, cache, timeout)
        if result.error is not None:
            raise DriftbotError(f"migration {result.error.migration} cannot be replayed: "
                                f"{result.error.message.splitlines()[0]}")
        return result.snapshot

    if gap.same_applied:  # one schema for both; from the cache or not at all
        try:
            one = build(chosen[0], _no_scratch)
        except _NoScratch:
            return None, None, None, ("the schema their migrations build is not cached "
                                      "(the histories agree: no scratch database is used)")
        return one, one, None, None
    try:
        built = tuple(have if have is not None else
                      build(c, lambda env=env: shadow_server(env.shadow_url, env.database_url, timeout))
                      for have, c, env in zip(found, chosen, envs))
    except (ShadowUnavailable, DatabaseUnreachable, DriftbotError) as exc:
        return None, None, f"the history gap's schema could not be replayed: {str(exc).rstrip('.')}", None
    return built[0], built[1], None, None


def compare(settings: Settings, from_name: str, to_name: str, *, fetch: bool = True) -> Comparison:
    """Compare two configured environments. Raises ``UnknownEnvironment`` for a name not configured
    and ``ConfigError`` for two environments in different PostgreSQL schemas; an environment that
    cannot be read becomes a result in state ``error`` naming it and why."""
    started = time.perf_counter()
    envs = (settings.environment(from_name), settings.environment(to_name))
    if from_name == to_name:
        return Comparison(from_name, to_name, HistoryGap(True, True, 0, 0), SchemaDifference())

    def done(**kw) -> Comparison:
        return Comparison(from_name, to_name, duration_ms=(time.perf_counter() - started) * 1000, **kw)

    targets = tuple(parse_url(env.database_url) for env in envs)
    if targets[0].schema != targets[1].schema:
        raise ConfigError(f"{from_name} is in PostgreSQL schema `{targets[0].schema}` and {to_name} in "
                          f"`{targets[1].schema}` (their URLs' ?schema=); compare needs both in the same one.")
    default_schema, scopes, errors, settled = targets[0].schema, [targets[0].schema], [], []
    for env in envs:
        try:
            if env.project:  # a Prisma project names the schema (and the migrations): read it first
                env = sources.settle(env, Path(settings.cache_dir), fetch=fetch).env
            scopes += prisma_schema.load(env.schema_path).schemas if env.schema_path else ()
        except DriftbotError as exc:
            errors.append((env.name, str(exc)))
        settled.append(env)
    envs, scopes = tuple(settled), tuple(dict.fromkeys(scopes))
    if errors:
        return done(history=None, schema=None, errors=tuple(errors))
    cache, rows_read = ReplayCache(Path(settings.cache_dir)), (SimpleQueue(), SimpleQueue())
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="compare") as pool:
        futures = [pool.submit(_read, settings, env, scopes, default_schema, ready) for env, ready in zip(envs, rows_read)]
        recorded, prefetched = _prefetch(cache, rows_read, scopes, default_schema)
    sides = []
    for env, future in zip(envs, futures):
        try:
            sides.append(future.result())
        except DriftbotError as exc:
            errors.append((env.name, str(exc)))
    if errors:
        return done(history=None, schema=None, errors=tuple(errors))
    gap = history_gap(sides[0].rows, sides[1].rows)
    ignore = tuple(dict.fromkeys((*envs[0].ignore, *envs[1].ignore)))
    live = (sides[0].snapshot, sides[1].snapshot)
    ops = d.without_ignored(d.diff(*live), ignore)
    if not ops:
        return done(history=gap, schema=SchemaDifference())  # nothing to sort, nothing to replay
    expected = _expected(settings, envs, tuple(sides), gap, scopes, default_schema, fetch, touched(ops), recorded, prefetched)
    schema = schema_difference(*live, ignore, (from_name, to_name), *expected, ops=ops)
    return done(history=gap, schema=schema)
