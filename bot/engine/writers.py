"""The only code that writes to a target database.

Each writer runs in one transaction with ``lock_timeout`` and
``statement_timeout``, and first takes the advisory lock Prisma Migrate itself
takes (72707369), without waiting: if a deploy, a ``migrate resolve`` or another
driftbot change holds it, the writer refuses. Each is safe to run twice: the
second run is refused with Prisma's reason and changes nothing, except where Prisma itself accepts
it as a no-op (a second ``resolve --rolled-back``): then it succeeds and changes nothing.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass

import psycopg
from psycopg import sql

from driftbot.engine.db import connect, error_line, parse_url
from driftbot.engine.history import TABLE, MigrationRow, table_exists
from driftbot.engine.sources import Migrations
from driftbot.errors import Busy, DatabaseUnreachable, InvalidName, Refused

# Prisma Migrate's own advisory lock key: holding it keeps us out of a running deploy.
PRISMA_ADVISORY_LOCK = 72707369

CREATE_TABLE = """CREATE TABLE IF NOT EXISTS {table} (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)"""


@dataclass(frozen=True)
class Limits:
    lock_timeout_ms: int = 5_000
    statement_timeout_ms: int = 60_000
    connect_timeout_s: int = 5


@dataclass(frozen=True)
class WriteResult:
    """What a writer did: the statements it ran, in order, for the audit trail."""

    action: str  # the writer's name, which is its action's kind (driftbot.engine.actions)
    target: str
    statements: tuple[str, ...]
    message: str


# Control characters' names (unicodedata has none for them).
_CONTROL_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "BACKSPACE", 0x09: "TAB", 0x0A: "LINE FEED", 0x0D: "CARRIAGE RETURN",
                  0x1B: "ESC", 0x7F: "DELETE"}
# Scripts that mix legitimately within one word (Japanese) count as one.
_SCRIPT_GROUPS = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "KATAKANA-HIRAGANA": "CJK", "IDEOGRAPHIC": "CJK"}


def _char(ch: str) -> str:
    name = _CONTROL_NAMES.get(ord(ch)) or unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")


def _shown(value: str, odd: str = "") -> str:
    """*value* with every invisible or control character (and those in *odd*) written as \\uXXXX."""
    out = "".join(ch if ch.isprintable() and unicodedata.category(ch) != "Cf" and ch not in odd
                  else f"\\u{ord(ch):04x}" for ch in value)
    out = out.replace("`", "'")
    return out if len(out) <= 80 else out[:79] + "…"


def _script(ch: str) -> str:
    first = unicodedata.name(ch, "UNKNOWN").split()[0]
    return _SCRIPT_GROUPS.get(first, first)


def check_characters(value: str, what: str) -> str:
    """Refuse control, format (zero-width, bidi), unassigned and private-use characters, spaces other
    than U+0020, and letters from more than one script (``VIDЕO`` with a Cyrillic Е): each would look
    like another value in Slack and in the database. One line names the character and where it is."""
    for i, ch in enumerate(value, 1):
        category = unicodedata.category(ch)
        if category[0] in "CZ" and ch != " ":
            kind = {"Cc": "a control character", "Cf": "an invisible format character (zero-width or bidi)",
                    "Cn": "an unassigned character", "Co": "a private-use character",
                    "Cs": "a surrogate"}.get(category, "a space or separator other than a plain space")
            raise InvalidName(f"The {what} `{_shown(value)}` has {kind}, {_char(ch)}, at position {i}; "
                              "nothing was changed.")
    letters = [(i, ch, _script(ch)) for i, ch in enumerate(value, 1) if ch.isalpha()]
    scripts = [script for _, _, script in letters]
    if len(set(scripts)) > 1:
        most = max(dict.fromkeys(scripts), key=scripts.count)  # ties: the first letter's script
        i, ch, _ = next(letter for letter in letters if letter[2] != most)
        raise InvalidName(f"The {what} `{_shown(value, ch)}` mixes scripts: {_char(ch)} at position {i} among "
                          f"{most.title()} letters (a look-alike); nothing was changed.")
    return value


def check_migration_name(name: str) -> str:
    if not name or len(name) > 255 or "/" in name or "\\" in name or name in (".", "..") or ".." in name:
        raise InvalidName(f"`{_shown(name[:80])}` is not a migration name (no '/', '\\' or '..'; at most 255 characters).")
    return check_characters(name, "migration name")


_IDENT_MAX = 63


def check_identifier(value: str, what: str) -> str:
    if not value or len(value.encode("utf-8")) > _IDENT_MAX or "\x00" in value:
        raise InvalidName(f"The {what} name must be 1 to {_IDENT_MAX} bytes (got {len(value.encode('utf-8'))}).")
    return check_characters(value, f"{what} name")


def check_enum_value(value: str) -> str:
    if not value or len(value.encode("utf-8")) > _IDENT_MAX or "\x00" in value:
        raise InvalidName(f"An enum value must be 1 to {_IDENT_MAX} bytes.")
    return check_characters(value, "enum value")


# The statements of the resolve writers, written once: what runs (composed, the values bound) and
# what is shown (the text an approver binds to in a plan, and the audit trail records) come from the
# same template, so the two cannot drift apart.
_CLOSE_FAILED = ("UPDATE {table} SET rolled_back_at = now() WHERE migration_name = {name} "
                 "AND finished_at IS NULL AND rolled_back_at IS NULL")
_INSERT_APPLIED = ("INSERT INTO {table} (id, checksum, started_at, finished_at, migration_name, applied_steps_count, logs) "
                   "VALUES ({id}, {checksum}, now(), now(), {name}, 0, '')")
NEW_ID = "<new uuid>"  # how a plan shows the id the writer generates when it runs


def close_failed(name: str, schema: str = "public") -> tuple[sql.Composed, None, str]:
    """Mark the failed attempts of *name* rolled back: the statement, no parameters, and its text."""
    statement = sql.SQL(_CLOSE_FAILED).format(table=sql.Identifier(schema, TABLE), name=sql.Literal(name))
    return statement, None, _CLOSE_FAILED.format(table=f'"{TABLE}"', name=_literal(name))


def insert_applied(new_id: str, checksum: str, name: str, schema: str = "public") -> tuple[sql.Composed, None, str]:
    """Record *name* as applied, as Prisma's ``resolve --applied`` does (``logs`` is '', not NULL)."""
    statement = sql.SQL(_INSERT_APPLIED).format(table=sql.Identifier(schema, TABLE), id=sql.Literal(new_id),
                                                checksum=sql.Literal(checksum), name=sql.Literal(name))
    shown_id = new_id if new_id == NEW_ID else _literal(new_id)
    return statement, None, _INSERT_APPLIED.format(table=f'"{TABLE}"', id=shown_id, checksum=_literal(checksum),
                                                   name=_literal(name))


class _Session:
    """One locked, time-limited transaction on a target database."""

    def __init__(self, conn: psycopg.Connection, limits: Limits) -> None:
        self.conn, self.limits, self.ran = conn, limits, []

    def __enter__(self) -> "_Session":
        self.tx = self.conn.transaction()
        self.tx.__enter__()
        self.conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{self.limits.lock_timeout_ms}ms")))
        self.conn.execute(
            sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(f"{self.limits.statement_timeout_ms}ms"))
        )
        got = self.conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (PRISMA_ADVISORY_LOCK,)).fetchone()[0]
        if not got:
            self.tx.__exit__(None, None, None)
            raise Busy(
                "Another change (a Prisma migrate command or a driftbot execution) holds the migration lock on "
                "this database. Nothing was changed; try again when it has finished."
            )
        return self

    def run(self, statement: sql.Composable | str, params: tuple | None = None, shown: str | None = None) -> None:
        self.conn.execute(statement, params)
        self.ran.append(shown or (statement.as_string(self.conn) if isinstance(statement, sql.Composable) else statement))

    def __exit__(self, *exc) -> bool:
        return bool(self.tx.__exit__(*exc))


def _open(url: str, limits: Limits):
    return connect(url, what="admin", connect_timeout=limits.connect_timeout_s)


def _wrap_pg(exc: psycopg.Error) -> Exception:
    if isinstance(exc, (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled)):
        return Busy(f"The change timed out waiting for a lock or took too long ({exc.diag.message_primary}); nothing was changed.")
    if isinstance(exc, psycopg.OperationalError):
        return DatabaseUnreachable(f"The admin database connection failed: {error_line(exc)}")
    return Refused(f"PostgreSQL refused the change: {exc.diag.message_primary or exc}")


def resolve_applied(url: str, migrations: Migrations, name: str, limits: Limits = Limits()) -> WriteResult:
    """``prisma migrate resolve --applied NAME``: record a migration as applied.

    Failed attempts get ``rolled_back_at = now()``; a new row is inserted with
    the local file's checksum, ``started_at = finished_at = now()``, 0 steps and
    ``logs = ''`` (Prisma's engine writes an empty string there, not NULL).
    Refused (P3008) when any attempt of the migration finished, and when it is not
    in the migrations folder (P3017). Creates ``_prisma_migrations`` when
    missing, as Prisma does for a baseline.
    """
    check_migration_name(name)
    local = migrations.by_name().get(name)
    if local is None:
        raise Refused(f"P3017: The migration `{name}` could not be found in {migrations.origin}; nothing was changed.")
    target = parse_url(url)
    table = sql.Identifier(target.schema, TABLE)
    try:
        with _open(url, limits) as conn, _Session(conn, limits) as s:
            if not table_exists(conn, target.schema):
                s.run(sql.SQL(CREATE_TABLE).format(table=table))
            rows = [r for r in _rows(conn, target.schema) if r.migration_name == name]
            # Prisma refuses when any attempt finished, even one later marked rolled back.
            if any(r.finished_at is not None for r in rows):
                raise Refused(f"P3008: The migration `{name}` is already recorded as applied in the database; nothing was changed.")
            if any(r.is_failed for r in rows):
                s.run(*close_failed(name, target.schema))
            s.run(*insert_applied(str(uuid.uuid4()), local.checksum, name, target.schema))
            ran = tuple(s.ran)
    except psycopg.Error as exc:
        raise _wrap_pg(exc) from None
    return WriteResult(resolve_applied.__name__, target.dbname, ran, f"Migration {name} marked as applied.")


def _rows(conn: psycopg.Connection, schema: str):
    # read_rows opens a nested read-only transaction; inside ours a plain select is enough.
    query = sql.SQL(
        "SELECT id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count "
        "FROM {} ORDER BY started_at, id FOR UPDATE"
    ).format(sql.Identifier(schema, TABLE))
    return [MigrationRow(*r) for r in conn.execute(query).fetchall()]


def resolve_rolled_back(url: str, name: str, limits: Limits = Limits()) -> WriteResult:
    """``prisma migrate resolve --rolled-back NAME``: mark a failed migration rolled back.

    Sets ``rolled_back_at = now()`` on its failed rows; nothing else changes.
    Refused when the migration never ran (P3011) or every attempt of it finished (P3012). A
    migration already rolled back is, as Prisma does it, "marked as rolled back" again with no
    row changed (no statements run).
    """
    check_migration_name(name)
    target = parse_url(url)
    try:
        with _open(url, limits) as conn, _Session(conn, limits) as s:
            if not table_exists(conn, target.schema):
                raise Refused(f"P3011: Migration `{name}` cannot be rolled back because it was never applied to the database.")
            rows = [r for r in _rows(conn, target.schema) if r.migration_name == name]
            if not rows:
                raise Refused(f"P3011: Migration `{name}` cannot be rolled back because it was never applied to the database.")
            if all(r.finished_at is not None for r in rows):
                raise Refused(f"P3012: Migration `{name}` cannot be rolled back because it is not in a failed state.")
            if not any(r.is_failed for r in rows):  # already rolled back: Prisma says so and exits 0
                return WriteResult(resolve_rolled_back.__name__, target.dbname, (),
                                   f"Migration {name} marked as rolled back (it already was; nothing was changed).")
            s.run(*close_failed(name, target.schema))
            ran = tuple(s.ran)
    except psycopg.Error as exc:
        raise _wrap_pg(exc) from None
    return WriteResult(resolve_rolled_back.__name__, target.dbname, ran, f"Migration {name} marked as rolled back.")


def add_enum_value_sql(enum: str, value: str, schema: str = "public", before: str | None = None) -> sql.Composed:
    """``ALTER TYPE "enum" ADD VALUE IF NOT EXISTS 'value'``, placed ``BEFORE`` an existing value when
    given (where the migrations have it: enum values are ordered)."""
    check_identifier(enum, "enum")
    check_enum_value(value)
    statement = sql.SQL("ALTER TYPE {} ADD VALUE IF NOT EXISTS {}").format(sql.Identifier(schema, enum), sql.Literal(value))
    if before is not None:
        statement = sql.SQL("{} BEFORE {}").format(statement, sql.Literal(check_enum_value(before)))
    return statement


def _literal(value: str) -> str:
    literal = "'" + value.replace("'", "''") + "'"
    return "E" + literal.replace("\\", "\\\\") if "\\" in value else literal


def render_add_enum_value(enum: str, value: str, schema: str = "public", before: str | None = None) -> str:
    """The statement as text (for messages and tracking migrations), quoted without a connection."""
    check_identifier(enum, "enum")
    check_enum_value(value)
    ident = '"' + enum.replace('"', '""') + '"'
    if schema != "public":
        ident = '"' + schema.replace('"', '""') + '".' + ident
    where = f" BEFORE {_literal(check_enum_value(before))}" if before is not None else ""
    return f"ALTER TYPE {ident} ADD VALUE IF NOT EXISTS {_literal(value)}{where};"


def add_enum_value(url: str, enum: str, value: str, limits: Limits = Limits(), schema: str | None = None,
                   before: str | None = None) -> WriteResult:
    """``ALTER TYPE "enum" ADD VALUE IF NOT EXISTS 'value' [BEFORE 'other']``; refused when the enum does
    not exist or already has the value (so a second run is a clear no-op)."""
    statement = add_enum_value_sql(enum, value, schema or parse_url(url).schema, before)
    target = parse_url(url)
    schema = schema or target.schema
    try:
        with _open(url, limits) as conn, _Session(conn, limits) as s:
            labels = conn.execute(
                "SELECT e.enumlabel FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
                "LEFT JOIN pg_catalog.pg_enum e ON e.enumtypid = t.oid WHERE n.nspname = %s AND t.typname = %s AND t.typtype = 'e'",
                (schema, enum),
            ).fetchall()
            if not labels:
                raise Refused(f"There is no enum `{enum[:63]}` in schema `{schema}`; nothing was changed.")
            if any(label == value for (label,) in labels):
                raise Refused(f"Enum `{enum}` already has the value `{value}`; nothing was changed.")
            s.run(statement, shown=statement.as_string(conn))
            ran = tuple(s.ran)
    except psycopg.Error as exc:
        raise _wrap_pg(exc) from None
    return WriteResult(add_enum_value.__name__, target.dbname, ran, f"Added value {value!r} to enum {enum}.")

