"""Replayed histories kept as template databases on the shadow server.

The snapshot cache answers a repeated check; these answer the next one after a
migration was added or changed. A replay of migrations 1..k is kept as
``driftbot_tpl_<history>_<prefix digest>_<epoch>``; a later replay of 1..n starts from a
copy (``CREATE DATABASE ... TEMPLATE``) of the longest kept prefix and applies
only what follows it. The digest chains each migration's name and checksum, so
an edited migration invalidates exactly the kept prefixes that contain it (a
replay keeps its whole history, not every prefix of it). ``<history>`` is the digest of
the first migration alone: the templates of one history share it.

A replay of two or more migrations also keeps the history before its newest migration (a
checkpoint), so that migration edited or deleted after it was applied replays only itself, or
nothing. After a command's answer (``later.defer_only``), a *ready copy* of the templates the next
check after a change will start from is made (``driftbot_ready_<history>_<prefix digest>_<epoch>``): that
check takes it by a rename instead of waiting for ``CREATE DATABASE ... TEMPLATE`` to copy the whole
database. A ready copy is named by its template's content (the same digest), is never connected to
before it is taken, and goes when its template goes (``prune``).

The newest ``KEEP`` templates of each history are kept, and the ``KEEP_TOTAL`` most recently
used of all: a template copied by a replay is renamed to the time of that use. So the
histories of many environments on one shadow server (or other tools' replays there) do
not push each other's templates out, and a history no one checks any more ages out.
"""

from __future__ import annotations

import hashlib
import logging
import time

import psycopg
from psycopg import sql

from driftbot.engine import later
from driftbot.engine.db import parse_url
from driftbot.engine.sources import LocalMigration

log = logging.getLogger(__name__)

PREFIX = "driftbot_tpl_"
READY = "driftbot_ready_"  # a copy of a template made after an answer, waiting for the next check to take it
KEEP = 4  # per history: a check keeps two (the history and the history before its newest migration), so four hold
#           two checks' worth, e.g. two branches' new migrations tried in turn, and still an edit of the newest applied one
KEEP_TOTAL = 24  # on the server, the most recently used first
OLD_NAMING_AGE_S = 3600  # templates named without their history are dropped once this old
VERSION = "1"  # bump when what a replay leaves in the database changes
_DIGEST = 24  # hex characters of the prefix digest in a template's name
_HISTORY = 8  # hex characters of the history's digest (its first migration's)


def chain(migrations: tuple[LocalMigration, ...], default_schema: str) -> list[str]:
    """``chain[k - 1]``: the digest of the first *k* migrations (names and checksums, in order)."""
    current = hashlib.sha256(f"tpl-v{VERSION}\0{default_schema}".encode()).hexdigest()
    out = []
    for m in migrations:
        current = hashlib.sha256(f"{current}\0{m.name}\0{m.checksum}".encode()).hexdigest()
        out.append(current)
    return out


def _existing(admin: psycopg.Connection) -> list[tuple[str, str, int, str | None]]:
    """(name, digest, epoch, history) of the templates on the server, newest first. A template named
    before histories were part of the name has history None (dropped once OLD_NAMING_AGE_S old)."""
    # Only the templates this role may copy and drop: its own (or a role's it has the privileges of). Another
    # role's (a superuser's set-up run, an earlier shadow role) would refuse the copy: "permission denied".
    rows = admin.execute(
        "SELECT datname FROM pg_catalog.pg_database WHERE datname LIKE %s AND pg_has_role(datdba, 'USAGE')",
        (PREFIX.replace("_", r"\_") + "%",),
    ).fetchall()
    found = []
    for (name,) in rows:
        parts = name[len(PREFIX):].split("_")
        if len(parts) == 3 and len(parts[0]) == _HISTORY and len(parts[1]) == _DIGEST and parts[2].isdigit():
            found.append((name, parts[1], int(parts[2]), parts[0]))
        elif len(parts) == 2 and len(parts[0]) == _DIGEST and parts[1].isdigit():
            found.append((name, parts[0], int(parts[1]), None))
    return sorted(found, key=lambda t: t[2], reverse=True)


def _name(digests: list[str], k: int, epoch: int) -> str:
    return f"{PREFIX}{digests[0][:_HISTORY]}_{digests[k - 1][:_DIGEST]}_{epoch}"


def longest_prefix(admin: psycopg.Connection, digests: list[str]) -> tuple[int, str] | None:
    """(k, template name) of the longest kept prefix of *digests*, or None."""
    by_digest = {}
    for name, digest, _, _ in _existing(admin):
        by_digest.setdefault(digest, name)
    for k in range(len(digests), 0, -1):
        name = by_digest.get(digests[k - 1][:_DIGEST])
        if name:
            return k, name
    return None


def exact(admin: psycopg.Connection, digests: list[str]) -> str | None:
    """The name of the kept template holding exactly the migrations of *digests* replayed, or None."""
    if not digests:
        return None
    return next((name for name, digest, _, _ in _existing(admin) if digest == digests[-1][:_DIGEST]), None)


def checkpoint(admin: psycopg.Connection, scratch: str, digests: list[str]) -> None:
    """Copy the scratch database, which holds the migrations of *digests* replayed, into a template of
    them, unless one is kept. Best effort: the replay goes on without it."""
    try:
        if exact(admin, digests) is not None:
            return
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(_name(digests, len(digests), int(time.time()))), sql.Identifier(scratch)))
    except psycopg.Error as exc:
        log.warning("could not keep a replay checkpoint: %s", exc.diag.message_primary or exc)


def key_of_name(template: str) -> str:
    """``<history>_<digest>`` of a template's name (``key_of``): what its ready copies are named by (the
    template's epoch moves)."""
    return template[len(PREFIX):].rsplit("_", 1)[0]


def _ready(admin: psycopg.Connection) -> list[str]:
    rows = admin.execute("SELECT datname FROM pg_catalog.pg_database WHERE datname LIKE %s AND pg_has_role(datdba, 'USAGE')",
                         (READY.replace("_", r"\_") + "%",)).fetchall()
    return [name for (name,) in rows]


def claim_ready(admin: psycopg.Connection, template: str, scratch: str) -> bool:
    """Rename a ready copy of *template* to *scratch* (a rename, where a copy writes the whole database);
    False when none is waiting. A ready copy is never connected to before it is claimed, and the rename is
    atomic, so two checks never take the same one and each holds the template's content exactly."""
    key = key_of_name(template)
    for name in _ready(admin):
        if name[len(READY):].rsplit("_", 1)[0] != key:
            continue
        try:
            admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(name), sql.Identifier(scratch)))
            return True
        except psycopg.Error:  # another check took it first
            continue
    return False


def key_of(digests: list[str]) -> str:
    """The ``<history>_<digest>`` part of the name of the template of *digests*."""
    return _name(digests, len(digests), 0)[len(PREFIX):].rsplit("_", 1)[0]


def make_ready(server: str, key: str) -> None:
    """A copy of the template named by *key* (``key_of``), when one is kept, waiting for the next replay or
    preview that starts from it, unless one waits already. Housekeeping after an answer (``later.defer_only``)."""
    with psycopg.connect(parse_url(server).conninfo, autocommit=True, connect_timeout=5,
                         application_name="driftbot-shadow") as admin:
        for attempt in (1, 2):  # a replay marking the template as used renames it: look it up again, once
            template = next((name for name, _, _, history in _existing(admin) if history and key_of_name(name) == key), None)
            if template is None or any(n[len(READY):].rsplit("_", 1)[0] == key for n in _ready(admin)):
                return
            ready = f"{READY}{key}_{int(time.time())}"
            try:
                admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(ready), sql.Identifier(template)))
                return
            except psycopg.errors.InvalidCatalogName:
                continue
            except psycopg.Error as exc:
                log.warning("could not make a ready copy of a replay template: %s", exc.diag.message_primary or exc)
                return


def touch(admin: psycopg.Connection, name: str, digests: list[str], k: int) -> None:
    """Mark the template *name* (prefix 1..*k* of *digests*) as used now, so it is kept the longest.
    Best effort: a template another replay is copying at this moment keeps its time."""
    try:
        admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
            sql.Identifier(name), sql.Identifier(_name(digests, k, int(time.time())))))
    except psycopg.Error:
        pass


def keep(admin: psycopg.Connection, scratch: str, digests: list[str], server: str | None = None) -> None:
    """Turn the finished scratch database into the template of all of *digests*; prune old templates.

    Best effort: a template is an optimisation, never a reason for a check to fail.
    """
    digest = digests[-1]
    try:
        if any(d == digest[:_DIGEST] for _, d, _, _ in _existing(admin)):
            return  # another worker kept the same prefix meanwhile
        admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
            sql.Identifier(scratch), sql.Identifier(_name(digests, len(digests), int(time.time())))))
    except psycopg.Error as exc:
        log.warning("could not keep a replay template: %s", exc.diag.message_primary or exc)
        return
    if server is None:
        prune(admin)
    else:  # after the answer, where the caller defers housekeeping (driftbot.engine.later)
        later.run_or_defer(lambda: _prune_server(server))


def prune(admin: psycopg.Connection) -> None:
    """Drop the templates beyond what is kept (best effort)."""
    try:
        existing = _existing(admin)
        dropped = _prunable(existing)
        for old in dropped:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(old)))
        # Ready copies of templates no longer kept, and all but the newest of each template.
        kept = {key_of_name(name) for name, _, _, history in existing if history is not None and name not in dropped}
        seen: set[str] = set()
        for ready in sorted(_ready(admin), key=lambda n: n.rsplit("_", 1)[1], reverse=True):
            key = ready[len(READY):].rsplit("_", 1)[0]
            if key not in kept or key in seen:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(ready)))
            seen.add(key)
    except psycopg.Error as exc:
        log.warning("could not prune replay templates: %s", exc.diag.message_primary or exc)


def _prune_server(server: str) -> None:
    with psycopg.connect(parse_url(server).conninfo, autocommit=True, connect_timeout=5,
                         application_name="driftbot-shadow") as admin:
        prune(admin)


def _prunable(existing: list[tuple[str, str, int, str | None]]) -> list[str]:
    """The templates beyond the newest KEEP of their history, or beyond the KEEP_TOTAL newest of all
    (*existing* is newest first)."""
    out, per_history, total, now = [], {}, 0, time.time()
    for name, _, epoch, history in existing:
        if history is None:  # the older naming: a driftbot of an earlier version may still be using it
            if now - epoch > OLD_NAMING_AGE_S:
                out.append(name)
            continue
        per_history[history] = per_history.get(history, 0) + 1
        if per_history[history] > KEEP or total >= KEEP_TOTAL:
            out.append(name)
        else:
            total += 1
    return out
