"""Schema drift: replayed migrations vs the live database, mapped to the runbook's cases.

``check_schema`` is the one function ``check.run_check`` calls. It replays the
migrations the database has applied (only those: Prisma's shadow does the same)
in a scratch database, introspects the target, diffs the two, and turns the
operations into findings: A (extra objects -> catch-up migration, then
``resolve --applied``), B (missing objects -> a migration that restores them,
shipped with ``migrate deploy``; never a reset), C (an enum value schema.prisma
or a migration has and the database lacks -> ``ADD VALUE`` plus a tracking
migration), E (no history, or history and schema far apart -> baseline).
"""

from __future__ import annotations

import contextvars
import dataclasses
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

from driftbot.engine import diff as d
from driftbot.engine.actions import ADD_ENUM_VALUE, RESOLVE_APPLIED
from driftbot.engine import prisma_schema
from driftbot.engine.db import Target, error_line
from driftbot.engine import hidden, phases, prefix
from driftbot.engine.findings import resolve_action
from driftbot.engine.history import ByHand, HistoryVerdict
from driftbot.engine.inspect import Snapshot, empty
from driftbot.engine.render import rebuild_index_sql, render_migration, render_sql, render_summary
from driftbot.engine.result import Action, DeployPreview, Finding, SchemaReport
from driftbot.engine.shadow import ReplayCache, ShadowUnavailable, live_schema, replayed_schema, shadow_server
from driftbot.engine.sources import LocalMigration, Migrations
from driftbot.engine.writers import render_add_enum_value
from driftbot.errors import DatabaseUnreachable, DriftbotError, InvalidName

FAR_APART_TABLES = 10  # E: drift touching at least this many tables, and more than half of them


DEFAULT_FOLDER = "prisma/migrations"  # Prisma's own default, for advice when the folder is not known


def migration_stamp(names: tuple[str, ...], now: datetime) -> str:
    """The timestamp for a proposed migration's folder name: today (UTC) at 00:00:00, moved
    past the newest local migration so it sorts last.

    Not the current second: a proposal is part of the check's fingerprint, and an approval
    binds to that fingerprint, so the same drift must yield the same names all day.
    """
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%d000000")
    newest = max((n[:14] for n in names if n[:14].isdigit() and len(n) >= 14), default="")
    if newest >= stamp:
        try:
            stamp = (datetime.strptime(newest, "%Y%m%d%H%M%S") + timedelta(seconds=1)).strftime("%Y%m%d%H%M%S")
        except ValueError:  # digits that are not a date still sort: count past them
            stamp = str(int(newest) + 1).zfill(14)
    return stamp


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()[:60] or "value"


def _shown(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _touched_tables(ops) -> set[str]:
    out = set()
    for op in ops:
        for attr in ("table", "index", "foreign_key"):
            obj = getattr(op, attr, None)
            if obj is not None:
                out.add(obj.name if attr == "table" else obj.table)
    return out


def _unseen_change(op: d.Operation) -> str:
    if isinstance(op, d.InvalidIndex):
        return f"{d.describe(op)} is invalid in the database"
    if isinstance(op, d.DisableRowSecurity):
        return f"{d.describe(op)} is off in the database"
    if isinstance(op, (d.DropFunction, d.DropTrigger, d.DropPolicy, d.DropExtension)):
        return f"{d.describe(op)} is missing from the database"
    if getattr(op, "replaces", None) is not None:
        return f"{d.describe(op)} differs from the migrations'"
    return f"{d.describe(op)} exists only in the database"


def prisma_unseen(ops: tuple[d.Operation, ...]) -> tuple[str, ...]:
    """A note when part of the drift is in objects Prisma never compares (pure)."""
    changes = sorted(_unseen_change(op) for op in ops
                     if isinstance(op, d.PRISMA_UNSEEN) and not getattr(op, "with_view", False))
    if not changes:
        return ()
    return (f"`prisma migrate dev` and `migrate diff` compare no functions, triggers, row-level security, "
            f"extensions or index validity, so they report none of this: {_shown(changes)}.",)


def _invalid_index_findings(ops, default_schema: str) -> list[Finding]:
    """B for each index the database has only as a failed concurrent build's leftover."""
    out = []
    for op in ops:
        if not isinstance(op, d.InvalidIndex):
            continue
        i = op.index
        statement = rebuild_index_sql(i, default_schema)
        unique = ", and the rows already there are not guaranteed unique" if i.unique else ""
        out.append(Finding(
            "B",
            f"Index {i.name} on {i.table} is INVALID: a CREATE INDEX CONCURRENTLY failed (or is still running); "
            f"queries do not use it, every write still maintains it{unique}.",
            "The migrations build it, so there is nothing to commit: fix what made the build fail (for a unique "
            "index, the duplicate rows), then rebuild it in the database, alone and outside a transaction.",
            Action("none", (("index", i.name),), sql=statement),
        ))
    return out


def enum_target(op: d.AlterEnum) -> tuple[str, ...]:
    """The values, in order, that both the database and the migrations have once the plan is carried
    out: the database's, with each value only the migrations have put back after the value it
    follows there (enum values are ordered, so ``ADD VALUE`` must place it)."""
    target = list(op.after.values)
    for i, value in enumerate(op.before.values):
        if value in target:
            continue
        previous = next((p for p in reversed(op.before.values[:i]) if p in target), None)
        target.insert(target.index(previous) + 1 if previous is not None else 0, value)
    return tuple(target)


_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
# ADD VALUE, RENAME VALUE and CREATE TYPE ... AS ENUM, in the order a script has them.
_ENUM_STATEMENT = re.compile(
    rf"ALTER\s+TYPE\s+(?:{_IDENT}\s*\.\s*)?(?P<add>{_IDENT})\s+ADD\s+VALUE\s+(?:IF\s+NOT\s+EXISTS\s+)?'(?P<value>(?:[^']|'')*)'"
    rf"|ALTER\s+TYPE\s+(?:{_IDENT}\s*\.\s*)?(?P<renamed>{_IDENT})\s+RENAME\s+VALUE\s+'(?P<old>(?:[^']|'')*)'\s+TO\s+"
    rf"'(?P<new>(?:[^']|'')*)'"
    rf"|CREATE\s+TYPE\s+(?:{_IDENT}\s*\.\s*)?(?P<created>{_IDENT})\s+AS\s+ENUM\s*\((?P<values>[^)]*)\)", re.IGNORECASE)


def _unquote(ident: str) -> str:
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident


def pending_enum_values(verdict: HistoryVerdict, migrations: Migrations) -> frozenset[tuple[str, str]]:
    """(enum, value) pairs the pending migrations leave (``ADD VALUE``, ``RENAME VALUE``, or a ``CREATE TYPE
    ... AS ENUM`` of the enum or of Prisma's ``<enum>_new`` when it recreates one), read in deploy's order so
    a value added then renamed counts under its last name: `migrate deploy` will make them, so they are
    B's, not an ``ADD VALUE`` by hand (pure)."""
    pending = set(verdict.pending)
    out: set[tuple[str, str]] = set()
    for m in (m for m in migrations.items if m.name in pending):  # deploy's order: a rename follows its add
        for found in _ENUM_STATEMENT.finditer(m.script):
            if found["add"]:
                out.add((_unquote(found["add"]), found["value"].replace("''", "'")))
            elif found["renamed"]:  # the new name comes with deploy, the old one goes
                enum = _unquote(found["renamed"])
                out.discard((enum, found["old"].replace("''", "'")))
                out.add((enum, found["new"].replace("''", "'")))
            else:
                enum = _unquote(found["created"])
                for value in re.findall(r"'((?:[^']|'')*)'", found["values"]):
                    out.add((enum.removesuffix("_new"), value.replace("''", "'")))
    return frozenset(out)


def _enum_findings(ops, live: Snapshot, schema_file, default_schema: str, stamps, env_name: str,
                   deployed: frozenset[tuple[str, str]] = frozenset()) -> list[Finding]:
    # (schema, enum, value) -> (where it comes from, the value it goes before or None: at the end)
    missing: dict[tuple[str, str, str], tuple[str, str | None]] = {}
    for op in ops:
        if isinstance(op, d.AlterEnum) and op.removed:
            target = enum_target(op)
            for v in (v for v in target if v in op.removed):  # in order: each goes before the next one kept
                following = next((t for t in target[target.index(v) + 1:] if t in op.after.values), None)
                missing[(op.before.schema, op.before.name, v)] = ("the migrations", following)
    if schema_file is not None:
        for e in schema_file.enums:
            live_enum = live.enum(e.schema or default_schema, e.db_name)
            if live_enum is None:
                continue
            for v in e.values:
                key = (live_enum.schema, e.db_name, v)
                if v not in live_enum.values and (e.db_name, v) not in deployed:
                    missing[key] = ("schema.prisma", missing.get(key, (None, None))[1])
    out = []
    for (schema, enum, value), (where, before) in missing.items():
        try:
            statement = render_add_enum_value(enum, value, schema, before)
        except InvalidName as exc:  # a look-alike or invisible character: reported, never offered as a fix
            out.append(Finding("C", f"Enum `{enum}` lacks a value that {where} has, which driftbot will not add.",
                               str(exc), Action("none")))
            continue
        migration = f"{next(stamps)}_add_{_slug(enum)}_{_slug(value)}"
        args = (("enum", enum), ("value", value), ("schema", schema), ("sql", statement), ("migration", migration))
        out.append(Finding(
            "C",
            f"Enum `{enum}` lacks the value `{value}` that {where} has.",
            f"Add it with `{statement}` (safe: adds, never recreates the type), commit the same statement as "
            f"migration {migration}, and record that migration with `resolve --applied`.",
            Action(ADD_ENUM_VALUE, args + ((("before", before),) if before is not None else ()), sql=statement,
                   command=f"driftbot enum {env_name} {enum} {value}" + (f" --before {before}" if before else "")),
        ))
    return out


def _stamps(stamp: str):
    """The proposed migrations' timestamps, one second apart in the plan's order (catch-up, restore,
    enum values), so the folder sorts them as the team carries them out."""
    for k in range(10_000):
        try:
            yield (datetime.strptime(stamp, "%Y%m%d%H%M%S") + timedelta(seconds=k)).strftime("%Y%m%d%H%M%S")
        except ValueError:
            yield str(int(stamp) + k).zfill(14)


def _restore_before_pending(verdict: HistoryVerdict, migrations: Migrations, missing: list) -> str | None:
    """A name for the restore that sorts after the migrations the database ran before the first pending one
    and before that pending one: `migrate deploy` runs the folder in order, so the restore then comes back
    before the pending migrations that may need what it restores. One second after the last of those
    migrations when that second is free, else that migration's own name with a suffix (bytes sort it
    right after). None (the restore goes last) when nothing is pending, when no migration the database
    ran sorts before the first pending one, or when one sorting after it names a restored object (it may
    be the one creating it: the restore must replay after it)."""
    ran = set(verdict.applied) | {f.name for f in verdict.failed}  # every migration the database ran
    pending = sorted((n for n in verdict.pending), key=str.encode)
    if not pending:
        return None
    first = pending[0].encode()
    before = [n for n in migrations.names if n in ran and n.encode() < first]
    later = [m for m in migrations.items if m.name in ran and m.name.encode() > first]
    named = {obj[2] for op in missing for obj in hidden.objects(op) if len(obj) > 2 and isinstance(obj[2], str)}
    if not before or any(set(_QUOTED.findall(m.script)) & named for m in later):
        return None
    last = max(before, key=str.encode)
    candidates = [f"{last}_restore_missing_objects"]
    try:
        stamp = (datetime.strptime(last[:14], "%Y%m%d%H%M%S") + timedelta(seconds=1)).strftime("%Y%m%d%H%M%S")
        candidates.insert(0, f"{stamp}_restore_missing_objects")
    except ValueError:
        pass
    return next((c for c in candidates if last.encode() < c.encode() < first), None)


_QUOTED = re.compile(r'"([^"]{1,128})"')


def _op_names(op: d.Operation) -> set[str]:
    """The names an operation's objects go by: their own and their table's."""
    names = {obj[2] for obj in hidden.objects(op) if len(obj) > 2 and isinstance(obj[2], str)}
    for attr in ("index", "foreign_key", "trigger", "policy"):
        table = getattr(getattr(op, attr, None), "table", None)
        if isinstance(table, str):
            names.add(table)
    return names


def _maybe_from_edit(verdict: HistoryVerdict, migrations: Migrations):
    """Which catch-up operations an edit that removed statements may explain: those on what an edited
    migration's file still names (every one when a file names nothing). False when nothing was edited."""
    edited = {m.name for m in verdict.modified}
    if not edited:
        return False
    named: set[str] = set()
    for m in migrations.items:
        if m.name in edited:
            found = set(_QUOTED.findall(m.script))
            if not found:
                return True
            named |= found
    return lambda op: bool(_op_names(op) & named)


def catch_up_operations(ops: tuple[d.Operation, ...]) -> tuple[d.Operation, ...]:
    """What the database has beyond the migrations (case A): every change but the removals of objects
    the database lacks (case B restores them), the enum values it lacks (case C adds them) and index
    validity (fixed in the database). A changed object (dropped and created again) stays whole."""
    created = frozenset().union(*(hidden.objects(op) for op in ops if isinstance(op, d.ADDITIONS)))
    out = []
    for op in ops:
        if isinstance(op, d.VALIDITY):
            continue
        if isinstance(op, d.REMOVALS) and not (hidden.objects(op) & created):
            continue
        if isinstance(op, d.AlterEnum) and op.removed:
            if not op.added:
                continue
            op = d.AlterEnum(op.before, dataclasses.replace(op.after, values=enum_target(op)), op.added, (), op.usages)
        out.append(op)
    return tuple(out)


def _baseline(live: Snapshot, why: str, folder: str = DEFAULT_FOLDER) -> Finding:
    sql = render_migration(d.diff(empty(live.schemas, live.default_schema), live), live.default_schema)
    return Finding(
        "E",
        why,
        f"Take a backup first. Commit this baseline as {folder}/0_baseline/migration.sql (generated from "
        "the live schema), then record it with `resolve --applied 0_baseline`.",
        Action("baseline", (("migration", "0_baseline"),), sql=sql, command="prisma migrate resolve --applied 0_baseline"),
    )


def schema_findings(verdict: HistoryVerdict, migrations: Migrations, replayed: Snapshot, live: Snapshot,
                    ops: tuple[d.Operation, ...], schema_file, now: datetime, env_name: str = "ENV",
                    by_hand: tuple[ByHand, ...] = (), folder: str = DEFAULT_FOLDER,
                    pending_objects: frozenset = frozenset()) -> list[Finding]:
    """Findings for a diff (pure). Changes that a pending migration run by hand explains
    (*by_hand*) are left to that migration's own finding, not to a catch-up migration; so are changes to
    objects the pending migrations create or change (*pending_objects*): a catch-up or restore sorts
    after those migrations and would make them twice (the deploy preview says where deploy fails).
    *folder* is the migrations folder as the team names it, for the advice."""
    if not verdict.managed:
        return [_baseline(live, "The database is not managed by Prisma Migrate (no `_prisma_migrations` table).", folder)]
    out: list[Finding] = []
    stamps = _stamps(migration_stamp(migrations.names + verdict.applied, now))
    explained = frozenset().union(*(b.present_objects for b in by_hand)) if by_hand else frozenset()
    ops = tuple(op for op in ops if not (hidden.objects(op) & (explained | pending_objects)))
    edited = (f" Note: {', '.join(m.name for m in verdict.modified)} was edited after it was applied and the replay "
              "uses the edited file, so part of this difference may come from that edit." if verdict.modified else "")
    # An edit that removed statements reads as objects only the database has; restoring the file brings
    # them back, so the catch-up must then do nothing for them (as the restore does for the other way).
    from_edit = _maybe_from_edit(verdict, migrations)
    kept_edit = (" Its statements on what the edited file names do nothing where their object exists: once "
                 "the file is restored, what the edit had removed is the file's again." if verdict.modified else "")
    catch_up = catch_up_operations(ops)
    extra = [op for op in catch_up if not isinstance(op, d.REMOVALS)]
    kept = set(catch_up)
    missing = [op for op in ops if isinstance(op, d.REMOVALS) and op not in kept]
    if verdict.missing_locally:
        # The replay lacks the database-only migrations, so what they made reads as extra: a catch-up
        # would make it twice once their branch is merged. The history finding says: merge, check again.
        extra, missing = [], []
    if extra:
        name = f"{next(stamps)}_sync_schema_drift"
        objects = sorted({d.describe(op) for op in extra if not getattr(op, "with_view", False)})
        out.append(Finding(
            "A",
            f"The database has {len(objects)} object(s) or change(s) that no applied migration makes: {_shown(objects)}.",
            f"Commit the catch-up SQL as {folder}/{name}/migration.sql, then record it as applied "
            f"(its changes are already in the database).{edited}{kept_edit}",
            Action("catch_up_migration", (("migration", name),),
                   sql=render_migration(catch_up, live.default_schema, if_missing=from_edit),
                   command=f"save the SQL as {folder}/{name}/migration.sql"),
        ))
        out.append(Finding("A", f"Once {name} is committed, record it as applied.", "", resolve_action(RESOLVE_APPLIED, name)))
    if missing:
        # what the migrations have and the database lacks: exactly the missing objects (not those
        # both have in other versions, which are the catch-up's under A, nor ignored ones)
        lacking = frozenset().union(*(hidden.objects(op) for op in missing))
        restore = tuple(op for op in d.diff(live, replayed)
                        if isinstance(op, d.ADDITIONS) and getattr(op, "replaces", None) is None
                        and hidden.objects(op) & lacking)
        objects = sorted({d.describe(op) for op in missing})
        name = _restore_before_pending(verdict, migrations, missing) or f"{next(stamps)}_restore_missing_objects"
        out.append(Finding(
            "B",
            f"The database lacks {len(objects)} object(s) that applied migrations create: {_shown(objects)}.",
            f"Restore them with a new migration ({name}) holding this SQL, shipped with `prisma migrate deploy` "
            f"from CI/CD (each statement does nothing where its object exists, so the migration also replays "
            f"after the ones that create them). Never reset a shared database.{edited}",
            Action("deploy", (("migration", name),), sql=render_migration(restore, live.default_schema, if_missing=True),
                   command="prisma migrate deploy"),
        ))
    out += _invalid_index_findings(ops, live.default_schema)
    out += _enum_findings(ops, live, schema_file, live.default_schema, stamps, env_name,
                          pending_enum_values(verdict, migrations))
    if far_apart(ops, live):
        touched = _touched_tables(ops)
        out.append(_baseline(live, f"History and schema are far apart ({len(touched)} of {len(live.tables)} tables differ).",
                             folder))
    return out


def far_apart(ops: tuple[d.Operation, ...], live: Snapshot) -> bool:
    """Drift touching at least FAR_APART_TABLES tables, and more than half of the live ones (pure)."""
    touched = _touched_tables(ops)
    return len(touched) >= FAR_APART_TABLES and len(touched) * 2 > max(len(live.tables), 1)


def prefix_records(first: tuple[LocalMigration, ...]) -> tuple[ByHand, ...]:
    """The migrations of a matched prefix, each recorded as run (pure). Those at its end that change no
    schema (no DDL: a backfill) stay pending, as after migrations run by hand: whether they ran cannot
    be seen, and `migrate deploy` runs them after the prefix, where they belong."""
    k = len(first)
    while k and hidden.may_change_no_schema(first[k - 1]):
        k -= 1
    said = (f"the schema of the first {k} migrations",)
    return tuple(ByHand(m.name, said, (), prefix=k) for m in first[:k])


def _matched_prefix(migrations: Migrations, live: Snapshot, conn: psycopg.Connection, server, replay, ignore,
                    cache: ReplayCache, cache_dir: Path, timeout: int):
    """The prefix of the history an unmanaged database holds (``driftbot.engine.prefix``): exactly, or with
    drift of its own that is not far apart from it; None when no prefix comes close (a baseline then)."""
    try:
        found = prefix.find(migrations.items, live, prefix.signature(conn, live.schemas, live.default_schema), server,
                            replay, ignore, cache_dir, cache, timeout)
    except (ShadowUnavailable, DatabaseUnreachable):
        return None  # the baseline stays the advice; the schema check itself already replayed nothing
    if found is None or not found.k or (not found.exact and far_apart(found.ops, live)):
        return None
    return found


def _pending_objects(verdict: HistoryVerdict, migrations: Migrations, by_hand: tuple[ByHand, ...], base: Snapshot,
                     drift: tuple[d.Operation, ...], replay) -> frozenset:
    """The objects the pending migrations (not those run by hand) create or change: one cached replay of
    the applied and pending migrations, compared with *base*. Empty when nothing is pending, there is no
    drift, or they do not replay."""
    recorded = {b.name for b in by_hand if b.whole}
    if not drift or not [n for n in verdict.pending if n not in recorded]:
        return frozenset()
    ran = set(verdict.applied) | set(verdict.pending)
    try:
        full = replay(tuple(m for m in migrations.items if m.name in ran)).snapshot
    except (ShadowUnavailable, DatabaseUnreachable):
        return frozenset()
    if full is None:
        return frozenset()
    return frozenset().union(*(hidden.objects(op) for op in d.diff(base, full)))


@dataclass(frozen=True)
class SchemaOutcome:
    """What the schema check adds to a result: the report, its findings, the pending
    migrations found run by hand, and the deploy preview."""

    report: SchemaReport
    findings: tuple[Finding, ...] = ()
    by_hand: tuple[ByHand, ...] = ()
    preview: DeployPreview | None = None
    unreplayable: bool = False  # the history itself cannot be replayed: a problem found, not a skipped check


def check_schema(settings, env, migrations: Migrations, verdict: HistoryVerdict, conn: psycopg.Connection,
                 target: Target, now: datetime | None = None, folder: str = DEFAULT_FOLDER) -> SchemaOutcome:
    """Replay, introspect, diff and map to findings. ``SchemaReport(checked=False, reason)`` when the
    schema cannot be checked (no usable shadow server, a migration that does not replay)."""
    now = now or datetime.now(timezone.utc)
    schema_file = prisma_schema.load(env.schema_path) if env.schema_path else None
    scopes = (target.schema, *(schema_file.schemas if schema_file else ()))
    applied = set(verdict.applied) if verdict.managed else set()
    to_replay = tuple(m for m in migrations.items if m.name in applied)
    cache = ReplayCache(Path(settings.cache_dir))
    if verdict.pending or verdict.applied_by_hand:  # the deploy preview runs (below): the one place it is imported
        from driftbot.engine import preview  # a deliberate start-up saving: an in-sync status never imports the preview

    def server() -> str:
        return shadow_server(env.shadow_url, env.database_url, settings.connect_timeout_s)

    def replay(chosen: tuple[LocalMigration, ...]):
        return replayed_schema(server, chosen, scopes, target.schema, cache, settings.connect_timeout_s)

    # The target is read (the check's connection, in a thread) while the shadow replays: the two wait on
    # different servers, so a check after a change costs the longer of them, not their sum.
    with ThreadPoolExecutor(1, thread_name_prefix="driftbot-live") as pool:
        reading = pool.submit(contextvars.copy_context().run, live_schema, conn, tuple(dict.fromkeys(scopes)), target.schema,
                              Path(settings.cache_dir))  # in this context: housekeeping deferred here is deferred there
        if to_replay:
            try:
                result = replay(to_replay)
            except ShadowUnavailable as exc:
                return SchemaOutcome(SchemaReport(checked=False, reason=str(exc)))
            except DatabaseUnreachable as exc:
                return SchemaOutcome(SchemaReport(checked=False, reason=f"the shadow server is unavailable: {exc}"))
            if result.error is not None and result.error.missing_extension:
                e = result.error
                reason = (f"the shadow server lacks extension {e.missing_extension}, which migration {e.migration} needs; "
                          "install it there or set shadow_url to a server that has it")
                return SchemaOutcome(SchemaReport(checked=False, reason=reason))
            if result.error is not None and result.error.missing_role:
                e = result.error
                reason = (f"the shadow server lacks role {e.missing_role}, which migration {e.migration} uses; roles "
                          "belong to a server, not a database: create it there (CREATE ROLE ... NOLOGIN is enough) or "
                          "set shadow_url to a server that has it")
                return SchemaOutcome(SchemaReport(checked=False, reason=reason))
            if result.error is not None:
                e = result.error
                statement = e.statement
                where = f" Failing statement: {statement}" if statement else ""
                unreplayable = Finding(
                    "history",
                    f"Migration {e.migration} cannot be replayed on an empty database: {e.message.splitlines()[0]}",
                    f"The history cannot be replayed (as Prisma's shadow database would).{where}",
                )
                reason = f"migration {e.migration} cannot be replayed: {e.message.splitlines()[0]}"
                return SchemaOutcome(SchemaReport(checked=False, reason=reason), (unreplayable,), unreplayable=True)
            replayed = result.snapshot
        else:
            replayed = empty(tuple(dict.fromkeys(scopes)), target.schema)
        try:
            live = reading.result()
            inexpressible: tuple[str, ...] = ()
            extensions: frozenset[str] = frozenset()
            if verdict.pending:
                inexpressible = preview.inexpressible_objects(conn, scopes)
                extensions = preview.available_extensions(conn)
        except psycopg.OperationalError as exc:
            raise DatabaseUnreachable(f"The target database connection was lost during the check: {error_line(exc) if str(exc).strip() else 'closed'}") from None
        except psycopg.Error as exc:
            raise DriftbotError(f"Reading the target's schema failed: {exc.diag.message_primary or exc}") from None
    with phases.phase("diff"):
        raw_ops = d.diff(replayed, live)
        ops = d.without_ignored(raw_ops, env.ignore)
    by_hand: tuple[ByHand, ...] = ()
    match = None
    if not verdict.managed and live.tables and migrations.items:
        # A database without Prisma's table may hold the schema of the history's first migrations (deployed,
        # then the table lost; or run by hand): that prefix is recorded with `resolve --applied`.
        match = _matched_prefix(migrations, live, conn, server, lambda c: replay(c).snapshot, env.ignore, cache,
                                Path(settings.cache_dir), settings.connect_timeout_s)
        if match is not None:
            by_hand, ops = prefix_records(migrations.items[:match.k]), match.ops
    elif verdict.pending and ops and not verdict.failed and verdict.managed:
        pending = tuple(m for m in migrations.items if m.name in set(verdict.pending))
        try:
            by_hand = hidden.find_applied_by_hand(pending, to_replay, replayed, live, ops, lambda c: replay(c).snapshot)
        except (ShadowUnavailable, DatabaseUnreachable):
            by_hand = ()  # the main replay worked; a lost shadow only costs this refinement
    base, base_ops, partial = replayed, ops, tuple(b for b in by_hand if not b.whole and not b.changes_no_schema)
    if match is not None and by_hand:
        base = match.snapshot
    elif any(b.whole for b in by_hand):
        # Once the migrations run by hand are resolved, the migrations build them: compare with that
        # (a column added by hand to a table such a migration created is then drift of its own).
        recorded = {b.name for b in by_hand if b.whole or b.changes_no_schema}
        try:
            done = replay(tuple(m for m in migrations.items if m.name in applied or m.name in recorded)).snapshot
        except (ShadowUnavailable, DatabaseUnreachable):
            done = None
        if done is not None:
            base, base_ops = done, d.without_ignored(d.diff(done, live), env.ignore)
    if not verdict.managed and any(b.whole for b in by_hand):  # no baseline: those migrations are recorded
        verdict = dataclasses.replace(verdict, managed=True)  # (the first `resolve --applied` creates the table)
    findings = schema_findings(verdict, migrations, base, live, base_ops, schema_file, now, env.name, partial, folder,
                               _pending_objects(verdict, migrations, by_hand, base, base_ops, replay))
    report = SchemaReport(
        checked=True,
        summary=render_summary(ops),
        sql=render_sql(ops, target.schema) if ops else "",
        prisma_blind_spots=prisma_unseen(ops),
        explained_by_hand=tuple((b.name, b.present) for b in by_hand if b.present and not b.prefix),
    )
    deploy = None  # what deploy_preview says when migrate deploy has nothing to try
    if verdict.pending or verdict.applied_by_hand:
        planned = verdict
        if match is not None and by_hand:  # the prefix is recorded, not deployed: preview the rest
            recorded = {b.name for b in by_hand}
            planned = dataclasses.replace(verdict, pending=tuple(n for n in verdict.pending if n not in recorded))
        # With no drift at all, the replay the check just made (kept as a template) is the live schema.
        same = to_replay if to_replay and not raw_ops and not by_hand and verdict.managed else ()
        deploy = preview.deploy_preview(planned, migrations, live, server, inexpressible, settings.connect_timeout_s,
                                        extensions, Path(settings.cache_dir), preview.rows_reader(conn, live), same)
    return SchemaOutcome(report, tuple(findings), by_hand, deploy)
