"""Snapshot x snapshot -> operations: what takes *before* (the replayed migrations)
to *after* (the live database). Pure; never talks to a database.

Operations are plain data, rendered elsewhere into SQL, Prisma's summary lines,
or a Slack message (as alembic's autogenerate and migra do).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from driftbot.vocabulary import IGNORABLE  # noqa: F401 - the ignore patterns' kinds, shared with the settings
from driftbot.engine.inspect.model import (
    Check, Column, Enum, Extension, ForeignKey, Function, Index, Policy, PrimaryKey, RowSecurity, Sequence, Snapshot,
    Table, Trigger, View,
)


@dataclass(frozen=True)
class CreateExtension:
    extension: Extension


@dataclass(frozen=True)
class DropExtension:
    extension: Extension


@dataclass(frozen=True)
class CreateEnum:
    enum: Enum


@dataclass(frozen=True)
class DropEnum:
    enum: Enum


@dataclass(frozen=True)
class AlterEnum:
    """Values added and removed. Removing a value needs the type recreated, so the
    columns using it (in *after*) are carried along for the renderer."""

    before: Enum
    after: Enum
    added: tuple[str, ...]
    removed: tuple[str, ...]
    usages: tuple[tuple[Table, Column], ...] = ()  # columns of this type in *before*: they move to the new type

    @property
    def reordered(self) -> bool:
        kept = [v for v in self.before.values if v not in self.removed]
        return kept != [v for v in self.after.values if v not in self.added]


@dataclass(frozen=True)
class CreateTable:
    table: Table


@dataclass(frozen=True)
class DropTable:
    table: Table


@dataclass(frozen=True)
class AddColumn:
    table: Table
    column: Column


@dataclass(frozen=True)
class DropColumn:
    table: Table
    column: Column


@dataclass(frozen=True)
class AlterColumn:
    table: Table
    before: Column
    after: Column

    @property
    def changes(self) -> tuple[str, ...]:
        """Which of Prisma's column changes: arity, default, type, autoincrement."""
        out = []
        if self.before.not_null != self.after.not_null:
            out.append("arity")
        if self.before.default != self.after.default or self.before.generated != self.after.generated:
            out.append("default")
        if self.before.type != self.after.type:
            out.append("type")
        if self.before.serial != self.after.serial or self.before.identity != self.after.identity:
            out.append("autoincrement")
        return tuple(out)


@dataclass(frozen=True)
class DropPrimaryKey:
    table: Table
    primary_key: PrimaryKey


@dataclass(frozen=True)
class AddPrimaryKey:
    table: Table
    primary_key: PrimaryKey


@dataclass(frozen=True)
class CreateIndex:
    index: Index
    new_table: bool = False  # on a table this migration creates: no lock worth warning about


@dataclass(frozen=True)
class DropIndex:
    index: Index


@dataclass(frozen=True)
class AddForeignKey:
    foreign_key: ForeignKey


@dataclass(frozen=True)
class DropForeignKey:
    foreign_key: ForeignKey


@dataclass(frozen=True)
class AddCheck:
    table: Table
    check: Check
    new_table: bool = False  # a check of a created table (CREATE TABLE renders columns and key only)


@dataclass(frozen=True)
class DropCheck:
    table: Table
    check: Check


@dataclass(frozen=True)
class CreateSequence:
    sequence: Sequence


@dataclass(frozen=True)
class DropSequence:
    sequence: Sequence


@dataclass(frozen=True)
class CreateView:
    view: View


@dataclass(frozen=True)
class DropView:
    view: View


@dataclass(frozen=True)
class CreateFunction:
    """A function *after* has; ``replaces``: the one *before* had under the same signature, if any
    (rendered as ``CREATE OR REPLACE``, after a drop when the result type or kind changed)."""

    function: Function
    replaces: Function | None = None


@dataclass(frozen=True)
class DropFunction:
    function: Function


@dataclass(frozen=True)
class CreateTrigger:
    """A trigger *after* has; ``replaces``: the one of the same name *before* had (dropped first)."""

    trigger: Trigger
    replaces: Trigger | None = None
    view_rebuilt: bool = False  # its view is dropped and created again, which took the old trigger with it

    @property
    def with_view(self) -> bool:
        """Unchanged itself: created again only because its view is rebuilt."""
        return self.view_rebuilt and self.replaces == self.trigger


@dataclass(frozen=True)
class DropTrigger:
    trigger: Trigger


@dataclass(frozen=True)
class EnableRowSecurity:
    """Row-level security switched on (or forced) on a table; ``replaces``: its switches *before*."""

    row_security: RowSecurity
    replaces: RowSecurity | None = None


@dataclass(frozen=True)
class DisableRowSecurity:
    row_security: RowSecurity


@dataclass(frozen=True)
class CreatePolicy:
    policy: Policy
    replaces: Policy | None = None  # dropped first: ALTER POLICY cannot change the command or kind


@dataclass(frozen=True)
class DropPolicy:
    policy: Policy


@dataclass(frozen=True)
class InvalidIndex:
    """An index the migrations build that the database has only as an invalid leftover of a failed
    ``CREATE INDEX CONCURRENTLY``: nothing to commit, something to rebuild (``RebuildIndex``)."""

    index: Index


@dataclass(frozen=True)
class RebuildIndex:
    index: Index


Operation = (
    CreateExtension | DropExtension | CreateEnum | DropEnum | AlterEnum | CreateTable | DropTable | AddColumn
    | DropColumn | AlterColumn | DropPrimaryKey | AddPrimaryKey | CreateIndex | DropIndex | AddForeignKey
    | DropForeignKey | AddCheck | DropCheck | CreateSequence | DropSequence | CreateView | DropView
    | CreateFunction | DropFunction | CreateTrigger | DropTrigger | EnableRowSecurity | DisableRowSecurity
    | CreatePolicy | DropPolicy | InvalidIndex | RebuildIndex
)


def _by_key(items) -> dict:
    return {i.key: i for i in items}


def _pair(before, after):
    """(removed, added, changed pairs) of two keyed collections, in key order."""
    b, a = _by_key(before), _by_key(after)
    removed = [b[k] for k in sorted(b.keys() - a.keys())]
    added = [a[k] for k in sorted(a.keys() - b.keys())]
    changed = [(b[k], a[k]) for k in sorted(b.keys() & a.keys()) if b[k] != a[k]]
    return removed, added, changed


def _enum_usages(snapshot: Snapshot, enum: Enum) -> tuple[tuple[Table, Column], ...]:
    names = {f'"{enum.name}"', enum.name, f'"{enum.name}"[]', f"{enum.name}[]"}
    return tuple(
        (t, c) for t in snapshot.tables for c in t.columns
        if c.is_enum and (c.type in names or c.type.endswith(f".{enum.name}") or c.type.endswith(f'."{enum.name}"'))
    )


def _table_ops(before: Table, after: Table) -> list[Operation]:
    ops: list[Operation] = []
    if before.primary_key != after.primary_key and before.primary_key is not None:
        ops.append(DropPrimaryKey(before, before.primary_key))
    b_cols = {c.name: c for c in before.columns}
    a_cols = {c.name: c for c in after.columns}
    ops += [DropColumn(before, c) for c in before.ordered_columns() if c.name not in a_cols]
    ops += [AddColumn(after, c) for c in after.ordered_columns() if c.name not in b_cols]
    ops += [AlterColumn(after, b_cols[c.name], c) for c in after.ordered_columns() if c.name in b_cols and b_cols[c.name] != c]
    if before.primary_key != after.primary_key and after.primary_key is not None:
        ops.append(AddPrimaryKey(after, after.primary_key))
    b_checks, a_checks = {c.name: c for c in before.checks}, {c.name: c for c in after.checks}
    ops += [DropCheck(before, c) for n, c in b_checks.items() if a_checks.get(n) != c]
    ops += [AddCheck(after, c) for n, c in a_checks.items() if b_checks.get(n) != c]
    return ops


def diff(before: Snapshot, after: Snapshot) -> tuple[Operation, ...]:
    """The operations that turn *before* into *after*, grouped by kind (the renderers order them)."""
    ops: list[Operation] = []
    removed, added, _ = _pair(before.extensions, after.extensions)
    ops += [DropExtension(e) for e in removed] + [CreateExtension(e) for e in added]

    removed, added, changed = _pair(before.enums, after.enums)
    ops += [CreateEnum(e) for e in added] + [DropEnum(e) for e in removed]
    for b, a in changed:
        ops.append(AlterEnum(b, a, tuple(v for v in a.values if v not in b.values),
                             tuple(v for v in b.values if v not in a.values), _enum_usages(before, b)))

    removed, added, changed = _pair(before.tables, after.tables)
    ops += [DropTable(t) for t in removed] + [CreateTable(t) for t in added]
    ops += [AddCheck(t, c, new_table=True) for t in added for c in t.checks]
    for b, a in changed:
        ops += _table_ops(b, a)
    new_tables = {t.key for t in added}

    removed, added, changed = _pair(before.indexes, after.indexes)
    ops += [DropIndex(i) for i in removed] + [DropIndex(b) for b, _ in changed]
    ops += [CreateIndex(i, (i.schema, i.table) in new_tables) for i in added]
    ops += [CreateIndex(a, (a.schema, a.table) in new_tables) for _, a in changed]
    kept = _by_key(after.indexes)
    for b in before.indexes:
        a = kept.get(b.key)
        if a is not None and a == b and b.valid != a.valid:
            ops.append(InvalidIndex(a) if b.valid else RebuildIndex(a))

    removed, added, changed = _pair(before.foreign_keys, after.foreign_keys)
    ops += [DropForeignKey(f) for f in removed] + [DropForeignKey(b) for b, _ in changed]
    ops += [AddForeignKey(f) for f in added] + [AddForeignKey(a) for _, a in changed]

    removed, added, changed = _pair(before.sequences, after.sequences)
    ops += [DropSequence(s) for s in removed] + [DropSequence(b) for b, _ in changed]
    ops += [CreateSequence(s) for s in added] + [CreateSequence(a) for _, a in changed]

    removed, added, changed = _pair(before.views, after.views)
    ops += [DropView(v) for v in removed] + [DropView(b) for b, _ in changed]
    ops += [CreateView(v) for v in added] + [CreateView(a) for _, a in changed]
    rebuilt_views = {a.key for _, a in changed}

    # Objects Prisma does not manage, each replaced whole when it changed.
    for attr, create, drop in (("functions", CreateFunction, DropFunction), ("triggers", CreateTrigger, DropTrigger),
                               ("row_security", EnableRowSecurity, DisableRowSecurity),
                               ("policies", CreatePolicy, DropPolicy)):
        removed, added, changed = _pair(getattr(before, attr), getattr(after, attr))
        ops += [drop(x) for x in removed] + [create(x) for x in added] + [create(a, replaces=b) for b, a in changed]
    if rebuilt_views:  # DROP VIEW took the view's triggers with it: create each one *after* has afresh
        on_rebuilt = [t for t in after.triggers if (t.schema, t.table) in rebuilt_views]
        ops = [op for op in ops if not (isinstance(op, CreateTrigger) and op.trigger in on_rebuilt)]
        was = _by_key(before.triggers)
        ops += [CreateTrigger(t, replaces=was.get(t.key), view_rebuilt=True) for t in on_rebuilt]
    return tuple(ops)


ADDITIONS = (CreateExtension, CreateEnum, CreateTable, AddColumn, AddPrimaryKey, CreateIndex, AddForeignKey,
             AddCheck, CreateSequence, CreateView, CreateFunction, CreateTrigger, EnableRowSecurity, CreatePolicy)
REMOVALS = (DropExtension, DropEnum, DropTable, DropColumn, DropPrimaryKey, DropIndex, DropForeignKey,
            DropCheck, DropSequence, DropView, DropFunction, DropTrigger, DisableRowSecurity, DropPolicy)
# Neither: an index both have, valid on one side only. Fixed in the database, never by a migration.
VALIDITY = (InvalidIndex, RebuildIndex)
# Objects Prisma's migrate diff and migrate dev never compare: drift in them is drift Prisma cannot see.
# Extensions too: checked with the real CLI, `migrate dev` reports none added or removed in the database.
PRISMA_UNSEEN = (CreateFunction, DropFunction, CreateTrigger, DropTrigger, EnableRowSecurity, DisableRowSecurity,
                 CreatePolicy, DropPolicy, InvalidIndex, RebuildIndex, CreateExtension, DropExtension)


def describe(op: Operation) -> str:
    """A short human name of the object an operation concerns (for findings)."""
    if isinstance(op, (AddColumn, DropColumn)):
        return f"{op.table.name}.{op.column.name}"
    if isinstance(op, AlterColumn):
        return f"{op.table.name}.{op.after.name}"
    if isinstance(op, AlterEnum):
        return op.after.name
    if isinstance(op, (CreateFunction, DropFunction)):
        return f"function {op.function.signature}"
    if isinstance(op, (CreateTrigger, DropTrigger)):
        return f"trigger {op.trigger.name} on {op.trigger.table}"
    if isinstance(op, (EnableRowSecurity, DisableRowSecurity)):
        return f"row-level security on {op.row_security.table}"
    if isinstance(op, (InvalidIndex, RebuildIndex)):
        return f"index {op.index.name} on {op.index.table}"
    if isinstance(op, (CreateExtension, DropExtension)):
        return f"extension {op.extension.name}"
    if isinstance(op, (CreatePolicy, DropPolicy)):
        return f"policy {op.policy.name} on {op.policy.table}"
    for attr in ("table", "enum", "index", "foreign_key", "view", "sequence", "extension"):
        obj = getattr(op, attr, None)
        if obj is not None:
            return obj.name
    return type(op).__name__




def subject(op: Operation) -> tuple[str, str, str | None]:
    """(kind, name, table) of the object an operation concerns, as ``ignore`` patterns match it:
    a column is ``Table.column``; *table* is the table it belongs to, when it belongs to one."""
    if isinstance(op, (AddColumn, DropColumn)):
        return "column", f"{op.table.name}.{op.column.name}", op.table.name
    if isinstance(op, AlterColumn):
        return "column", f"{op.table.name}.{op.after.name}", op.table.name
    if isinstance(op, (AddPrimaryKey, DropPrimaryKey)):
        return "table", op.table.name, op.table.name
    if isinstance(op, (AddCheck, DropCheck)):
        return "check", op.check.name, op.table.name
    if isinstance(op, AlterEnum):
        return "enum", op.after.name, None
    if isinstance(op, (CreateFunction, DropFunction)):
        return "function", op.function.name, None
    if isinstance(op, (CreateTrigger, DropTrigger)):
        return "trigger", op.trigger.name, op.trigger.table
    if isinstance(op, (CreatePolicy, DropPolicy)):
        return "policy", op.policy.name, op.policy.table
    if isinstance(op, (EnableRowSecurity, DisableRowSecurity)):
        return "row_security", op.row_security.table, op.row_security.table
    if isinstance(op, (CreateIndex, DropIndex, InvalidIndex, RebuildIndex)):
        return "index", op.index.name, op.index.table
    if isinstance(op, (AddForeignKey, DropForeignKey)):
        return "foreign_key", op.foreign_key.name, op.foreign_key.table
    for attr in ("table", "enum", "view", "sequence", "extension"):
        obj = getattr(op, attr, None)
        if obj is not None:
            return attr, obj.name, obj.name if attr == "table" else None
    return type(op).__name__, "", None


def without_ignored(ops: tuple[Operation, ...], patterns: tuple[str, ...] | list[str]) -> tuple[Operation, ...]:
    """*ops* less those an ``ignore`` pattern (``kind:glob``, e.g. ``extension:pg_stat_statements``,
    ``trigger:*_audit``, ``table:tmp_*``) matches. A ``table:`` pattern also covers the table's columns,
    indexes, keys, checks, triggers and policies. Pure."""
    if not patterns:
        return ops
    rules = [tuple(p.split(":", 1)) for p in patterns]

    def ignored(op: Operation) -> bool:
        kind, name, table = subject(op)
        return any((k == kind and fnmatchcase(name, glob)) or (k == "table" and table is not None
                                                                  and fnmatchcase(table, glob))
                   for k, glob in rules)

    return tuple(op for op in ops if not ignored(op))
