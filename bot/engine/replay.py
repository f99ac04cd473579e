"""Applying migration scripts the way Prisma's engine does: each ``migration.sql``
is sent whole, as one script, on one connection.

PostgreSQL runs a multi-statement script as one implicit transaction, unless the
script has its own ``BEGIN``/``COMMIT`` or a statement that cannot run in a
transaction block (a lone ``CREATE INDEX CONCURRENTLY``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import psycopg
from psycopg import sql

from driftbot.engine.sources import LocalMigration
from driftbot.engine.writers import CREATE_TABLE

TABLE = "_prisma_migrations"


_EXTENSION_MISSING = re.compile(
    r'extension "([^"]+)" is not available|could not open extension control file "[^"]*/([^"/]+)\.control"')

_ROLE_MISSING = re.compile(r'role "((?:[^"]|"")+)" does not exist')


@dataclass(frozen=True)
class ScriptError:
    migration: str
    sqlstate: str | None
    message: str
    statement: str | None  # the failing statement, when PostgreSQL gives its position

    @property
    def missing_extension(self) -> str | None:
        """The extension the server lacks, when that is why the script failed."""
        found = _EXTENSION_MISSING.search(self.message)
        return (found.group(1) or found.group(2)) if found else None

    @property
    def missing_role(self) -> str | None:
        """The role the server lacks (a GRANT or a policy names it), when that is why the script failed.
        Roles belong to a server, not to a database: a shadow on another server may not have them."""
        found = _ROLE_MISSING.search(self.message) if self.sqlstate == "42704" else None
        return found.group(1) if found else None

    @property
    def logs(self) -> str:
        """The text Prisma stores in ``_prisma_migrations.logs`` for a failed attempt (its shape)."""
        return (
            f"A migration failed to apply. New migrations cannot be applied before the error is recovered from. "
            f"Read more about how to resolve migration issues in a production database: "
            f"https://pris.ly/d/migrate-resolve\n\nMigration name: {self.migration}\n\n"
            f"Database error code: {self.sqlstate}\n\nDatabase error:\n{self.message}\n"
        )


def _statement_at(script: str, position: int | None, message: str = "", sqlstate: str | None = None) -> str | None:
    """The statement around a 1-based character *position* of *script*; without a position
    (PostgreSQL gives none for many errors), the only statement, or the first one naming
    what the error quotes. Best effort, for messages only."""
    if not position:
        return _guess_statement(script, message, sqlstate)
    start = script.rfind(";", 0, position - 1) + 1
    end = script.find(";", position - 1)
    text = _BLOCK_COMMENT.sub("", script[start : end + 1 if end >= 0 else len(script)]).strip()
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("--")]
    return "\n".join(lines).strip() or None


_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
UNSAFE_NEW_ENUM_VALUE = "55P04"  # an enum value used in the transaction that added it


def _statements(script: str) -> list[str]:
    """The script's statements without their comments (for messages only: a ``;`` inside a string
    or a function body splits it too)."""
    out = []
    for st in _BLOCK_COMMENT.sub("", script).split(";"):
        text = "\n".join(ln for ln in st.splitlines() if not ln.strip().startswith("--")).strip()
        if text:
            out.append(text + ";")
    return out


def _guess_statement(script: str, message: str, sqlstate: str | None = None) -> str | None:
    """The statement that failed, when PostgreSQL gave no position: the only statement, the first
    one using the new enum value the error names (not the one adding it), or the first one naming
    what the error quotes (best effort, for the message only)."""
    statements = _statements(script)
    if len(statements) == 1:
        return statements[0]
    quoted = re.findall(r'"([^"]+)"', message.splitlines()[0]) if message else []
    if sqlstate == UNSAFE_NEW_ENUM_VALUE and quoted:
        literal = "'" + quoted[0].replace("'", "''") + "'"
        using = next((st for st in statements if literal in st and not re.search(r"\bADD\s+VALUE\b", st, re.I)), None)
        if using is not None:
            return using
    return next((st for st in statements if quoted and any(f'"{q}"' in st or q in st for q in quoted)), None)


def run_script(conn: psycopg.Connection, migration: LocalMigration) -> ScriptError | None:
    """Run one migration script whole on an autocommit connection; return its error, if any."""
    try:
        conn.execute(migration.script.encode("utf-8"))  # no parameters: the simple protocol, one script
    except psycopg.Error as exc:
        diag = exc.diag
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            conn.execute("ROLLBACK")  # a script that opened its own BEGIN and failed inside it
        position = int(diag.statement_position) if diag.statement_position else None
        message = f"ERROR: {diag.message_primary or str(exc).strip()}"
        if diag.message_detail:
            message += f"\nDETAIL: {diag.message_detail}"
        return ScriptError(migration.name, diag.sqlstate, message,
                           _statement_at(migration.script, position, message, diag.sqlstate))
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.execute("ROLLBACK")  # a script that left a transaction open: PostgreSQL would roll it back too
    return None


def deploy(conn: psycopg.Connection, migrations: tuple[LocalMigration, ...], schema: str = "public") -> ScriptError | None:
    """What ``prisma migrate deploy`` does, row for row: apply each migration that has no
    finished row, recording the attempt; stop at the first failure and leave it failed.

    Used to build test and demo databases. *conn* must be in autocommit mode.
    """
    table = sql.Identifier(schema, TABLE)
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    conn.execute(sql.SQL(CREATE_TABLE).format(table=table))
    done = {
        r[0]
        for r in conn.execute(
            sql.SQL("SELECT migration_name FROM {} WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL").format(table)
        )
    }
    for m in migrations:
        if m.name in done:
            continue
        row_id = str(uuid.uuid4())
        conn.execute(
            sql.SQL("INSERT INTO {} (id, checksum, migration_name, started_at, applied_steps_count) VALUES (%s, %s, %s, now(), 0)").format(table),
            (row_id, m.checksum, m.name),
        )
        error = run_script(conn, m)
        if error is not None:
            conn.execute(sql.SQL("UPDATE {} SET logs = %s WHERE id = %s").format(table), (error.logs, row_id))
            return error
        conn.execute(
            sql.SQL("UPDATE {} SET finished_at = now(), applied_steps_count = 1 WHERE id = %s").format(table), (row_id,)
        )
    return None
