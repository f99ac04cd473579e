"""The differ is pure: snapshots in, operations out."""

from __future__ import annotations

from driftbot.engine import diff as d
from driftbot.engine.inspect import Column, Enum, ForeignKey, Index, PrimaryKey, Snapshot, Table

ID = Column("id", "integer", True, serial=True)


def table(name, *cols, pk=True):
    cols = (ID, *cols)
    return Table("public", name, tuple(sorted(cols, key=lambda c: c.name)), PrimaryKey(f"{name}_pkey", ("id",)) if pk else None,
                 column_order=tuple(c.name for c in cols))


def snap(*objs):
    kinds = {Table: "tables", Index: "indexes", ForeignKey: "foreign_keys", Enum: "enums"}
    out = {v: [] for v in kinds.values()}
    for o in objs:
        out[kinds[type(o)]].append(o)
    return Snapshot(("public",), **{k: tuple(v) for k, v in out.items()})


def test_equal_snapshots_have_no_operations():
    s = snap(table("A", Column("x", "text", False)))
    assert d.diff(s, s) == ()


def test_added_removed_and_changed_columns():
    before = snap(table("A", Column("x", "text", False), Column("y", "integer", True)))
    after = snap(table("A", Column("y", "bigint", True, default="0"), Column("z", "text", False)))
    ops = d.diff(before, after)
    kinds = [type(o).__name__ for o in ops]
    assert kinds == ["DropColumn", "AddColumn", "AlterColumn"]
    alter = ops[2]
    assert alter.changes == ("default", "type")


def test_column_order_is_not_schema():
    a = table("A", Column("x", "text", False), Column("y", "text", False))
    b = Table("public", "A", a.columns, a.primary_key, column_order=("y", "x", "id"))
    assert d.diff(snap(a), snap(b)) == ()


def test_enum_values_added_and_removed():
    ops = d.diff(snap(Enum("public", "E", ("A", "B"))), snap(Enum("public", "E", ("A", "C"))))
    (op,) = ops
    assert isinstance(op, d.AlterEnum) and op.added == ("C",) and op.removed == ("B",)


def test_changed_index_is_dropped_and_recreated_and_fk_actions_count():
    i1 = Index("public", "A", "A_x_idx", False, ("x",))
    i2 = Index("public", "A", "A_x_idx", True, ("x",))
    f1 = ForeignKey("public", "A", "A_b_fkey", ("b",), "public", "B", ("id",), "RESTRICT", "CASCADE")
    f2 = ForeignKey("public", "A", "A_b_fkey", ("b",), "public", "B", ("id",), "CASCADE", "CASCADE")
    ops = d.diff(snap(i1, f1), snap(i2, f2))
    assert [type(o) for o in ops] == [d.DropIndex, d.CreateIndex, d.DropForeignKey, d.AddForeignKey]


def test_new_tables_indexes_are_marked_so_no_lock_warning():
    i = Index("public", "N", "N_x_idx", False, ("x",))
    ops = d.diff(snap(), snap(table("N", Column("x", "text", False)), i))
    assert [type(o) for o in ops] == [d.CreateTable, d.CreateIndex] and ops[1].new_table
