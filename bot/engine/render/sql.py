"""Steps -> SQL in Prisma's style: ``-- Label`` then the statements, steps separated
by a blank line. ``render_sql`` writes what ``migrate diff --script`` writes (no
warnings); ``render_migration`` puts Prisma's warnings header above it, as
``migrate dev`` writes a migration file. Nothing is ever written inside the statements."""

from __future__ import annotations

from dataclasses import replace
from functools import singledispatchmethod

from driftbot.engine import diff as d
from driftbot.engine.inspect.model import POLICY_COMMANDS
from driftbot.engine.render.names import column_definition, column_type, default_expr, literal, qualified, quote
from driftbot.engine.render.steps import Step, plan
from driftbot.engine.render.warnings import header, warnings

EMPTY = "-- This is an empty migration."
# ALTER TABLE ... <clause> TRIGGER, by pg_trigger.tgenabled
_TRIGGER_STATE = {"O": "ENABLE", "D": "DISABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}
# What each plain drop drops: its DROP keyword and the object
_DROPPED = {
    d.DropTrigger: lambda op: ("TRIGGER", op.trigger),
    d.DropPolicy: lambda op: ("POLICY", op.policy),
    d.DropSequence: lambda op: ("SEQUENCE", op.sequence),
    d.DropView: lambda op: ("MATERIALIZED VIEW" if op.view.materialized else "VIEW", op.view),
    d.DropEnum: lambda op: ("TYPE", op.enum),
    d.DropTable: lambda op: ("TABLE", op.table),
}
_MULTI_VALUE_NOTE = """-- This migration adds more than one value to an enum.
-- With PostgreSQL versions 11 and earlier, this is not possible
-- in a single migration. This can be worked around by creating
-- multiple migrations, each migration adding only one value to
-- the enum.

"""


class _Renderer:
    def __init__(self, default_schema: str) -> None:
        self.schema = default_schema

    def q(self, schema: str, name: str) -> str:
        return qualified(schema, name, self.schema)

    def _drop(self, kind: str, obj) -> str:
        """``DROP <kind>`` of a schema-qualified object (a sequence, view, type, table, index)."""
        return f"DROP {kind} {self.q(obj.schema, obj.name)};"

    def _on_table(self, schema: str, table: str, clause: str) -> str:
        """One ``ALTER TABLE`` statement: a constraint added or dropped."""
        return f"ALTER TABLE {self.q(schema, table)} {clause};"

    def step(self, step: Step) -> str:
        op = step.ops[0]
        if step.label == "AlterTable" and not isinstance(op, d.DropCheck):
            return self.alter_table(step.ops)
        return self.render(op)

    @singledispatchmethod
    def render(self, op: d.Operation) -> str:
        """The statements of one operation, by its class (each method below registers for one)."""
        raise TypeError(f"no SQL for {type(op).__name__}")

    # --- extensions, sequences, views -------------------------------------------------
    @render.register(d.CreateExtension)
    def CreateExtension(self, op: d.CreateExtension) -> str:
        return f'CREATE EXTENSION IF NOT EXISTS {quote(op.extension.name)} WITH SCHEMA {quote(op.extension.schema)};'

    @render.register(d.DropExtension)
    def DropExtension(self, op: d.DropExtension) -> str:
        return f"DROP EXTENSION {quote(op.extension.name)};"

    @render.register(d.CreateSequence)
    def CreateSequence(self, op: d.CreateSequence) -> str:
        s = op.sequence
        return f"CREATE SEQUENCE {self.q(s.schema, s.name)} AS {s.type} INCREMENT BY {s.increment} START WITH {s.start};"

    @render.register(d.CreateView)
    def CreateView(self, op: d.CreateView) -> str:
        v = op.view
        kind = "MATERIALIZED VIEW" if v.materialized else "VIEW"
        return f"CREATE {kind} {self.q(v.schema, v.name)} AS\n{v.definition.strip()}"

    # --- functions, triggers (Prisma compares neither) ----------------------------------
    @render.register(d.CreateFunction)
    def CreateFunction(self, op: d.CreateFunction) -> str:
        f, old = op.function, op.replaces
        drop = ""
        if old is not None and (old.result, old.kind) != (f.result, f.kind):  # CREATE OR REPLACE cannot
            drop = f"{self._drop_function(old)}\n"
        return f"{drop}{f.definition.strip()};"

    @render.register(d.DropFunction)
    def DropFunction(self, op: d.DropFunction) -> str:
        return self._drop_function(op.function)

    def _drop_function(self, f) -> str:
        kind = "PROCEDURE" if f.kind == "p" else "FUNCTION"
        return f"DROP {kind} {self.q(f.schema, f.name)}({f.arguments});"

    @render.register(d.CreateTrigger)
    def CreateTrigger(self, op: d.CreateTrigger) -> str:
        t, old = op.trigger, (None if op.view_rebuilt else op.replaces)  # DROP VIEW already dropped it
        same = old is not None and old.definition == t.definition  # only enabled/disabled changed
        lines = []
        if old is not None and not same:
            lines.append(self._drop_on("TRIGGER", old))
        if not same:
            lines.append(f"{t.definition};")
        if t.enabled != (old.enabled if same else "O"):
            lines.append(f"ALTER TABLE {self.q(t.schema, t.table)} {_TRIGGER_STATE[t.enabled]} TRIGGER {quote(t.name)};")
        return "\n".join(lines)

    @render.register(d.DropTrigger)
    @render.register(d.DropPolicy)
    def drop_from_table(self, op: d.DropTrigger | d.DropPolicy) -> str:
        """The plain ``DROP <kind> <name> ON <table>;`` of a trigger or policy."""
        return self._drop_on(*_DROPPED[type(op)](op))

    def _drop_on(self, kind: str, obj) -> str:
        return f"DROP {kind} {quote(obj.name)} ON {self.q(obj.schema, obj.table)};"

    # --- row-level security and policies (Prisma compares neither) ---------------------
    @render.register(d.EnableRowSecurity)
    def EnableRowSecurity(self, op: d.EnableRowSecurity) -> str:
        rs, old = op.row_security, op.replaces
        return self._row_security(rs.schema, rs.table, (old.enabled, old.forced) if old else (False, False),
                                  (rs.enabled, rs.forced))

    @render.register(d.DisableRowSecurity)
    def DisableRowSecurity(self, op: d.DisableRowSecurity) -> str:
        rs = op.row_security
        return self._row_security(rs.schema, rs.table, (rs.enabled, rs.forced), (False, False))

    def _row_security(self, schema: str, table: str, was: tuple[bool, bool], now: tuple[bool, bool]) -> str:
        t, lines = self.q(schema, table), []
        if was[0] != now[0]:
            lines.append(f"ALTER TABLE {t} {'ENABLE' if now[0] else 'DISABLE'} ROW LEVEL SECURITY;")
        if was[1] != now[1]:
            lines.append(f"ALTER TABLE {t} {'FORCE' if now[1] else 'NO FORCE'} ROW LEVEL SECURITY;")
        return "\n".join(lines)

    @render.register(d.CreatePolicy)
    def CreatePolicy(self, op: d.CreatePolicy) -> str:
        p, old = op.policy, op.replaces
        table = self.q(p.schema, p.table)
        text = f"CREATE POLICY {quote(p.name)} ON {table}"
        if not p.permissive:
            text += " AS RESTRICTIVE"
        text += f" FOR {POLICY_COMMANDS[p.command]} TO " + ", ".join("PUBLIC" if r == "public" else quote(r) for r in p.roles)
        if p.using is not None:
            text += f" USING ({p.using})"
        if p.with_check is not None:
            text += f" WITH CHECK ({p.with_check})"
        drop = f"{self._drop_on('POLICY', old)}\n" if old is not None else ""  # same key: same table
        return f"{drop}{text};"

    # --- enums ------------------------------------------------------------------------
    @render.register(d.CreateEnum)
    def CreateEnum(self, op: d.CreateEnum) -> str:
        values = ", ".join(literal(v) for v in op.enum.values)
        return f"CREATE TYPE {self.q(op.enum.schema, op.enum.name)} AS ENUM ({values});"

    @render.register(d.AlterEnum)
    def AlterEnum(self, op: d.AlterEnum) -> str:
        name = self.q(op.after.schema, op.after.name)
        if op.removed or op.reordered:
            return self._recreate_enum(op)
        lines = []
        values = op.after.values
        for i, value in enumerate(values):
            if value not in op.added:
                continue
            following = next((v for v in values[i + 1 :] if v not in op.added), None)
            where = f" BEFORE {literal(following)}" if following is not None else ""
            lines.append(f"ALTER TYPE {name} ADD VALUE {literal(value)}{where};")
        return (_MULTI_VALUE_NOTE if len(lines) > 1 else "") + "\n".join(lines)

    def _recreate_enum(self, op: d.AlterEnum) -> str:
        e = op.after
        new, old = self.q(e.schema, e.name + "_new"), self.q(e.schema, e.name + "_old")
        values = ", ".join(literal(v) for v in e.values)
        lines = [
            "BEGIN;",
            f"CREATE TYPE {new} AS ENUM ({values});",
        ]
        restore = []
        for table, column in op.usages:
            t, c = self.q(table.schema, table.name), quote(column.name)
            array = "[]" if column.type.endswith("[]") else ""
            if column.default is not None:
                lines.append(f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT;")
                value = default_expr(column.default)
                if value.strip("'") in e.values or array:
                    restore.append(f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {value};")
            lines.append(f"ALTER TABLE {t} ALTER COLUMN {c} TYPE {new}{array} USING ({c}::text{array}::{new}{array});")
        lines += [
            f"ALTER TYPE {self.q(e.schema, e.name)} RENAME TO {quote(e.name + '_old')};",
            f"ALTER TYPE {new} RENAME TO {quote(e.name)};",
            f"DROP TYPE {old};",
            *restore,
            "COMMIT;",
        ]
        return "\n".join(lines)

    # --- tables -----------------------------------------------------------------------
    @render.register(d.CreateTable)
    def CreateTable(self, op: d.CreateTable) -> str:
        t = op.table
        body = [f"    {column_definition(c)}" for c in t.ordered_columns()]
        text = ",\n".join(body)
        if t.primary_key is not None:
            cols = ", ".join(quote(c) for c in t.primary_key.columns)
            text += f",\n\n    CONSTRAINT {quote(t.primary_key.name)} PRIMARY KEY ({cols})"
        return f"CREATE TABLE {self.q(t.schema, t.name)} (\n{text}\n);"

    @render.register(d.DropSequence)
    @render.register(d.DropView)
    @render.register(d.DropEnum)
    @render.register(d.DropTable)
    def drop_object(self, op: d.DropSequence | d.DropView | d.DropEnum | d.DropTable) -> str:
        """The plain ``DROP <kind> <name>;`` of a sequence, view, enum or table."""
        return self._drop(*_DROPPED[type(op)](op))

    def alter_table(self, ops: tuple[d.Operation, ...]) -> str:
        table = ops[0].table
        clauses = []
        for op in ops:
            if isinstance(op, d.DropPrimaryKey):
                clauses.append(f"DROP CONSTRAINT {quote(op.primary_key.name)}")
            elif isinstance(op, d.DropColumn):
                clauses.append(f"DROP COLUMN {quote(op.column.name)}")
            elif isinstance(op, d.AddColumn):
                clauses.append(f"ADD COLUMN     {column_definition(op.column)}")
            elif isinstance(op, d.AlterColumn):
                clauses += self._alter_column(op)
            elif isinstance(op, d.AddPrimaryKey):
                cols = ", ".join(quote(c) for c in op.primary_key.columns)
                clauses.append(f"ADD CONSTRAINT {quote(op.primary_key.name)} PRIMARY KEY ({cols})")
        return f"ALTER TABLE {self.q(table.schema, table.name)} " + ",\n".join(clauses) + ";"

    def _alter_column(self, op: d.AlterColumn) -> list[str]:
        b, a, c = op.before, op.after, quote(op.after.name)
        had_default = b.default is not None or b.serial
        out = []
        if b.identity and b.identity != a.identity:
            out.append(f"ALTER COLUMN {c} DROP IDENTITY")
        type_changed = b.type != a.type
        if had_default and (type_changed or a.default is None or b.serial != a.serial) and not b.identity:
            out.append(f"ALTER COLUMN {c} DROP DEFAULT")  # before a type change: the old default may not cast
        if type_changed:
            out.append(f"ALTER COLUMN {c} SET DATA TYPE {column_type(replace(a, serial=False))}")
        if b.not_null != a.not_null:
            if a.not_null:
                out.append(f"ALTER COLUMN {c} SET NOT NULL")
            else:
                out.append(f"ALTER COLUMN {c} DROP NOT NULL")
        if a.identity and a.identity != b.identity:
            kind = "ALWAYS" if a.identity == "a" else "BY DEFAULT"
            out.append(f"ALTER COLUMN {c} ADD GENERATED {kind} AS IDENTITY")
        elif a.default is not None and (a.default != b.default or type_changed):
            out.append(f"ALTER COLUMN {c} SET DEFAULT {default_expr(a.default)}")
        return out

    # --- indexes, keys, checks ----------------------------------------------------------
    @render.register(d.CreateIndex)
    def CreateIndex(self, op: d.CreateIndex) -> str:
        i = op.index
        table = self.q(i.schema, i.table)
        if i.constraint:
            return self._on_table(i.schema, i.table, f"ADD CONSTRAINT {quote(i.name)} {i.definition}")
        if i.complex or i.partial:
            return f"{i.definition};"
        cols = ", ".join(quote(c) + (" DESC" if desc else "") for c, desc in zip(i.columns, i.descending or [False] * len(i.columns)))
        using = f" USING {i.method.upper()} ({cols})" if i.method != "btree" else f"({cols})"
        unique = "UNIQUE " if i.unique else ""
        return f"CREATE {unique}INDEX {quote(i.name)} ON {table}{using};"

    @render.register(d.InvalidIndex)
    def InvalidIndex(self, op: d.InvalidIndex) -> str:
        return (f"-- {quote(op.index.name)} exists only as the invalid leftover of a failed CREATE INDEX CONCURRENTLY.\n"
                f"-- Nothing to commit: rebuild it in the database, alone (not in a transaction):\n"
                f"-- {rebuild_index_sql(op.index, self.schema)}")

    @render.register(d.RebuildIndex)
    def RebuildIndex(self, op: d.RebuildIndex) -> str:
        return ("-- Run alone, outside a migration (CONCURRENTLY cannot run in a transaction), once the rows that\n"
                "-- made the build fail are fixed (for a unique index: the duplicates).\n"
                + rebuild_index_sql(op.index, self.schema))

    @render.register(d.DropIndex)
    def DropIndex(self, op: d.DropIndex) -> str:
        i = op.index
        if i.constraint:
            return self._on_table(i.schema, i.table, f"DROP CONSTRAINT {quote(i.name)}")
        return self._drop("INDEX", i)

    @render.register(d.AddForeignKey)
    def AddForeignKey(self, op: d.AddForeignKey) -> str:
        f = op.foreign_key
        cols = ", ".join(quote(c) for c in f.columns)
        refs = ", ".join(quote(c) for c in f.ref_columns)
        tail = ""
        if f.deferrable:
            tail = " DEFERRABLE INITIALLY DEFERRED" if f.deferred else " DEFERRABLE"
        return self._on_table(f.schema, f.table, f"ADD CONSTRAINT {quote(f.name)} FOREIGN KEY ({cols}) "
                              f"REFERENCES {self.q(f.ref_schema, f.ref_table)}({refs}) ON DELETE {f.on_delete} ON UPDATE {f.on_update}{tail}")

    @render.register(d.DropForeignKey)
    def DropForeignKey(self, op: d.DropForeignKey) -> str:
        f = op.foreign_key
        return self._on_table(f.schema, f.table, f"DROP CONSTRAINT {quote(f.name)}")

    @render.register(d.AddCheck)
    def AddCheck(self, op: d.AddCheck) -> str:
        return self._on_table(op.table.schema, op.table.name, f"ADD CONSTRAINT {quote(op.check.name)} {op.check.definition}")

    @render.register(d.DropCheck)
    def DropCheck(self, op: d.DropCheck) -> str:
        return self._on_table(op.table.schema, op.table.name, f"DROP CONSTRAINT {quote(op.check.name)}")


# Statements with an IF NOT EXISTS (or OR REPLACE) form, and where to put it.
_IF_MISSING = (
    ("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS "), ("CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX IF NOT EXISTS "),
    ("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS "), ("CREATE SEQUENCE ", "CREATE SEQUENCE IF NOT EXISTS "),
    ("CREATE VIEW ", "CREATE OR REPLACE VIEW "), ("CREATE MATERIALIZED VIEW ", "CREATE MATERIALIZED VIEW IF NOT EXISTS "),
)
_ALREADY_THERE = "duplicate_object OR duplicate_table OR duplicate_column OR invalid_table_definition"


def _if_missing(step: Step, text: str) -> str:
    """*text* as statements that do nothing where their object already exists: a migration that
    restores objects earlier migrations create must replay cleanly after them (the shadow database
    has them) and create them where the database lacks them."""
    if isinstance(step.ops[0], (d.CreateExtension, d.CreateFunction, d.EnableRowSecurity)):
        return text  # already IF NOT EXISTS, OR REPLACE, or idempotent
    if step.label == "AlterTable" and all(isinstance(op, d.AddColumn) for op in step.ops):
        return text.replace("ADD COLUMN     ", "ADD COLUMN IF NOT EXISTS ")
    if isinstance(step.ops[0], d.AlterEnum):
        return text.replace(" ADD VALUE ", " ADD VALUE IF NOT EXISTS ")
    for plain, guarded in _IF_MISSING:
        if text.startswith(plain) and text.count(";") == 1:
            return guarded + text[len(plain):]
    body = "\n".join("  " + ln for ln in text.splitlines())
    return f"DO $restore$ BEGIN\n{body}\nEXCEPTION WHEN {_ALREADY_THERE} THEN NULL;\nEND $restore$;"


def rebuild_index_sql(index, default_schema: str = "public") -> str:
    """The statement that rebuilds an invalid index without blocking writes."""
    return f"REINDEX INDEX CONCURRENTLY {qualified(index.schema, index.name, default_schema)};"


def render_sql(ops: tuple[d.Operation, ...], default_schema: str = "public", if_missing=False) -> str:
    """The migration that applies *ops*, as Prisma's ``migrate diff --script`` writes it (no warnings).
    *if_missing*: each statement does nothing where its object already exists (or, given a function of
    an operation, those of the steps whose operations it picks)."""
    if not ops:
        return EMPTY + "\n"
    r = _Renderer(default_schema)
    steps = plan(ops)
    blocks = []
    for i, step in enumerate(steps):
        text = r.step(step)
        if i + 1 < len(steps) and uses_new_enum_value(step, steps[i + 1:]):
            text += "\nCOMMIT;"  # PostgreSQL cannot use a new enum value in the transaction that adds it
        guarded = any(map(if_missing, step.ops)) if callable(if_missing) else if_missing
        blocks.append(f"-- {step.label}\n{_if_missing(step, text) if guarded else text}")
    return "\n\n".join(blocks) + "\n"


def render_steps(ops: tuple[d.Operation, ...], default_schema: str = "public") -> tuple[tuple[Step, str], ...]:
    """Each step of *ops* with its own statements, in order: to run them one at a time and say which one
    failed (the deploy preview rebuilding a live schema)."""
    r = _Renderer(default_schema)
    return tuple((step, r.step(step)) for step in plan(ops))


def uses_new_enum_value(step: Step, later: tuple[Step, ...]) -> bool:
    """Whether *step* adds enum values that a later step uses (as a default, say): the script must
    commit the new values first, or PostgreSQL refuses ("unsafe use of new value")."""
    added = [v for op in step.ops if isinstance(op, d.AlterEnum) and not (op.removed or op.reordered) for v in op.added]
    if not added:
        return False
    r = _Renderer("public")
    text = "\n".join(r.step(s) for s in later)
    return any(literal(v) in text for v in added)


def render_migration(ops: tuple[d.Operation, ...], default_schema: str = "public", if_missing=False) -> str:
    """A migration file for *ops*, as ``prisma migrate dev`` writes it: Prisma's warnings header
    (when a step can lose data or fail on existing rows), then the statements."""
    steps = plan(ops)
    commits = any(uses_new_enum_value(step, steps[i + 1:]) for i, step in enumerate(steps))
    return header(warnings(ops, commits)) + render_sql(ops, default_schema, if_missing)
