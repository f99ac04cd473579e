"""Replayed histories kept as template databases on the shadow server.

The snapshot cache answers a repeated check; these answer the next one after a
migration was added or changed. A replay of migrations 1..k is kept as
``driftbot_tpl_<history>_<prefix digest>_<epoch>``; a later replay of 1..n starts from a
copy (``CREATE DATABASE ... TEMPLATE``) of the longest kept prefix and applies
only what follows it. The digest chains each migration's name and checksum, so
an edited migration invalidates exactly the kept prefixes that contain it (a
replay keeps its whole history, not every prefix of it). ``<history>`` is the digest of
the first migration alone: the templates of one history share it.

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
KEEP = 3  # per history: the current prefix and the few before it (a migration edited back and forth)
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
        for old in _prunable(_existing(admin)):
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(old)))
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
