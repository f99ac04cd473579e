"""Connections to target and shadow databases.

Prisma URLs carry ``?schema=NAME`` (default ``public``), which libpq does not
know; it is taken off here and reported as the target schema.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from driftbot.errors import CannotConnect

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


# libpq names the server it tried ('connection to server at "db.internal" (10.0.0.5), port 5432 failed: ');
# a message posted in a channel names the environment instead.
_SERVER = re.compile(r'(connection failed: )?(connection to server (at "[^"]*"( \([^)]*\))?, port \d+|on socket "[^"]*") failed: )+')
_HOST = re.compile(r"""failed to resolve host '[^']*'.*|could not translate host name "[^"]*" to address.*""")


def _reason(exc: Exception, where: str) -> tuple[str, str]:
    """(what failed, what to do): libpq's first line without the server's name and address, and
    never a piece of the URL (libpq quotes the piece it could not parse, often the password)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    fix_url = f"fix the URL of {where} in the environment"
    if isinstance(exc, psycopg.ProgrammingError):  # the URL itself did not parse
        if "unexpected spaces" in text:
            return "the URL has a space in it (write a space in a password as %20)", fix_url
        if "invalid percent-encoded token" in text:
            return "the URL has a '%' that does not start a %XX escape (write a '%' in a password as %25)", fix_url
        return ("the URL could not be read (in a password write @ as %40, / as %2F, ? as %3F, # as %23, "
                ": as %3A, % as %25)"), fix_url
    if _HOST.match(text):
        return "its host name could not be resolved", fix_url
    text = _SERVER.sub("", text).replace("FATAL:  ", "").strip() or type(exc).__name__
    if "password authentication failed" in text or "no password supplied" in text:
        return text, f"check the password of {where} in the environment"
    if 'role "' in text and "does not exist" in text:
        return text, f"check the user name in the URL of {where}: that role does not exist on the server"
    if "does not exist" in text:
        return text, f"check the database name in the URL of {where}"
    return text, f"check that the database server of {where} is up and its URL is right"


def error_line(exc: Exception) -> str:
    """The first line of a driver error, without the server's name and address."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return _SERVER.sub("", text).replace("FATAL:  ", "").strip() or type(exc).__name__


def explain_connect_error(exc: Exception, what: str, environment: str | None = None) -> CannotConnect:
    """One line for a person: what failed and what to do, naming *environment*, never its host or port."""
    text, hint = _reason(exc, environment or f"the {what} database")
    return CannotConnect(f"Cannot connect to the {what} database: {text} ({hint}).")


@contextmanager
def connect(
    url: str,
    *,
    what: str = "target",
    environment: str | None = None,
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
        raise explain_connect_error(exc, what, environment) from None
    try:
        yield conn
    finally:
        conn.close()
