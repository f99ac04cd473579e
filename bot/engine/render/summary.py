"""Steps -> Prisma's drift summary lines, as ``prisma migrate dev`` prints them.

Prisma sorts drift items by (kind of block, object name, step order), prints a
block header whenever the (kind, name) pair changes, and a blank line before
each header. The wording, including its quirks, follows prisma-engines'
``SqlMigration::drift_summary``. Objects Prisma does not manage (check
constraints, sequences, views it did not create, functions, triggers,
row-level security, policies) get lines
in the same style, in blocks after Prisma's.
"""

from __future__ import annotations

import re
from functools import singledispatch

from driftbot.engine import diff as d
from driftbot.engine.inspect.model import Column
from driftbot.engine.render.steps import plan

# Prisma's DriftType order; the last three are driftbot's own, after Prisma's blocks.
_ADDED_EXT, _REMOVED_EXT, _ADDED_ENUM, _ADDED_TABLE, _REMOVED_ENUM, _REMOVED_TABLE = 1, 2, 3, 4, 5, 6
_REMOVED_VIEW, _CHANGED_ENUM, _CHANGED_TABLE, _ADDED_OTHER, _REMOVED_OTHER, _CHANGED_OTHER = 8, 10, 11, 12, 13, 14
_INVALID = 15


_TRIGGER_STATES = {"O": "enabled", "D": "disabled", "R": "enabled on replicas only", "A": "enabled always"}


def _unmanaged(op) -> tuple[str, str]:
    """(block, item) of a function, trigger or policy operation."""
    if isinstance(op, (d.CreateFunction, d.DropFunction)):
        return "functions", op.function.signature
    if isinstance(op, (d.CreateTrigger, d.DropTrigger)):
        return "triggers", f"{op.trigger.name} on {op.trigger.table}"
    return "policies", f"{op.policy.name} on {op.policy.table}"


def _arity(c: Column) -> str:
    return "List" if c.type.endswith("[]") else ("Required" if c.not_null else "Nullable")


def _default_kind(c: Column) -> str:
    """Prisma's Debug rendering of a column default (best effort)."""
    if c.serial:
        return "Some(Sequence(\"\"))"
    if c.default is None:
        return "None"
    v = c.default
    if v.upper() in ("CURRENT_TIMESTAMP", "NOW()"):
        return "Some(Now)"
    if re.fullmatch(r"-?\d+", v):
        return f"Some(Value(Int({v})))"
    if re.fullmatch(r"-?\d+\.\d+", v):
        return f"Some(Value(Float({v})))"
    if v in ("true", "false"):
        return f"Some(Value(Boolean({v})))"
    m = re.fullmatch(r"'((?:[^']|'')*)'(?:::.*)?", v)
    if m:
        kind = "Enum" if c.is_enum else "String"
        return f'Some(Value({kind}("{m[1].replace(chr(39) * 2, chr(39))}")))'
    return f'Some(DbGenerated(Some("{v}")))'


def _column_change(op: d.AlterColumn) -> str:
    parts = []
    for change in op.changes:
        if change == "arity":
            parts.append(f"changed from {_arity(op.before)} to {_arity(op.after)}")
        elif change == "default":
            parts.append(f"default changed from `{_default_kind(op.before)}` to `{_default_kind(op.after)}`")
        elif change == "type":
            parts.append("type changed")
        else:
            parts.append("column is no longer autoincrementing" if op.before.serial or op.before.identity
                         else "column became autoincrementing")
    return f"  [*] Altered column `{op.after.name}` ({', '.join(parts)})"


def _index_line(sign: str, verb: str, index) -> str:
    unique = "unique " if index.unique else ""
    cols = ", ".join(c if c is not None else "" for c in index.columns)
    return f"  [{sign}] {verb} {unique}index on columns ({cols})"


@singledispatch
def _items(op: d.Operation) -> list[tuple[int, str, list[str]]]:
    """(block kind, block name, lines under the header) for one operation, by its class."""
    raise TypeError(f"no summary for {type(op).__name__}")


# Operations that list one object by its name: (block kind, block name, the object)
_LISTED = {
    d.CreateExtension: (_ADDED_EXT, "", lambda op: op.extension),
    d.DropExtension: (_REMOVED_EXT, "", lambda op: op.extension),
    d.CreateEnum: (_ADDED_ENUM, "", lambda op: op.enum),
    d.DropEnum: (_REMOVED_ENUM, "", lambda op: op.enum),
    d.CreateTable: (_ADDED_TABLE, "", lambda op: op.table),
    d.DropTable: (_REMOVED_TABLE, "", lambda op: op.table),
    d.DropView: (_REMOVED_VIEW, "", lambda op: op.view),
    d.CreateView: (_ADDED_OTHER, "views", lambda op: op.view),
    d.CreateSequence: (_ADDED_OTHER, "sequences", lambda op: op.sequence),
    d.DropSequence: (_REMOVED_OTHER, "sequences", lambda op: op.sequence),
}


def _listed(op):
    kind, block, obj = _LISTED[type(op)]
    return [(kind, block, [f"  - {obj(op).name}"])]


for _op_class in _LISTED:
    _items.register(_op_class, _listed)


# Columns and checks added to or removed from a table: (sign, what, the member)
_TABLE_MEMBERS = {
    d.AddColumn: ("[+] Added", "column", lambda op: op.column),
    d.DropColumn: ("[-] Removed", "column", lambda op: op.column),
    d.AddCheck: ("[+] Added", "check constraint", lambda op: op.check),
    d.DropCheck: ("[-] Removed", "check constraint", lambda op: op.check),
}


def _table_member(op):
    if getattr(op, "new_table", False):  # part of "[+] Added tables", as Prisma lists a new table
        return []
    verb, what, member = _TABLE_MEMBERS[type(op)]
    return [(_CHANGED_TABLE, op.table.name, [f"  {verb} {what} `{member(op).name}`"])]


for _op_class in _TABLE_MEMBERS:
    _items.register(_op_class, _table_member)


@_items.register(d.AlterEnum)
def _alter_enum(op: d.AlterEnum):
    lines = [f"  [+] Added variant `{v}`" for v in op.added] + [f"  [-] Removed variant `{v}`" for v in op.removed]
    return [(_CHANGED_ENUM, op.before.name, lines)]


@_items.register(d.CreateFunction)
@_items.register(d.DropFunction)
@_items.register(d.CreateTrigger)
@_items.register(d.DropTrigger)
@_items.register(d.CreatePolicy)
@_items.register(d.DropPolicy)
def _named_unmanaged(op):
    if isinstance(op, d.CreateTrigger) and op.with_view:
        return []  # part of its view's rebuild, not a change of its own
    block, item = _unmanaged(op)
    line = f"  - {item}"
    if isinstance(op, (d.DropFunction, d.DropTrigger, d.DropPolicy)):
        return [(_REMOVED_OTHER, block, [line])]
    if isinstance(op, d.CreateTrigger) and op.replaces is not None and op.replaces.definition == op.trigger.definition:
        line += f" (now {_TRIGGER_STATES[op.trigger.enabled]})"  # only switched on or off
    return [(_CHANGED_OTHER if op.replaces else _ADDED_OTHER, block, [line])]


@_items.register(d.EnableRowSecurity)
@_items.register(d.DisableRowSecurity)
def _row_security(op):
    rs = op.row_security
    now = "off" if isinstance(op, d.DisableRowSecurity) else (
        ("on, forced" if rs.forced else "on") if rs.enabled else "forced but not on")
    return [(_CHANGED_OTHER, "row-level security", [f"  - {rs.table} (now {now})"])]


@_items.register(d.InvalidIndex)
@_items.register(d.RebuildIndex)
def _invalid_index(op):
    rebuilt = " (rebuilt)" if isinstance(op, d.RebuildIndex) else ""
    return [(_INVALID, "", [f"  - {op.index.name} on {op.index.table}{rebuilt}"])]


@_items.register(d.AddForeignKey)
@_items.register(d.DropForeignKey)
def _foreign_key(op):
    f = op.foreign_key
    verb = "[+] Added" if isinstance(op, d.AddForeignKey) else "[-] Removed"
    return [(_CHANGED_TABLE, f.table, [f"  {verb} foreign key on columns ({', '.join(f.columns)})"])]


@_items.register(d.CreateIndex)
@_items.register(d.DropIndex)
def _index(op):
    sign, verb = ("+", "Added") if isinstance(op, d.CreateIndex) else ("-", "Removed")
    return [(_CHANGED_TABLE, op.index.table, [_index_line(sign, verb, op.index)])]


@_items.register(d.AlterColumn)
def _alter_column(op: d.AlterColumn):
    return [(_CHANGED_TABLE, op.table.name, [_column_change(op)])]


@_items.register(d.DropPrimaryKey)
def _drop_primary_key(op: d.DropPrimaryKey):
    cols = ", ".join(op.primary_key.columns)
    return [(_CHANGED_TABLE, op.table.name, [f"  [-] Dropped the primary key on columns ({cols})"])]


@_items.register(d.AddPrimaryKey)
def _add_primary_key(op: d.AddPrimaryKey):
    cols = ", ".join(op.primary_key.columns)
    # Prisma prints a stray ")" line after this one; kept so the lines match what it prints.
    return [(_CHANGED_TABLE, op.table.name, [f"  [+] Added primary key on columns ({cols})", ")"])]


def _header(kind: int, name: str) -> str:
    return {
        _ADDED_EXT: "[+] Added extensions",
        _REMOVED_EXT: "[-] Removed extensions",
        _ADDED_ENUM: "[+] Added enums",
        _ADDED_TABLE: "[+] Added tables",
        _REMOVED_ENUM: "[-] Removed enums",
        _REMOVED_TABLE: "[-] Removed tables",
        _REMOVED_VIEW: "[-] Removed views",
        _CHANGED_ENUM: f"[*] Changed the `{name}` enum",
        _CHANGED_TABLE: f"[*] Changed the `{name}` table",
        _ADDED_OTHER: f"[+] Added {name}",
        _REMOVED_OTHER: f"[-] Removed {name}",
        _CHANGED_OTHER: f"[*] Changed {name}",
        _INVALID: "[!] Invalid indexes (queries do not use them)",
    }[kind]


def render_summary(ops: tuple[d.Operation, ...]) -> tuple[str, ...]:
    """Prisma's drift summary lines (without its header); blank lines between blocks; () when no drift."""
    entries = []
    for idx, step in enumerate(plan(ops)):
        for sub, op in enumerate(step.ops):
            for kind, name, lines in _items(op):
                entries.append(((kind, name.encode(), idx, sub), name, lines))
    entries.sort(key=lambda e: e[0])
    out: list[str] = []
    current = None
    for (kind, raw, _, _), name, lines in entries:
        if (kind, raw) != current:
            if out:
                out.append("")
            out.append(_header(kind, name))
            current = (kind, raw)
        out.extend(lines)
    return tuple(out)
