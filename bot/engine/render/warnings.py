"""Prisma's warnings header: what ``prisma migrate dev --create-only`` writes at the top of a new
migration file whose steps can lose data or fail on existing rows.

```
/*
  Warnings:

  - You are about to drop the column `bio` on the `User` table. All the data in the column will be lost.
  - Added the required column `title` to the `User` table without a default value. This is not possible if the table is not empty.

*/
```

The wording of each kind is Prisma's own, as the real 6.19.3 CLI writes it (checked in
tests/conformance/test_warnings_vs_prisma.py): its data-loss warnings in step order, then the
steps that cannot run on a table with rows. Prisma writes the header from the migration alone,
never from row counts. ``migrate diff --script`` writes none, and neither does ``render_sql``.
A few steps Prisma does not manage (extensions, functions, index builds) get a line of
driftbot's own, after Prisma's.
"""

from __future__ import annotations

import re

from driftbot.engine import diff as d
from driftbot.engine.inspect.model import Column
from driftbot.engine.render.steps import plan

_PRISMA_TYPES = {
    "integer": "Integer", "bigint": "BigInt", "smallint": "SmallInt", "text": "Text", "boolean": "Boolean",
    "double precision": "DoublePrecision", "real": "Real", "numeric": "Decimal", "uuid": "Uuid", "jsonb": "JsonB",
    "json": "Json", "date": "Date", "bytea": "ByteA", "inet": "Inet", "citext": "Citext", "xml": "Xml",
    "money": "Money", "oid": "Oid", "character varying": "VarChar", "character": "Char", "bit": "Bit",
    "bit varying": "VarBit", "timestamp without time zone": "Timestamp", "timestamp with time zone": "Timestamptz",
    "time without time zone": "Time", "time with time zone": "Timetz",
}
_TYPE = re.compile(r"^(?P<base>[a-z ]+?)(?:\((?P<args>[0-9, ]+)\))?(?P<rest>(?: with(?:out)? time zone)?)$")
_INTEGERS = {"SmallInt": 3, "Integer": 10, "BigInt": 19}  # digits each can hold
_TEXT_WIDTH = {"SmallInt": 4, "Integer": 11, "BigInt": 20, "Real": 47, "DoublePrecision": 317}


def prisma_type(formatted: str) -> tuple[str, tuple[int, ...]]:
    """A PostgreSQL type (``format_type``) as Prisma names it: ``("VarChar", (300,))``."""
    m = _TYPE.match(formatted)
    if m:
        base = (m["base"] + m["rest"]).strip()
        if base in _PRISMA_TYPES:
            args = tuple(int(a) for a in m["args"].split(",")) if m["args"] else ()
            return _PRISMA_TYPES[base], args
    return formatted, ()


def _shown(kind: str, args: tuple[int, ...]) -> str:
    return kind + (f"({','.join(str(a) for a in args)})" if args else "")


def _is_safe_cast(before: tuple[str, tuple[int, ...]], after: tuple[str, tuple[int, ...]]) -> bool:
    """Prisma's ``SafeCast`` (no warning) for the common PostgreSQL types; everything else warns.
    Follows prisma-engines' ``postgres_native_type_change_riskyness``."""
    (b, bargs), (a, aargs) = before, after
    length = aargs[0] if aargs else None
    if b in _INTEGERS:
        if a in _INTEGERS:
            return _INTEGERS[a] >= _INTEGERS[b]
        if a == "Decimal":
            return not aargs or aargs[0] - (aargs[1] if len(aargs) > 1 else 0) >= _INTEGERS[b]
        if a in ("VarChar", "Char"):
            return (length is not None and length >= _TEXT_WIDTH[b]) or (length is None and a == "VarChar")
        return a in ("Real", "DoublePrecision", "Text")
    if b in ("Real", "DoublePrecision"):
        if a in ("VarChar", "Char"):
            return (length is not None and length >= _TEXT_WIDTH[b]) or (length is None and a == "VarChar")
        return a in ("Text", "DoublePrecision") or (a == "Real" and b == "Real")
    if b == "Decimal":
        if a == "Text":
            return True
        if a == "Decimal":
            if bargs and not aargs:
                return True
            if not bargs or not aargs:
                return False
            bs, as_ = (bargs[1] if len(bargs) > 1 else 0), (aargs[1] if len(aargs) > 1 else 0)
            return not (bargs[0] - bs > aargs[0] - as_ or bs > as_)
        if a in _INTEGERS:
            return bool(bargs) and (bargs[1] if len(bargs) > 1 else 0) == 0 and bargs[0] <= _INTEGERS[a] - 1
        return False
    if b in ("VarChar", "Char"):
        if a == "Text":
            return True
        if a in ("VarChar", "Char"):
            old = bargs[0] if bargs else None
            if old is None:
                return b == "Char" or (length is None and a == "VarChar")
            if length is None:
                return old == 1 or a == "VarChar"
            return old <= length
        return False
    if b == "Text":
        return a in ("Text", "Citext") or (a == "VarChar" and length is None)
    if b in ("Timestamp", "Timestamptz", "Date", "Time", "Timetz"):
        if a == "Text" or (a == "VarChar" and length is None):
            return True
        return a in ("Timestamp", "Timestamptz", "Date", "Time", "Timetz")
    if b == "Boolean":
        return a in ("Text", "VarChar") or (a == "Char" and length is not None and length > 4)
    return False


def _type_warning(table: str, before: Column, after: Column) -> str | None:
    b, a = prisma_type(before.type.removesuffix("[]")), prisma_type(after.type.removesuffix("[]"))
    same_shape = not (before.is_enum or after.is_enum) and before.type.endswith("[]") == after.type.endswith("[]")
    if same_shape and _is_safe_cast(b, a):
        return None
    return (f"You are about to alter the column `{after.name}` on the `{table}` table. The data in that column "
            f"could be lost. The data in that column will be cast from `{_shown(*b)}` to `{_shown(*a)}`.")


def _required_without_default(c: Column) -> bool:
    return c.not_null and c.default is None and not c.serial and not c.identity and not c.generated


def warnings(ops: tuple[d.Operation, ...], commits_enum_values: bool = False) -> tuple[str, ...]:
    """The header's lines for *ops*: Prisma's (``prisma_warnings``), then driftbot's own notes on
    steps Prisma does not manage."""
    notes = tuple(note for step in plan(ops) for op in step.ops for note in _own_notes(op))
    if commits_enum_values:
        notes += ("New enum values are committed (COMMIT) before the statements that use them: PostgreSQL cannot "
                  "use a new value in the transaction that adds it.",)
    return prisma_warnings(ops) + notes


def prisma_warnings(ops: tuple[d.Operation, ...]) -> tuple[str, ...]:
    """The lines Prisma writes for *ops*, in its order: its warnings, then its unexecutable steps."""
    warned: list[str] = []
    unexecutable: list[str] = []
    for step in plan(ops):
        added_pk = {op.table.key for op in step.ops if isinstance(op, d.AddPrimaryKey)}
        for op in step.ops:
            if isinstance(op, d.AlterEnum) and op.removed:
                warned.append(f"The values [{','.join(op.removed)}] on the enum `{op.before.name}` will be removed. "
                              "If these variants are still used in the database, this will fail.")
            elif isinstance(op, d.DropColumn):
                warned.append(f"You are about to drop the column `{op.column.name}` on the `{op.table.name}` table. "
                              "All the data in the column will be lost.")
            elif isinstance(op, d.DropTable):
                warned.append(f"You are about to drop the `{op.table.name}` table. If the table is not empty, "
                              "all the data it contains will be lost.")
            elif isinstance(op, d.DropPrimaryKey) and op.table.key in added_pk:
                warned.append(f"The primary key for the `{op.table.name}` table will be changed. If it partially "
                              "fails, the table could be left without primary key constraint.")
            elif isinstance(op, d.AlterColumn) and "type" in op.changes:
                line = _type_warning(op.table.name, op.before, op.after)
                if line:
                    warned.append(line)
            elif isinstance(op, d.CreateIndex) and op.index.unique and not op.new_table:
                columns = ",".join(c or "" for c in op.index.columns)
                warned.append(f"A unique constraint covering the columns `[{columns}]` on the table `{op.index.table}` "
                              "will be added. If there are existing duplicate values, this will fail.")
            if isinstance(op, d.AddColumn) and _required_without_default(op.column):
                unexecutable.append(f"Added the required column `{op.column.name}` to the `{op.table.name}` table "
                                    "without a default value. This is not possible if the table is not empty.")
            elif isinstance(op, d.AlterColumn) and "arity" in op.changes and op.after.not_null:
                unexecutable.append(f"Made the column `{op.after.name}` on table `{op.table.name}` required. This "
                                    "step will fail if there are existing NULL values in that column.")
    return tuple(warned + unexecutable)


def _own_notes(op: d.Operation) -> list[str]:
    """driftbot's notes, for steps Prisma's migrations never hold."""
    if isinstance(op, d.DropExtension):
        return [f"Dropping the extension `{op.extension.name}` drops every object of the extension."]
    if isinstance(op, d.AlterEnum) and op.reordered and not op.removed:
        return [f"The enum `{op.after.name}` is recreated to reorder its values; this fails if a default or a "
                "view depends on it."]
    if isinstance(op, d.CreateFunction) and op.replaces is not None and (
            (op.replaces.result, op.replaces.kind) != (op.function.result, op.function.kind)):
        return [f"The result type of `{op.replaces.signature}` changed, which CREATE OR REPLACE cannot do: "
                "it is dropped first."]
    if isinstance(op, d.CreateIndex) and not op.new_table and not op.index.constraint:
        return [f"The index `{op.index.name}` is built without CONCURRENTLY, blocking writes to "
                f"`{op.index.table}` while it runs."]
    return []


def header(lines: tuple[str, ...]) -> str:
    """Prisma's comment block for *lines* ("" for none)."""
    if not lines:
        return ""
    return "/*\n  Warnings:\n\n" + "".join(f"  - {line}\n" for line in lines) + "\n*/\n"
