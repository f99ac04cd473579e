"""Pending migrations that someone already ran by hand, decided from schemas, not names.

For a pending migration M: replay the applied migrations plus M in the shadow
(``after``) and compare with the replay without it (``base``): that is what M
changes. Each of those changes is present in the live database unless the
difference between ``after`` and the live schema still concerns its object.
All present: M was applied by hand (deploy would fail with "already exists",
P3018; record it with ``resolve --applied``). Some present: partly applied by
hand; the SQL of the missing part is rendered.
"""

from __future__ import annotations

import re
from typing import Callable

from driftbot.engine import diff as d
from driftbot.engine.history import ByHand
from driftbot.engine.inspect import Snapshot
from driftbot.engine.render import render_sql
from driftbot.engine.sources import LocalMigration

MAX_CANDIDATES = 10  # pending migrations examined per check; each costs one cached replay


def objects(op: d.Operation) -> frozenset[tuple]:
    """The schema objects an operation concerns, at the finest grain (a column, an enum value).

    A created table also concerns each of its columns and its primary key, and a created
    enum each of its values, so a table that exists with other columns counts as different.
    """
    if isinstance(op, (d.CreateTable, d.DropTable)):
        t = op.table
        own = {("table", t.schema, t.name)} | {("column", t.schema, t.name, c.name) for c in t.columns}
        return frozenset(own | ({("primary_key", t.schema, t.name)} if t.primary_key else set()))
    if isinstance(op, (d.CreateEnum, d.DropEnum)):
        e = op.enum
        return frozenset({("enum", e.schema, e.name)} | {("enum_value", e.schema, e.name, v) for v in e.values})
    if isinstance(op, d.AlterEnum):
        return frozenset(("enum_value", op.after.schema, op.after.name, v) for v in op.added + op.removed)
    if isinstance(op, (d.AddColumn, d.DropColumn)):
        return frozenset({("column", op.table.schema, op.table.name, op.column.name)})
    if isinstance(op, d.AlterColumn):
        return frozenset({("column", op.table.schema, op.table.name, op.after.name)})
    if isinstance(op, (d.AddPrimaryKey, d.DropPrimaryKey)):
        return frozenset({("primary_key", op.table.schema, op.table.name)})
    if isinstance(op, (d.AddCheck, d.DropCheck)):
        return frozenset({("check", op.table.schema, op.table.name, op.check.name)})
    if isinstance(op, (d.CreateIndex, d.DropIndex, d.InvalidIndex, d.RebuildIndex)):
        return frozenset({("index", op.index.schema, op.index.name)})
    if isinstance(op, (d.AddForeignKey, d.DropForeignKey)):
        fk = op.foreign_key
        return frozenset({("foreign_key", fk.schema, fk.table, fk.name)})
    if isinstance(op, (d.CreateFunction, d.DropFunction)):
        f = op.function
        return frozenset({("function", f.schema, f.name, f.arguments)})
    if isinstance(op, (d.CreateTrigger, d.DropTrigger)):
        t = op.trigger
        return frozenset({("trigger", t.schema, t.table, t.name)})
    if isinstance(op, (d.EnableRowSecurity, d.DisableRowSecurity)):
        return frozenset({("row_security", op.row_security.schema, op.row_security.table)})
    if isinstance(op, (d.CreatePolicy, d.DropPolicy)):
        p = op.policy
        return frozenset({("policy", p.schema, p.table, p.name)})
    for attr in ("table", "enum", "view", "sequence"):
        obj = getattr(op, attr, None)
        if obj is not None:
            return frozenset({(attr, obj.schema, obj.name)})
    ext = getattr(op, "extension", None)
    return frozenset({("extension", ext.name if ext else type(op).__name__)})


def split(name: str, base: Snapshot, after: Snapshot, live: Snapshot) -> ByHand:
    """Which of the changes from *base* to *after* (one migration) the *live* schema has. Pure."""
    changes = d.diff(base, after)
    still_different = set().union(*(objects(op) for op in d.diff(after, live))) if changes else set()
    present, missing = [], []
    for op in changes:
        (missing if objects(op) & still_different else present).append(op)
    missing_objects = set().union(*(objects(op) for op in missing)) if missing else set()
    to_complete = tuple(op for op in d.diff(live, after) if objects(op) & missing_objects)
    return ByHand(
        name=name,
        present=tuple(sorted({d.describe(op) for op in present})),
        missing=tuple(sorted({d.describe(op) for op in missing})),
        missing_sql=render_sql(to_complete, live.default_schema) if to_complete else "",
        present_objects=frozenset().union(*(objects(op) for op in present)) if present else frozenset(),
    )


_QUOTED = re.compile(r'"([^"]{1,128})"')
_DDL = re.compile(r"\b(CREATE|ALTER|DROP|COMMENT|GRANT|REVOKE|SECURITY\s+LABEL)\b", re.I)


def may_change_no_schema(migration: LocalMigration) -> bool:
    """A cheap sign of a data-only migration (a backfill): no DDL keyword anywhere in the script."""
    return _DDL.search(migration.script) is None


def might_touch(migration: LocalMigration, drift: tuple[d.Operation, ...]) -> bool:
    """A cheap gate before a replay: does the script name any object the drift concerns?"""
    named = set(_QUOTED.findall(migration.script))
    for op in drift:
        for obj in objects(op):
            if any(part in named for part in obj[1:] if isinstance(part, str)):
                return True
    return False


def find_applied_by_hand(
    pending: tuple[LocalMigration, ...],
    applied: tuple[LocalMigration, ...],
    base: Snapshot,
    live: Snapshot,
    drift: tuple[d.Operation, ...],
    replay: Callable[[tuple[LocalMigration, ...]], Snapshot | None],
) -> tuple[ByHand, ...]:
    """Walk the pending migrations in order while each is found (wholly) in the live schema.

    *replay* returns the snapshot of the given migrations (cached), or None when they do
    not replay. Stops at the first migration that is not wholly present: ``migrate deploy``
    would run that one and everything after it anyway. A migration that changes no schema (a
    data backfill) cannot be seen either way: the walk goes past it, and it is returned (with
    nothing present or missing, ``changes_no_schema``) only when a migration around it was
    found run by hand: it stays pending, and whether it ran is a question for its data.
    """
    found: list[ByHand] = []
    done = applied
    candidates = pending[:MAX_CANDIDATES]
    i = 0
    while i < len(candidates):
        migration = candidates[i]
        if not drift or not (might_touch(migration, drift) or may_change_no_schema(migration)):
            break
        after = replay(done + (migration,))
        if after is None:
            break
        verdict = split(migration.name, base, after, live)
        if not verdict.present and not verdict.changes_no_schema:
            break
        if not verdict.whole and not verdict.changes_no_schema:
            # What it lacks may be what later pending migrations, run by hand too, dropped, renamed or
            # retyped: judge it at the point of the history the live schema is at, not alone.
            window = _whole_with_later(candidates[i:], done, base, after, live, replay)
            if not window:
                found.append(verdict)
                break
            found += [b for b, _ in window]
            done, base = done + candidates[i:i + len(window)], window[-1][1]
            i += len(window)
            continue
        found.append(verdict)
        done, base = done + (migration,), after
        i += 1
    while found and found[-1].changes_no_schema:
        found.pop()  # a backfill after the last migration run by hand: plainly pending
    return tuple(found) if any(b.present for b in found) else ()


def _whole_with_later(window: tuple[LocalMigration, ...], done: tuple[LocalMigration, ...], base: Snapshot,
                      first: Snapshot, live: Snapshot,
                      replay: Callable[[tuple[LocalMigration, ...]], Snapshot | None]) -> list[tuple[ByHand, Snapshot]]:
    """The shortest run of *window*'s migrations (at least two) whose changes together, from *base*, the
    live schema wholly has: each of them run by hand, with what it changes itself and its schema after
    it. Empty when there is none."""
    afters = [first]
    for j in range(1, len(window)):
        after = replay(done + window[:j + 1])
        if after is None:
            return []
        afters.append(after)
        if split(window[j].name, base, after, live).whole:
            out, before = [], base
            for migration, own in zip(window[:j + 1], afters):
                changes = d.diff(before, own)
                present = tuple(sorted({d.describe(op) for op in changes}))
                out.append((ByHand(migration.name, present, (), present_objects=frozenset().union(
                    *(objects(op) for op in changes)) if changes else frozenset()), own))
                before = own
            return out
    return []
