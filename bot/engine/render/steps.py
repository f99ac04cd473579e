"""Operations -> ordered steps, in the order Prisma's schema engine emits them.

Prisma sorts its migration steps by kind (extensions, enums, dropped foreign keys
and indexes, altered tables, dropped tables, created tables, created indexes,
added foreign keys) and then by object; both the SQL and the drift summary follow
that order. Column-level changes of one table form one ``AlterTable`` step.
"""

from __future__ import annotations

from dataclasses import dataclass

from driftbot.engine import diff as d

# rank, label: Prisma's step kinds, plus the objects Prisma does not manage (checks, sequences, views,
# functions, triggers, row-level security and policies). Triggers and policies go first and last: a dropped trigger may use a function or table
# dropped later, a created one a function or table created earlier. Functions come after tables
# (a SQL function's body may read a new table) and before indexes (an expression index may call one).
_RANKS: dict[type, tuple[float, str]] = {
    d.DropTrigger: (4, "DropTrigger"),
    d.DropPolicy: (4.2, "DropPolicy"),
    d.DisableRowSecurity: (4.4, "DisableRowLevelSecurity"),
    d.DropExtension: (1, "DropExtension"),
    d.CreateExtension: (2, "CreateExtension"),
    d.DropView: (5, "DropView"),
    d.CreateSequence: (5.5, "CreateSequence"),
    d.CreateEnum: (7, "CreateEnum"),
    d.AlterEnum: (8, "AlterEnum"),
    d.DropForeignKey: (9, "DropForeignKey"),
    d.DropCheck: (9.5, "AlterTable"),
    d.DropIndex: (10, "DropIndex"),
    "alter_table": (11, "AlterTable"),
    d.DropTable: (13, "DropTable"),
    d.DropSequence: (13.5, "DropSequence"),
    d.DropFunction: (13.7, "DropFunction"),
    d.DropEnum: (14, "DropEnum"),
    d.CreateTable: (15, "CreateTable"),
    d.CreateFunction: (16, "CreateFunction"),
    d.CreateIndex: (17, "CreateIndex"),
    d.InvalidIndex: (17.5, "InvalidIndex"),
    d.RebuildIndex: (17.6, "RebuildIndex"),
    d.AddForeignKey: (19, "AddForeignKey"),
    d.AddCheck: (19.5, "AddCheckConstraint"),
    d.EnableRowSecurity: (20.2, "EnableRowLevelSecurity"),
    d.CreatePolicy: (20.4, "CreatePolicy"),
    d.CreateView: (21, "CreateView"),
    d.CreateTrigger: (22, "CreateTrigger"),  # after views: an INSTEAD OF trigger is on one
}
_TABLE_CHANGES = (d.DropPrimaryKey, d.DropColumn, d.AddColumn, d.AlterColumn, d.AddPrimaryKey)


@dataclass(frozen=True)
class Step:
    rank: float
    label: str  # Prisma's step description, the SQL's ``-- Label`` line
    ops: tuple[d.Operation, ...]


def _obj_key(op: d.Operation) -> tuple:
    if isinstance(op, (d.CreateFunction, d.DropFunction)):
        return (op.function.schema, op.function.name.encode(), op.function.arguments.encode())
    if isinstance(op, (d.CreateTrigger, d.DropTrigger)):
        return (op.trigger.schema, op.trigger.table.encode(), op.trigger.name.encode())
    if isinstance(op, (d.EnableRowSecurity, d.DisableRowSecurity)):
        return (op.row_security.schema, op.row_security.table.encode(), b"")
    if isinstance(op, (d.CreatePolicy, d.DropPolicy)):
        return (op.policy.schema, op.policy.table.encode(), op.policy.name.encode())
    for attr in ("table", "index", "foreign_key", "enum", "view", "sequence"):
        obj = getattr(op, attr, None)
        if obj is not None:
            if attr in ("index", "foreign_key"):
                return (obj.schema, obj.table.encode(), obj.name.encode())
            return (obj.schema, obj.name.encode(), b"")
    if isinstance(op, d.AlterEnum):
        return (op.after.schema, op.after.name.encode(), b"")
    ext = getattr(op, "extension", None)
    return ("", ext.name.encode() if ext else b"", b"")


def plan(ops: tuple[d.Operation, ...]) -> tuple[Step, ...]:
    """Group and order operations into Prisma's steps."""
    steps: list[tuple[tuple, Step]] = []
    by_table: dict[tuple[str, str], list[d.Operation]] = {}
    for op in ops:
        if isinstance(op, _TABLE_CHANGES):
            by_table.setdefault(op.table.key, []).append(op)
            continue
        rank, label = _RANKS[type(op)]
        steps.append(((rank, _obj_key(op)), Step(rank, label, (op,))))
    order = {kind: i for i, kind in enumerate(_TABLE_CHANGES)}
    rank, label = _RANKS["alter_table"]
    for (schema, name), table_ops in by_table.items():
        table_ops.sort(key=lambda o: order[type(o)])  # stable: column order kept within a kind
        steps.append(((rank, (schema, name.encode(), b"")), Step(rank, label, tuple(table_ops))))
    steps.sort(key=lambda s: s[0])
    return tuple(s for _, s in steps)
