"""Replayed histories kept as template databases on the shadow server.

The snapshot cache answers a repeated check; these answer the next one after a
migration was added or changed. A replay of migrations 1..k is kept as
``driftbot_tpl_<prefix digest>_<epoch>``; a later replay of 1..n starts from a
copy (``CREATE DATABASE ... TEMPLATE``) of the longest kept prefix and applies
only what follows it. The digest chains each migration's name and checksum, so
an edited migration invalidates exactly the kept prefixes that contain it (a
replay keeps its whole history, not every prefix of it).
The newest ``KEEP`` templates are kept; older ones are dropped.
"""

from __future__ import annotations

import hashlib
import logging
import time

import psycopg
from psycopg import sql

from bot.engine.sources import LocalMigration

log = logging.getLogger(__name__)

PREFIX = "driftbot_tpl_"
KEEP = 6
VERSION = "1"  # bump when what a replay leaves in the database changes
_DIGEST = 24  # hex characters of the prefix digest in a template's name


def chain(migrations: tuple[LocalMigration, ...], default_schema: str) -> list[str]:
    """``chain[k - 1]``: the digest of the first *k* migrations (names and checksums, in order)."""
    current = hashlib.sha256(f"tpl-v{VERSION}\0{default_schema}".encode()).hexdigest()
    out = []
    for m in migrations:
        current = hashlib.sha256(f"{current}\0{m.name}\0{m.checksum}".encode()).hexdigest()
        out.append(current)
    return out


def _existing(admin: psycopg.Connection) -> list[tuple[str, str, int]]:
    """(name, digest, epoch) of the templates on the server, newest first."""
    rows = admin.execute(
        "SELECT datname FROM pg_catalog.pg_database WHERE datname LIKE %s", (PREFIX.replace("_", r"\_") + "%",)
    ).fetchall()
    found = []
    for (name,) in rows:
        digest, _, epoch = name[len(PREFIX):].partition("_")
        if len(digest) == _DIGEST and epoch.isdigit():
            found.append((name, digest, int(epoch)))
    return sorted(found, key=lambda t: t[2], reverse=True)


def longest_prefix(admin: psycopg.Connection, digests: list[str]) -> tuple[int, str] | None:
    """(k, template name) of the longest kept prefix of *digests*, or None."""
    by_digest = {}
    for name, digest, _ in _existing(admin):
        by_digest.setdefault(digest, name)
    for k in range(len(digests), 0, -1):
        name = by_digest.get(digests[k - 1][:_DIGEST])
        if name:
            return k, name
    return None


def keep(admin: psycopg.Connection, scratch: str, digest: str) -> None:
    """Turn the finished scratch database into the template of *digest*; prune old templates.

    Best effort: a template is an optimisation, never a reason for a check to fail.
    """
    name = f"{PREFIX}{digest[:_DIGEST]}_{int(time.time())}"
    try:
        if any(d == digest[:_DIGEST] for _, d, _ in _existing(admin)):
            return  # another worker kept the same prefix meanwhile
        admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(scratch), sql.Identifier(name)))
        for old, _, _ in _existing(admin)[KEEP:]:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(old)))
    except psycopg.Error as exc:
        log.warning("could not keep or prune replay templates: %s", exc.diag.message_primary or exc)
