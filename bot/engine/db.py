"""Connections to target and shadow databases.

Prisma URLs carry ``?schema=NAME`` (default ``public``), which libpq does not
know; it is taken off here and reported as the target schema.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from bot.errors import DatabaseUnreachable

PRISMA_ONLY_PARAMS = {"schema", "connection_limit", "pool_timeout", "pgbouncer", "statement_cache_size", "socket_timeout"}


@dataclass(frozen=True)
class Target:
    """A database URL split into what libpq takes and Prisma's schema name."""

    conninfo: str
    schema: str = "public"

    @property
    def dbname(self) -> str:
        return urlsplit(self.conninfo).path.lstrip("/") or ""


def parse_url(url: str) -> Target:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), "public") or "public"
    kept = [(k, v) for k, v in query if k not in PRISMA_ONLY_PARAMS]
    return Target(urlunsplit(parts._replace(query=urlencode(kept))), schema)


def explain_connect_error(exc: Exception, what: str) -> DatabaseUnreachable:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "password authentication failed" in text or "no password supplied" in text:
        hint = "check the password in the environment"
    elif 'role "' in text and "does not exist" in text:
        hint = "check the user name in the URL: that role does not exist on the server"
    elif "does not exist" in text:
        hint = "check the database name in the URL"
    else:
        hint = "check that the server is up and the URL is right"
    return DatabaseUnreachable(f"Cannot connect to the {what} database: {text} ({hint}).")


@contextmanager
def connect(
    url: str,
    *,
    what: str = "target",
    connect_timeout: int = 5,
    autocommit: bool = False,
    application_name: str = "driftbot",
) -> Iterator[psycopg.Connection]:
    """Open a connection or raise ``DatabaseUnreachable`` with a one-line reason."""
    target = parse_url(url)
    try:
        conn = psycopg.connect(
            target.conninfo,
            connect_timeout=connect_timeout,
            autocommit=autocommit,
            application_name=application_name,
        )
    except psycopg.Error as exc:
        raise explain_connect_error(exc, what) from None
    try:
        yield conn
    finally:
        conn.close()
