"""The prefix of the history an unmanaged database holds.

A database without ``_prisma_migrations`` whose tables the local migrations made (deployed, then
the table lost; or each file run by hand) has the schema of some prefix of the history: the whole
of it, its first *k* migrations, or none. That schema is the one the history has *at that point*,
not what each migration makes: later migrations drop, rename and retype what earlier ones made, so
the first migration of a long history is no longer visible as such in a database built by all of it.

One replay of the history on the shadow server reads after each migration a cheap signature of the
schema (``prefix.sql``: names and types, nothing deparsed) and counts the objects whose signature
differs from the live database's. The prefixes at distance 0 are introspected on the spot and judged
by the diff itself, the judge of every other verdict; the closest prefix is the answer when none is
equal. The signatures are cached per history (names and checksums), so checking the same database
again costs one query on it, and the prefix's replayed schema comes from the replay cache.

Cost on a generated history of 800 migrations: one replay (as for any check) plus one signature
query per migration (docs/performance.md has the figures).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psycopg
from psycopg import sql

from driftbot.engine import diff as d
from driftbot.engine.inspect import Snapshot, empty, introspect
from driftbot.engine.shadow import ReplayCache, replay_digest, reset_search_path, scratch_connection, scratch_database
from driftbot.engine.replay import run_script
from driftbot.engine.sources import LocalMigration

SIGNATURE = (Path(__file__).parent / "prefix.sql").read_text(encoding="utf-8")
CACHE_VERSION = "1"  # bump when prefix.sql or the cached shape changes
MAX_EQUAL = 8  # prefixes at distance 0 introspected in one pass (a run of data-only migrations)


def signature(conn: psycopg.Connection, schemas: tuple[str, ...], default_schema: str) -> dict[str, str]:
    """``{"kind name": digest}`` of the objects in *schemas* (one query). Type names print as seen from
    *default_schema* (as the introspection pins them), whatever the connection's search_path."""
    saved = conn.execute("SELECT current_setting('search_path')").fetchone()[0]
    conn.execute("SELECT set_config('search_path', %s, false)", (sql.Identifier(default_schema).as_string(conn),))
    try:
        rows = conn.execute(SIGNATURE, {"schemas": list(dict.fromkeys(schemas))}).fetchall()
    finally:
        conn.execute("SELECT set_config('search_path', %s, false)", (saved,))
    return {f"{kind} {name}": digest for kind, name, digest in rows}


@dataclass(frozen=True)
class Scan:
    """What the replay of the history read after each migration.

    ``deltas[k]``: how the signature changed from prefix *k* to prefix *k + 1* (a key mapped to its new
    digest, or None: gone). ``replayed``: how many migrations replayed (fewer than the history when
    one failed). ``equal``: the prefixes found at distance 0 during the pass, with their schemas."""

    deltas: tuple[dict[str, str | None], ...]
    replayed: int
    equal: tuple[tuple[int, Snapshot], ...] = ()


@dataclass(frozen=True)
class PrefixMatch:
    """The prefix of *k* migrations whose replayed schema is closest to the live one; *ops*: the diff
    from it to the live schema (empty: the database holds exactly that prefix)."""

    k: int
    snapshot: Snapshot
    ops: tuple[d.Operation, ...]

    @property
    def exact(self) -> bool:
        return not self.ops


def distances(deltas, live: dict[str, str]) -> list[int]:
    """``out[k]``: the number of objects whose signature differs between prefix *k* and *live*. Pure."""
    state: dict[str, str] = {}
    distance = len(live)
    out = [distance]
    for delta in deltas:
        for key, digest in delta.items():
            before = state.get(key) != live.get(key)
            if digest is None:
                state.pop(key, None)
            else:
                state[key] = digest
            distance += (state.get(key) != live.get(key)) - before
        out.append(distance)
    return out


def _delta(before: dict[str, str], after: dict[str, str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {k: v for k, v in after.items() if before.get(k) != v}
    out.update({k: None for k in before if k not in after})
    return out


def scan(server_url: str, migrations: tuple[LocalMigration, ...], schemas: tuple[str, ...], default_schema: str,
         live: dict[str, str], timeout: int = 5) -> Scan:
    """Replay *migrations* in a scratch database, reading the signature after each; introspect the
    prefixes whose signature equals *live* (at most MAX_EQUAL, the longest kept)."""
    deltas: list[dict[str, str | None]] = []
    equal: list[tuple[int, Snapshot]] = []
    with scratch_database(server_url, timeout) as url, scratch_connection(url, default_schema, timeout) as conn:
        current = signature(conn, schemas, default_schema)
        if current == live:
            equal.append((0, introspect(conn, schemas, default_schema)))
        for m in migrations:
            if run_script(conn, m) is not None:
                break
            reset_search_path(conn, default_schema)
            after = signature(conn, schemas, default_schema)
            deltas.append(_delta(current, after))
            current = after
            if current == live:
                equal = (equal + [(len(deltas), introspect(conn, schemas, default_schema))])[-MAX_EQUAL:]
    return Scan(tuple(deltas), len(deltas), tuple(equal))


class ScanCache:
    """Scans as JSON under ``cache_dir/prefix``, keyed by the history (names, checksums, schemas)."""

    def __init__(self, cache_dir: Path) -> None:
        self.root = Path(cache_dir) / "prefix"

    @staticmethod
    def key(migrations, schemas, default_schema) -> str:
        return hashlib.sha256(f"prefix-v{CACHE_VERSION}\0{replay_digest(migrations, schemas, default_schema)}".encode()).hexdigest()

    def get(self, key: str) -> Scan | None:
        try:
            data = json.loads((self.root / f"{key}.json").read_text(encoding="utf-8"))
            return Scan(tuple(data["deltas"]), int(data["replayed"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, found: Scan) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.root / f"{key}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps({"deltas": list(found.deltas), "replayed": found.replayed}), encoding="utf-8")
            tmp.replace(self.root / f"{key}.json")  # atomic for concurrent workers
        except OSError:
            pass  # a cache is an optimisation, never a reason for a check to fail


def find(migrations: tuple[LocalMigration, ...], live: Snapshot, live_signature: dict[str, str],
         server_url: Callable[[], str], replay: Callable[[tuple[LocalMigration, ...]], Snapshot | None],
         ignore=(), cache_dir: Path | None = None, snapshots: ReplayCache | None = None,
         timeout: int = 5) -> PrefixMatch | None:
    """The prefix of *migrations* the *live* database holds, or the closest one; None when the history
    cannot be replayed from its first migration on.

    *replay* gives the replayed schema of some migrations (cached, from templates); *snapshots* is the
    replay cache it reads, where the prefixes read during the pass are put for it."""
    schemas, default_schema = live.schemas, live.default_schema
    cache = ScanCache(cache_dir) if cache_dir is not None else None
    key = ScanCache.key(migrations, schemas, default_schema)
    found = cache.get(key) if cache is not None else None
    if found is None:
        found = scan(server_url(), migrations, schemas, default_schema, live_signature, timeout)
        if cache is not None:
            cache.put(key, found)
        if snapshots is not None:
            for k, snap in found.equal:
                snapshots.put(replay_digest(migrations[:k], schemas, default_schema), snap)
    far = distances(found.deltas, live_signature)
    introspected = dict(found.equal)

    def judged(k: int) -> PrefixMatch | None:
        snap = introspected.get(k)
        if snap is None:
            snap = replay(migrations[:k]) if k else empty(live.schemas, live.default_schema)
        if snap is None:
            return None
        return PrefixMatch(k, snap, d.without_ignored(d.diff(snap, live), ignore))

    # Every prefix at the smallest distance, the longest first: names and types alone cannot tell a
    # migration that changes only a default, or only data, from none; the diff can.
    closest = min(far)
    tied = [k for k in range(len(far) - 1, -1, -1) if far[k] == closest]
    if closest == 0:  # those read during the pass first, then at most two replays
        tied = [k for k in tied if k in introspected] + [k for k in tied if k not in introspected][:2]
    first = None
    for k in tied if closest == 0 else tied[:1]:
        match = judged(k)
        if match is None:
            continue
        if match.exact:
            return match
        first = first or match
    return first
