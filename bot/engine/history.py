"""Migration history: ``_prisma_migrations`` rows + the local folder -> a verdict.

``classify`` is pure. ``read_rows`` is the one adapter; it reads in a read-only
transaction. The verdict says what ``prisma migrate status`` says and, where
Prisma is silent or wrong, what is true.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg import sql

from driftbot.engine import versions
from driftbot.engine.prisma8.model import Prisma8View
from driftbot.engine.sources import LocalMigration, Migrations
from driftbot.engine.versions import PrismaVersion
from driftbot.errors import UnsupportedPrisma

TABLE = "_prisma_migrations"
# Prisma 8 ("Prisma Next") keeps its state here instead of in _prisma_migrations.
PRISMA8_MARKER = ("prisma_contract", "marker")


@dataclass(frozen=True)
class MigrationRow:
    """One row of ``_prisma_migrations`` (one attempt at one migration)."""

    id: str
    checksum: str
    finished_at: datetime | None
    migration_name: str
    logs: str | None
    rolled_back_at: datetime | None
    started_at: datetime
    applied_steps_count: int

    @property
    def is_applied(self) -> bool:
        return self.finished_at is not None and self.rolled_back_at is None

    @property
    def is_failed(self) -> bool:
        return self.finished_at is None and self.rolled_back_at is None


@dataclass(frozen=True)
class FailedMigration:
    name: str
    logs: str | None
    started_at: datetime
    # True when the script controls its own transactions (BEGIN/COMMIT, CONCURRENTLY):
    # PostgreSQL may have kept part of it. None when the file is not found locally.
    may_be_partial: bool | None


@dataclass(frozen=True)
class ModifiedMigration:
    name: str
    applied_checksum: str
    local_checksum: str


@dataclass(frozen=True)
class ByHand:
    """A pending migration whose changes the live database already has, wholly or in part
    (decided from schemas by ``driftbot.engine.hidden``)."""

    name: str
    present: tuple[str, ...]
    missing: tuple[str, ...]
    missing_sql: str = ""
    present_objects: frozenset = field(default=frozenset(), compare=False, repr=False)
    # > 0: recorded as one of the first *prefix* migrations, whose replayed schema an unmanaged
    # database holds (driftbot.engine.prefix); its own changes may since have been undone by later ones.
    prefix: int = 0

    @property
    def whole(self) -> bool:
        return bool(self.present) and not self.missing

    @property
    def changes_no_schema(self) -> bool:
        """A data-only migration (a backfill) between migrations run by hand: it stays pending."""
        return not self.present and not self.missing

    def to_json(self) -> dict:
        return {"name": self.name, "whole": self.whole, "present": list(self.present),
                "missing": list(self.missing), "missing_sql": self.missing_sql}


@dataclass(frozen=True)
class HistoryVerdict:
    """What the migration history says, and what Prisma would say about it."""

    managed: bool
    local: tuple[str, ...]
    applied: tuple[str, ...]
    pending: tuple[str, ...] = ()
    failed: tuple[FailedMigration, ...] = ()
    rolled_back_pending: tuple[str, ...] = ()
    # Rolled-back pending migrations one of whose attempts had finished (marked by hand: Prisma's
    # `--rolled-back` refuses finished ones): Prisma then refuses `resolve --applied` too (P3008).
    finished_rolled_back: tuple[str, ...] = ()
    modified: tuple[ModifiedMigration, ...] = ()
    missing_locally: tuple[str, ...] = ()
    applied_by_hand: tuple[str, ...] = ()
    last_common_migration: str | None = None
    rows: int = 0
    # Prisma's own view, row by row as its schema engine diagnoses it: local migrations with no
    # row at all (a rolled-back or failed row counts as a row), rows whose migration is not
    # local (rolled-back rows included), and failed rows. ``prisma_status`` reads only these.
    prisma_unapplied: tuple[str, ...] = ()
    prisma_unpersisted: tuple[str, ...] = ()
    prisma_failed: tuple[str, ...] = ()
    # The same two lists as Prisma 7.9.0 and later see them: a rolled-back row counts as no row.
    prisma_unapplied_live: tuple[str, ...] = ()
    prisma_unpersisted_live: tuple[str, ...] = ()
    # The Prisma the project runs: what "Prisma would say" depends on it.
    prisma_version: PrismaVersion = versions.UNKNOWN
    # For a git source: the refs whose history holds each database-only migration
    # (empty: found nowhere; None: the source has no history to search).
    missing_locally_refs: tuple[tuple[str, tuple[str, ...] | None], ...] = ()
    # Pending migrations found in the live schema (whole ones are also in applied_by_hand).
    by_hand: tuple[ByHand, ...] = ()
    # Pending migrations that change no schema, between migrations run by hand: still pending,
    # since whether they ran cannot be seen in the schema (only in their data).
    no_schema_pending: tuple[str, ...] = ()
    # A Prisma 8 database: its marker, ledger and migration graph, and what Prisma 8's commands say.
    prisma8: Prisma8View | None = None

    @property
    def status_command(self) -> str:
        """The Prisma command whose answer ``prisma_status`` gives."""
        return "migration status" if self.prisma8 is not None else "migrate status"

    @property
    def diverged(self) -> bool:
        """Prisma's ``historiesDiverge``: each side has migrations the other lacks."""
        return bool(self.missing_locally) and bool(self.pending)

    @property
    def in_sync(self) -> bool:
        return self.managed and not (
            self.pending or self.failed or self.modified or self.missing_locally or self.applied_by_hand
            or (self.prisma8 is not None and self.prisma8.problems)
        )

    def prisma_status_for(self, rolled_back_is_unapplied: bool, limit: int | None = None) -> tuple[int, str]:
        """The exit code and headline ``prisma migrate status`` prints for this history, by the
        semantics of one side of the 7.9.0 change.

        Its CLI checks, in this order: local migrations without any row (``databaseIsBehind``,
        which hides a failed migration), both sides having migrations the other lacks
        (``historiesDiverge``), failed rows; database-only migrations alone are "up to date".
        Before 7.9.0 a rolled-back row counts as a row; from 7.9.0 on it counts as none.
        With *limit*, at most that many names are listed, then "and N more" (for a line of text;
        Prisma itself lists them all).
        """
        if rolled_back_is_unapplied:
            unapplied, unpersisted = self.prisma_unapplied_live, self.prisma_unpersisted_live
        else:
            unapplied, unpersisted = self.prisma_unapplied, self.prisma_unpersisted
        if unapplied and unpersisted:
            return 1, "Your local migration history and the migrations table from your database are different"
        if unapplied:
            return 1, f"Following {_migrations(unapplied)} have not yet been applied: {_names(unapplied, limit)}"
        if not self.managed:
            return 1, "The current database is not managed by Prisma Migrate."
        if self.prisma_failed:
            return 1, f"Following {_migrations(self.prisma_failed)} have failed: {_names(self.prisma_failed, limit)}"
        return 0, "Database schema is up to date!"

    def prisma_answers(self, limit: int | None = None) -> tuple[tuple[str, int, str], ...]:
        """What ``migrate status`` says for each range of Prisma versions that answers differently:
        ``(versions, exit code, headline)``; one entry when every version agrees."""
        if self.prisma8 is not None and self.prisma8.status is not None:
            return (("8", self.prisma8.status.exit_code, self.prisma8.status.says),)
        before, since = self.prisma_status_for(False, limit), self.prisma_status_for(True, limit)
        if before == since:
            return (("all", *before),)
        return (("< 7.9.0", *before), (">= 7.9.0", *since))

    def prisma_status(self, limit: int | None = None) -> tuple[int, str]:
        """The exit code and headline ``prisma migrate status`` prints for this history, for the
        project's Prisma version. When the version is unknown and the answers differ, the newer
        Prisma's exit code, and a headline giving both answers. *limit*: see ``prisma_status_for``.
        For Prisma 8: ``prisma migration status``'s summary line and exit code."""
        if self.prisma8 is not None and self.prisma8.status is not None:
            return self.prisma8.status.exit_code, self.prisma8.status.says
        choice = versions.rolled_back_is_unapplied(self.prisma_version)
        if choice is not None:
            return self.prisma_status_for(choice, limit)
        answers = self.prisma_answers(limit)
        if len(answers) == 1:
            return answers[0][1], answers[0][2]
        (_, old_code, old_says), (_, new_code, new_says) = answers
        return new_code, (f"{new_says} (Prisma 7.9.0 and later; before 7.9.0: \"{old_says}\", exit {old_code}; "
                          "the project's Prisma version is unknown)")

    @property
    def prisma_blind_spots(self) -> tuple[str, ...]:
        """What is wrong although ``prisma migrate status`` says "up to date" (or does not say)."""
        if self.prisma8 is not None:
            return self.prisma8.notes
        notes = []
        for m in self.modified:
            notes.append(f"{m.name} was edited after it was applied (checksum differs); Prisma status does not report it.")
        choice = versions.rolled_back_is_unapplied(self.prisma_version)
        if self.missing_locally and not self.pending:
            notes.append(
                f"The database has {len(self.missing_locally)} migration(s) the folder lacks "
                f"({', '.join(self.missing_locally)}); Prisma status says \"up to date\"."
            )
        if self.rolled_back_pending and choice is not True:
            # Prisma 7.9.0 and later list them as not yet applied; older ones say "up to date".
            when = "" if choice is False else " (Prisma before 7.9.0)"
            for name in self.rolled_back_pending:
                notes.append(f"{name} was rolled back and is pending again: `migrate deploy` will run it again{when}.")
        return tuple(notes)


def checksum_matches(migration: LocalMigration, recorded: str) -> bool:
    """Prisma's comparison of a local file with a recorded checksum: the file as it is, with CRLF
    turned into LF, or LF into CRLF (git may check a file out either way), each also in the
    unpadded hex that old schema engines wrote."""
    if migration.checksum == recorded:
        return True
    text = migration.script
    for variant in (text, text.replace("\r\n", "\n"), text.replace("\n", "\r\n")):
        digest = hashlib.sha256(variant.encode("utf-8")).digest()
        if recorded in (digest.hex(), "".join(f"{byte:x}" for byte in digest)):
            return True
    return False


def _names(names: tuple[str, ...], limit: int | None) -> str:
    if limit is None or len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"


def _migrations(names: tuple[str, ...]) -> str:
    return "migrations" if len(names) > 1 else "migration"


def _may_be_partial(script: str) -> bool:
    upper = script.upper()
    return any(word in upper for word in ("COMMIT", "CONCURRENTLY", "ALTER SYSTEM", "VACUUM"))


def classify(local: Migrations | tuple[LocalMigration, ...], rows: list[MigrationRow] | None) -> HistoryVerdict:
    """Compare the local migrations with the database's rows. Pure."""
    items = local.items if isinstance(local, Migrations) else tuple(local)
    local_names = tuple(m.name for m in items)
    if rows is None:
        return HistoryVerdict(managed=False, local=local_names, applied=(), pending=local_names, prisma_unapplied=local_names,
                              prisma_unapplied_live=local_names)
    by_name = {m.name: m for m in items}

    ordered = sorted(rows, key=lambda r: (r.started_at, r.finished_at or r.started_at))
    recorded = {r.migration_name for r in rows}
    live = {r.migration_name for r in rows if r.rolled_back_at is None}
    applied_rows: dict[str, MigrationRow] = {}
    failed_rows: dict[str, MigrationRow] = {}
    rolled_back: set[str] = set()
    for row in ordered:
        if row.is_applied:
            applied_rows[row.migration_name] = row  # the latest applied attempt wins
        elif row.is_failed:
            failed_rows.setdefault(row.migration_name, row)
        else:
            rolled_back.add(row.migration_name)

    applied = tuple(applied_rows)
    failed = tuple(
        FailedMigration(
            name=name,
            logs=row.logs,
            started_at=row.started_at,
            may_be_partial=_may_be_partial(by_name[name].script) if name in by_name else None,
        )
        for name, row in failed_rows.items()
    )
    failed_names = set(failed_rows)
    pending = tuple(n for n in local_names if n not in applied_rows and n not in failed_names)
    rolled_back_pending = tuple(n for n in pending if n in rolled_back)
    modified = tuple(
        ModifiedMigration(n, applied_rows[n].checksum, by_name[n].checksum)
        for n in local_names
        if n in applied_rows and not checksum_matches(by_name[n], applied_rows[n].checksum)
    )
    missing_locally = tuple(sorted((set(applied_rows) | failed_names) - set(by_name), key=str.encode))

    applied_sorted = sorted(set(applied_rows) | failed_names, key=str.encode)
    last_common = None
    for ours, theirs in zip(local_names, applied_sorted):
        if ours != theirs:
            break
        last_common = ours
    return HistoryVerdict(
        managed=True,
        local=local_names,
        applied=applied,
        pending=pending,
        failed=failed,
        rolled_back_pending=rolled_back_pending,
        finished_rolled_back=tuple(n for n in rolled_back_pending
                                   if any(r.migration_name == n and r.finished_at is not None for r in rows)),
        modified=modified,
        missing_locally=missing_locally,
        last_common_migration=last_common,
        rows=len(rows),
        prisma_unapplied=tuple(n for n in local_names if n not in recorded),
        prisma_unpersisted=tuple(r.migration_name for r in ordered if r.migration_name not in by_name),
        prisma_failed=tuple(r.migration_name for r in ordered if r.is_failed),
        prisma_unapplied_live=tuple(n for n in local_names if n not in live),
        prisma_unpersisted_live=tuple(r.migration_name for r in ordered
                                      if r.migration_name not in by_name and r.rolled_back_at is None),
    )


def _relation_exists(conn: psycopg.Connection, schema: str, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
        (schema, name),
    ).fetchone()
    return row is not None


def table_exists(conn: psycopg.Connection, schema: str) -> bool:
    return _relation_exists(conn, schema, TABLE)


def schema_is_empty(conn: psycopg.Connection, schema: str) -> bool:
    """Whether *schema* holds no tables, views, sequences, types or functions: a new database,
    which ``prisma migrate deploy`` fills (Prisma lists every migration as not yet applied), as
    opposed to one built without Prisma Migrate, which needs a baseline."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "  WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')) "
        "OR EXISTS (SELECT 1 FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
        "  WHERE n.nspname = %s AND t.typtype IN ('e', 'd', 'c', 'r') AND t.typrelid = 0) "
        "OR EXISTS (SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
        "  WHERE n.nspname = %s AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d "
        "    WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'))",
        (schema, schema, schema),
    ).fetchone()
    return not row[0]


def read_rows(conn: psycopg.Connection, schema: str = "public") -> list[MigrationRow] | None:
    """All rows of ``_prisma_migrations``; None when the table does not exist, and no rows when
    the schema is empty too (a new database: every migration pending, the fix is deploy).

    Runs in a read-only transaction on the caller's connection.
    """
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        if not table_exists(conn, schema):
            if _relation_exists(conn, *PRISMA8_MARKER):
                raise UnsupportedPrisma(
                    f"This database is managed by Prisma 8: its migration state is in {'.'.join(PRISMA8_MARKER)}, "
                    f"not in {TABLE}. Point this environment's `project` at the Prisma 8 project folder "
                    "(its prisma.config.ts) instead of a migrations folder."
                )
            return [] if schema_is_empty(conn, schema) else None
        query = sql.SQL(
            "SELECT id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count "
            "FROM {} ORDER BY started_at, id"
        ).format(sql.Identifier(schema, TABLE))
        return [MigrationRow(*r) for r in conn.execute(query).fetchall()]
