"""The lint's rules: pure functions over parsed statements, and over the target's sizes and answers.

``plan`` walks the statements of the migrations in the order ``migrate deploy`` runs them, keeping
what the earlier ones did (tables they create are empty, columns they add hold their default, rows an
UPDATE touched are no longer the rows the target holds now) and returns the findings the text alone
gives, plus the questions only the target's data can answer. ``judge`` turns the target's sizes and
answers into findings. The module that asks the target is ``driftbot.engine.lint.target``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType as AT
from pglast.enums import ConstrType, ObjectType, TransactionStmtKind

from driftbot.engine.lint.locks import BLOCKS, Effect, effect, shrinks_text, type_change_rewrites
from driftbot.engine.lint_model import LintFinding, StatementInfo, one_line
from driftbot.engine.lint.parse import Statement, Unparsable, column_refs, deparse, statements, string_constants, strings

Table = tuple[str, str]
COUNT_BOUND = 1000  # offending rows the target counts at most (driftbot.engine.lint.target)


@dataclass(frozen=True)
class Limits:
    """When a table counts as big, and how far the data checks may go on the target."""

    big_rows: int = 1_000_000  # a lock held while this many rows are rewritten or scanned is "risky"
    big_bytes: int = 1 << 30
    scan_rows: int = 5_000_000  # above this estimate a data check reads a sample, not the table
    sample_rows: int = 200_000  # about how many rows a sample reads
    probe_timeout_ms: int = 5_000  # each data check's statement_timeout
    budget_s: float = 60.0  # all data checks of one lint together


@dataclass(frozen=True)
class Question:
    """A read-only question to the target's data; ``driftbot.engine.lint.target`` answers it."""

    kind: str  # nulls | rows | values | duplicates | orphans | violations | cast | outside_labels | too_long
    table: Table
    columns: tuple[str, ...] = ()
    exprs: tuple[str, ...] = ()  # index expressions, a CHECK, a cast (SQL deparsed from the parse tree)
    where: str = ""  # a partial index's predicate
    ref_table: Table | None = None
    ref_columns: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    nulls_distinct: bool = True
    length: int = 0


@dataclass(frozen=True)
class Answer:
    outcome: str  # violated | clean | skipped
    count: int | None = None  # offending rows seen (bounded)
    sampled: str = ""  # "in a sample of about 200,000 of 40,000,000 rows"
    note: str = ""  # why skipped, or PostgreSQL's error for a cast
    sqlstate: str | None = None


@dataclass(frozen=True)
class TableFacts:
    rows: int | None  # pg_class.reltuples; None when the table was never analysed
    pages: int
    size_bytes: int
    columns: dict[str, str] = field(default_factory=dict)  # name -> format_type
    primary_key: tuple[str, ...] = ()
    has_rows: bool | None = None


@dataclass(frozen=True)
class Check:
    """A finding that waits for the target's answer to its question."""

    question: Question
    rule: str
    migration: str
    index: int
    statement: str
    fails: str  # why, when the data breaks it
    safer: str
    sqlstate: str
    offline: str  # what to say when the data is not checked
    offline_severity: str = "note"
    after_dml: str = ""  # an earlier statement that changes these rows first
    violated_severity: str = "will_fail"
    clean: str = ""  # a note when the data passes (empty: say nothing)


@dataclass(frozen=True)
class Sized:
    """A statement whose cost depends on the size of an existing table."""

    migration: str
    index: int
    statement: str
    effect: Effect
    hint: str  # rewrite | scan | index | none
    column_type: tuple[str, Any, Any] | None = None  # (column, new type node, USING) of a type change


@dataclass(frozen=True)
class EnumUse:
    migration: str
    index: int
    statement: str
    enum: str
    value: str
    table: Table | None
    cast: bool


@dataclass
class Plan:
    statements: list[tuple[str, Statement, Effect]] = field(default_factory=list)
    findings: list[LintFinding] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    sized: list[Sized] = field(default_factory=list)
    enum_uses: list[EnumUse] = field(default_factory=list)
    existing: set[Table] = field(default_factory=set)  # tables the statements find already there

    @property
    def questions(self) -> tuple[Question, ...]:
        return tuple(dict.fromkeys(c.question for c in self.checks))


_CONCURRENT_SAFER = ("Put the statement in a migration of its own (the only statement in its migration.sql): Prisma "
                     "then sends it alone and PostgreSQL runs it outside a transaction block.")
_LOCK_TIMEOUT = ("Start the migration with SET lock_timeout = '5s': a statement waiting for its lock queues every "
                 "query behind it; with a timeout the deploy fails fast and can be retried instead of stalling the "
                 "application.")
_EXPAND = ("Expand and contract: add the new column (or table) beside the old one, write both from the application, "
           "backfill, move the reads, and drop the old one in a later migration.")


class _State:
    """What the migrations before a statement have done, as far as the text tells."""

    def __init__(self, enums: dict[str, tuple[str, ...]] | None = None) -> None:
        self.created: set[Table] = set()  # tables made by these migrations: empty unless filled by them
        self.dml: dict[Table, str] = {}  # tables whose rows an earlier statement changes -> that statement
        self.added: dict[tuple[Table, str], bool] = {}  # columns added -> whether they got a default
        self.enums: dict[str, tuple[str, ...]] = enums if enums is not None else {}  # enum types created -> labels
        self.opaque: set[Table] = set()  # renamed here: the target knows them by another name


def plan(migrations: list[tuple[str, str]] | tuple[tuple[str, str], ...], schema: str = "public",
         together: bool = True) -> Plan:
    """Walk *migrations* ((name, script), in deploy order) and collect findings and questions. Pure.

    *together*: one deploy runs them back to back (the pending migrations of an environment), so a table
    an earlier one creates is still empty. Otherwise (a folder linted offline) each was deployed on its
    own day: what an earlier migration created may hold rows by the time a later one runs."""
    out, state = Plan(), _State()
    for name, script in migrations:
        if not together:
            state = _State(enums=state.enums)
        parsed = statements(script)
        if isinstance(parsed, Unparsable):
            out.findings.append(LintFinding(
                "will_fail", "syntax_error", name, 0, parsed.sql or script[:200],
                f"PostgreSQL's parser refuses this migration: {parsed.message}.", "Fix the SQL.", "42601"))
            continue
        _migration(out, state, name, parsed, schema)
    return out


def _migration(out: Plan, state: _State, name: str, parsed: tuple[Statement, ...], schema: str) -> None:
    several = len(parsed) > 1
    new_values: dict[str, str] = {}  # value -> enum, added in this transaction
    created_enums: set[str] = set()
    sets_lock_timeout = any(isinstance(s.node, ast.VariableSetStmt) and s.node.name == "lock_timeout" for s in parsed)
    strong_lock_at: Statement | None = None
    for st in parsed:
        node, eff = st.node, effect(st.node, schema)
        out.statements.append((name, st, eff))
        if eff.outside_transaction and several:
            out.findings.append(LintFinding(
                "will_fail", "concurrently_in_transaction", name, st.index, st.sql,
                f"{eff.kind} cannot run inside a transaction block, and Prisma sends the whole migration.sql as one "
                f"script, which PostgreSQL runs as one transaction when it holds more than one statement "
                f"({len(parsed)} here): the deploy fails with 25001.", _CONCURRENT_SAFER, "25001"))
        if isinstance(node, ast.TransactionStmt) and node.kind in (TransactionStmtKind.TRANS_STMT_COMMIT,
                                                                   TransactionStmtKind.TRANS_STMT_ROLLBACK):
            new_values.clear()
        if new_values:
            _enum_uses(out, name, st, new_values, eff, schema)
        if isinstance(node, ast.CreateEnumStmt):
            enum = strings(node.typeName)[-1]
            created_enums.add(enum)
            state.enums[enum] = tuple(v.sval for v in node.vals or ())
        if isinstance(node, ast.AlterEnumStmt) and node.newVal:
            enum = strings(node.typeName)[-1]
            if enum not in created_enums:
                new_values[node.newVal] = enum
        table = eff.table
        existing = table is not None and table not in state.created and table not in state.opaque
        if existing:
            out.existing.add(table)
            if eff.lock == "ACCESS EXCLUSIVE" and strong_lock_at is None:
                strong_lock_at = st
        if isinstance(node, ast.CreateStmt):
            created = (node.relation.schemaname or schema, node.relation.relname)
            state.created.add(created)
            state.opaque.discard(created)
        elif isinstance(node, ast.AlterTableStmt) and node.objtype == ObjectType.OBJECT_TABLE and table is not None:
            _alter_table(out, state, name, st, eff, table, existing)
        elif isinstance(node, ast.IndexStmt) and table is not None:
            _index(out, state, name, st, eff, table, existing)
        elif isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_TABLE:
            for obj in node.objects or ():
                parts = strings(obj)
                dropped = (parts[-2] if len(parts) > 1 else schema, parts[-1])
                if dropped not in state.created and dropped not in state.opaque:
                    out.existing.add(dropped)
                    out.checks.append(Check(
                        Question("rows", dropped), "data_loss_drop_table", name, st.index, st.sql,
                        f"You are about to drop the `{dropped[1]}` table. If the table is not empty, all the data it "
                        "contains will be lost. (It holds rows on this database.)",
                        "Copy what you need first; if the application may still read it, drop it in a later release.",
                        "", offline=f"You are about to drop the `{dropped[1]}` table. If the table is not empty, all "
                        "the data it contains will be lost.", offline_severity="risky", violated_severity="risky"))
                state.created.discard(dropped)
        elif isinstance(node, ast.RenameStmt) and node.renameType in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_COLUMN) \
                and table is not None:
            what = "table" if node.renameType == ObjectType.OBJECT_TABLE else f"column `{node.subname}` of"
            if existing:
                out.findings.append(LintFinding(
                    "risky", "rename", name, st.index, st.sql,
                    f"Renames the {what} `{table[1]}` to `{node.newname}`: the application running now still uses "
                    "the old name and fails from the moment this commits until it is redeployed.", _EXPAND))
            if node.renameType == ObjectType.OBJECT_TABLE:
                new = (table[0], node.newname)
                (state.opaque.add(new) if existing else state.created.add(new))
        elif isinstance(node, (ast.UpdateStmt, ast.DeleteStmt, ast.InsertStmt, ast.CopyStmt, ast.MergeStmt)) \
                and getattr(node, "relation", None) is not None:
            touched = (node.relation.schemaname or schema, node.relation.relname)
            state.dml.setdefault(touched, f"{name} #{st.index} ({eff.kind})")
            if isinstance(node, ast.UpdateStmt) and node.whereClause is None and existing:
                out.sized.append(Sized(name, st.index, st.sql, eff, "update"))
        elif isinstance(node, ast.DoStmt):
            out.findings.append(LintFinding(
                "note", "not_analysed", name, st.index, st.sql,
                "A DO block: its body runs as PL/pgSQL and is not analysed here (the deploy preview still runs it "
                "on a copy of the schema)."))
        elif isinstance(node, ast.TruncateStmt) and existing:
            out.findings.append(LintFinding("risky", "data_loss_truncate", name, st.index, st.sql,
                                            f"Empties `{table[1]}` on this database.", ""))
    if strong_lock_at is not None and not sets_lock_timeout:
        out.findings.append(LintFinding(
            "note", "lock_timeout", name, strong_lock_at.index, strong_lock_at.sql,
            "Takes ACCESS EXCLUSIVE on an existing table without a lock_timeout.", _LOCK_TIMEOUT))


def _enum_uses(out: Plan, name: str, st: Statement, new_values: dict[str, str], eff: Effect, schema: str) -> None:
    for value, cast_to in string_constants(st.node):
        enum = new_values.get(value)
        if enum is None or (cast_to is not None and cast_to != enum):
            continue
        out.enum_uses.append(EnumUse(name, st.index, st.sql, enum, value, eff.table, cast_to == enum))
        return


def _alter_table(out: Plan, state: _State, name: str, st: Statement, eff: Effect, table: Table, existing: bool) -> None:
    node = st.node
    after = state.dml.get(table, "")
    if existing and (eff.rewrites or eff.scans or eff.lock == "ACCESS EXCLUSIVE"):
        type_change = next(((c.name, c.def_.typeName, c.def_.raw_default) for c in node.cmds or ()
                            if c.subtype == AT.AT_AlterColumnType), None)
        hint = "rewrite" if eff.rewrites else ("scan" if eff.scans else "none")
        out.sized.append(Sized(name, st.index, st.sql, eff, hint, type_change))
    for cmd in node.cmds or ():
        sub, col = cmd.subtype, cmd.name
        if sub == AT.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
            cdef = cmd.def_
            cons = list(cdef.constraints or ())
            has_default = any(c.contype in (ConstrType.CONSTR_DEFAULT, ConstrType.CONSTR_IDENTITY,
                                            ConstrType.CONSTR_GENERATED) for c in cons) or \
                strings(cdef.typeName.names)[-1].lower() in ("serial", "bigserial", "smallserial", "serial4", "serial8")
            required = any(c.contype in (ConstrType.CONSTR_NOTNULL, ConstrType.CONSTR_PRIMARY) for c in cons)
            state.added[(table, cdef.colname)] = has_default
            if required and not has_default and existing:
                out.checks.append(Check(
                    Question("rows", table), "required_column_over_rows", name, st.index, st.sql,
                    f"Adds the required column `{cdef.colname}` to `{table[1]}` without a default, and the table has "
                    "rows on this database: every row would hold NULL",
                    f"Add `{cdef.colname}` with a DEFAULT (a constant default does not rewrite the table), or add it "
                    "nullable, backfill it, then SET NOT NULL.", "23502",
                    offline=f"Added the required column `{cdef.colname}` to the `{table[1]}` table without a default "
                    "value. This is not possible if the table is not empty.", offline_severity="risky",
                    after_dml=after))
        elif sub == AT.AT_SetNotNull and existing:
            if (table, col) in state.added:
                if state.added[(table, col)]:
                    continue
                question, fails = Question("rows", table), (
                    f"`{col}` is added by these migrations without a default, so every row of `{table[1]}` holds NULL "
                    "in it, and the table has rows on this database")
            else:
                question, fails = Question("nulls", table, (col,)), (
                    f"Rows of `{table[1]}` hold NULL in `{col}` on this database")
            out.checks.append(Check(
                question, "not_null_over_nulls", name, st.index, st.sql, fails,
                f"Backfill `{col}` first (UPDATE ... WHERE \"{col}\" IS NULL), in this migration or an earlier one.",
                "23502", offline=f"Made the column `{col}` on table `{table[1]}` required. This step will fail if "
                "there are existing NULL values in that column.", offline_severity="risky", after_dml=after))
        elif sub == AT.AT_DropColumn and existing and (table, col) not in state.added:
            out.checks.append(Check(
                Question("values", table, (col,)), "data_loss_drop_column", name, st.index, st.sql,
                f"You are about to drop the column `{col}` on the `{table[1]}` table. All the data in the column will "
                "be lost. (Rows hold values in it on this database.)", _EXPAND, "",
                offline=f"You are about to drop the column `{col}` on the `{table[1]}` table. All the data in the "
                "column will be lost.", offline_severity="risky", violated_severity="risky", after_dml=after))
        elif sub == AT.AT_AlterColumnType and existing and (table, col) not in state.added:
            _type_change(out, state, name, st, table, cmd, after)
        elif sub == AT.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint) and existing:
            _constraint(out, state, name, st, table, cmd.def_, after)


def _type_change(out: Plan, state: _State, name: str, st: Statement, table: Table, cmd, after: str) -> None:
    col, type_node, using = cmd.name, cmd.def_.typeName, cmd.def_.raw_default
    target = strings(type_node.names)[-1] if type_node is not None else ""
    shown = deparse(type_node)
    safer = (f"Add a new column of type {shown}, backfill it in batches, move the application to it, then drop "
             f"`{col}` (expand and contract); or clean the values that do not convert first.")
    if target in state.enums:  # Prisma's enum rebuild: the values outside the new type's labels fail
        labels = state.enums[target]
        out.checks.append(Check(
            Question("outside_labels", table, (col,), labels=labels), "cast_over_values", name, st.index, st.sql,
            f"Rows of `{table[1]}` hold values of `{col}` that the new type {target} does not have "
            f"({', '.join(labels) or 'no labels'}): the conversion fails",
            "Update those rows to a value the new type keeps before this migration runs.", "22P02",
            offline=f"The values of `{col}` outside {target}'s labels make this fail.", offline_severity="risky",
            after_dml=after))
        return
    length = next((m.val.ival for m in type_node.typmods or () if isinstance(m, ast.A_Const)
                   and isinstance(m.val, ast.Integer)), 0) if target in ("varchar", "bpchar", "char") else 0
    column = deparse(ast.ColumnRef(fields=(ast.String(sval=col),)))
    if using is not None:
        expr = deparse(using)
    else:  # an explicit CAST to varchar(n) truncates where ALTER's assignment cast fails: lengths are checked apart
        expr = column if length else f"CAST({column} AS {shown})"
    out.checks.append(Check(
        Question("cast", table, (col,), (expr,), length=length), "cast_over_values", name, st.index, st.sql,
        f"Values of `{col}` in `{table[1]}` do not " + (f"fit in {shown}" if length else f"convert to {shown}") +
        " on this database", safer, "22001" if length else "22P02",
        offline=f"Converting `{col}` to {shown} fails on any value that does not convert.",
        after_dml=after))


def _constraint(out: Plan, state: _State, name: str, st: Statement, table: Table, c: ast.Constraint, after: str) -> None:
    cname = f"`{c.conname}`" if c.conname else "the constraint"
    added_here = {col for (t, col) in state.added if t == table}
    if c.contype in (ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_PRIMARY) and not c.indexname:
        cols = strings(c.keys)
        if set(cols) & added_here:
            return
        pk = c.contype == ConstrType.CONSTR_PRIMARY
        out.checks.append(Check(
            Question("duplicates", table, cols, nulls_distinct=not (pk or c.nulls_not_distinct)),
            "unique_over_duplicates", name, st.index, st.sql,
            f"Rows of `{table[1]}` share values of ({', '.join(cols)}) on this database: {cname} cannot be built",
            "Remove or merge the duplicates first; on a big table build a unique index CONCURRENTLY in its own "
            "migration and add the constraint USING INDEX.", "23505",
            offline=f"A unique constraint covering the columns `[{','.join(cols)}]` on the table `{table[1]}` will be "
            "added. If there are existing duplicate values, this will fail.", offline_severity="risky", after_dml=after))
        if pk:
            for col in cols:
                out.checks.append(Check(
                    Question("nulls", table, (col,)), "not_null_over_nulls", name, st.index, st.sql,
                    f"Rows of `{table[1]}` hold NULL in `{col}`, which a primary key forbids",
                    f"Fill `{col}` first.", "23502", offline="", after_dml=after))
    elif c.contype == ConstrType.CONSTR_FOREIGN and not c.skip_validation:
        cols = strings(c.fk_attrs)
        ref = (c.pktable.schemaname or table[0], c.pktable.relname)
        if set(cols) & added_here:
            return
        ref_new = ref in state.created
        out.checks.append(Check(
            Question("values" if ref_new else "orphans", table, cols, ref_table=None if ref_new else ref,
                     ref_columns=strings(c.pk_attrs)),
            "foreign_key_over_orphans", name, st.index, st.sql,
            f"Rows of `{table[1]}` reference ({', '.join(cols)}) values that `{ref[1]}` does not have on this database"
            + (" (these migrations create it empty)" if ref_new else "") + f": {cname} fails",
            f"Delete or fix the orphan rows first; on a big table add the key NOT VALID and VALIDATE CONSTRAINT "
            "in a later migration (SHARE UPDATE EXCLUSIVE: reads and writes go on).", "23503",
            offline=f"Adding {cname} fails if rows of `{table[1]}` reference missing rows of `{ref[1]}`.",
            after_dml=after))
    elif c.contype == ConstrType.CONSTR_CHECK and not c.skip_validation and c.raw_expr is not None:
        if column_refs(c.raw_expr) & added_here:
            return
        expr = deparse(c.raw_expr)
        out.checks.append(Check(
            Question("violations", table, exprs=(expr,)), "check_over_violations", name, st.index, st.sql,
            f"Rows of `{table[1]}` break CHECK ({one_line(expr, 120)}) on this database",
            "Fix those rows first; on a big table add the check NOT VALID and VALIDATE CONSTRAINT in a later "
            "migration.", "23514", offline=f"The check fails if rows of `{table[1]}` break it.", after_dml=after))


def _index(out: Plan, state: _State, name: str, st: Statement, eff: Effect, table: Table, existing: bool) -> None:
    node: ast.IndexStmt = st.node
    if not existing:
        return
    if not node.concurrent:
        out.sized.append(Sized(name, st.index, st.sql, eff, "index"))
    if not node.unique:
        return
    cols, exprs = [], []
    for elem in node.indexParams or ():
        if elem.name:
            cols.append(elem.name)
        elif elem.expr is not None:
            exprs.append(deparse(elem.expr))
    added_here = {col for (t, col) in state.added if t == table}
    used = set(cols) | set().union(*(column_refs(e.expr) for e in node.indexParams or () if e.expr is not None))
    if used & added_here:
        return
    shown = ",".join(cols + exprs)
    out.checks.append(Check(
        Question("duplicates", table, tuple(cols), tuple(exprs), where=deparse(node.whereClause) if node.whereClause else "",
                 nulls_distinct=not node.nulls_not_distinct),
        "unique_over_duplicates", name, st.index, st.sql,
        f"Rows of `{table[1]}` share values of ({shown}) on this database: the unique index cannot be built",
        "Remove or merge the duplicates first (a migration that deletes them, or a fix in the application).",
        "23505", offline=f"A unique constraint covering the columns `[{shown}]` on the table `{table[1]}` will be "
        "added. If there are existing duplicate values, this will fail.", offline_severity="risky", after_dml=after_of(state, table)))


def after_of(state: _State, table: Table) -> str:
    return state.dml.get(table, "")


def judge(p: Plan, facts: dict[Table, TableFacts] | None, answers: dict[Question, Answer] | None,
          limits: Limits = Limits()) -> tuple[tuple[StatementInfo, ...], tuple[LintFinding, ...]]:
    """The findings of *p* once the target's sizes (*facts*) and *answers* are known (None: offline)."""
    findings = list(p.findings)
    for use in p.enum_uses:
        findings.append(_enum_finding(use, facts))
    for check in p.checks:
        f = _check_finding(check, None if answers is None else answers.get(check.question))
        if f is not None:
            findings.append(f)
    for s in p.sized:
        f = _sized_finding(s, None if facts is None else facts.get(s.effect.table), limits)
        if f is not None:
            findings.append(f)
    infos = []
    for migration, st, eff in p.statements:
        t = facts.get(eff.table) if facts is not None and eff.table is not None else None
        rewrites = eff.rewrites
        sized = next((s for s in p.sized if s.migration == migration and s.index == st.index), None)
        if sized is not None and sized.column_type is not None and t is not None:
            rewrites = _rewrites(sized, t)
        infos.append(StatementInfo(
            migration, st.index, st.sql, eff.kind, ".".join(eff.table) if eff.table in p.existing else None, eff.lock,
            rewrites, eff.scans, t.rows if t else None, t.pages if t else None, t.size_bytes if t else None))
    order = {m: i for i, m in enumerate(dict.fromkeys(m for m, _, _ in p.statements))}
    rank = {"will_fail": 0, "risky": 1, "note": 2}
    findings.sort(key=lambda f: (order.get(f.migration, -1), f.index, rank[f.severity]))
    return tuple(infos), tuple(findings)


def _rewrites(s: Sized, t: TableFacts) -> bool:
    col, type_node, using = s.column_type
    return type_change_rewrites(type_node, using, t.columns.get(col))


def _enum_finding(use: EnumUse, facts: dict[Table, TableFacts] | None) -> LintFinding:
    typed = use.cast
    if not typed and facts is not None and use.table is not None and use.table in facts:
        typed = any(_type_is(t, use.enum) for t in facts[use.table].columns.values())
    why = (f"Uses the value '{use.value}' that this migration adds to the enum {use.enum}: PostgreSQL cannot use a new "
           "enum value in the transaction that adds it, and Prisma runs the migration as one transaction (55P04 "
           "unsafe use of new value).")
    safer = (f"Move ALTER TYPE ... ADD VALUE '{use.value}' to a migration of its own, before the one that uses it.")
    if typed:
        return LintFinding("will_fail", "enum_value_used_in_same_migration", use.migration, use.index, use.statement,
                           why, safer, "55P04")
    return LintFinding("risky", "enum_value_used_in_same_migration", use.migration, use.index, use.statement,
                       why.replace("Uses the value", "Seems to use the value"), safer, "55P04")


def _type_is(formatted: str, enum: str) -> bool:
    return formatted.split(".")[-1].strip('"') == enum


def _check_finding(c: Check, answer: Answer | None) -> LintFinding | None:
    mk = lambda severity, why, sqlstate=None: LintFinding(severity, c.rule, c.migration, c.index, c.statement, why,  # noqa: E731
                                                          c.safer, sqlstate)
    if answer is None:
        return mk(c.offline_severity, c.offline) if c.offline else None
    if answer.outcome == "skipped":
        return mk("note", f"Not checked on this database's data: {answer.note}. {c.offline}".strip())
    if answer.outcome == "clean":
        if answer.sampled:
            return mk("risky" if c.violated_severity == "will_fail" else "note",
                      f"No offending row {answer.sampled}, but the rest of the table was not read. {c.offline}".strip())
        return mk("note", c.clean) if c.clean else None
    count = "" if answer.count is None else (f" ({answer.count:,}{'+' if answer.count >= COUNT_BOUND else ''} found"
                                              f"{' ' + answer.sampled if answer.sampled else ''})")
    why = c.fails.rstrip(".") + count + (f": {answer.note}" if answer.note else "") + "."
    if c.after_dml:
        return mk("risky", f"{why} But {c.after_dml} changes these rows first, so it may pass.")
    return mk(c.violated_severity, why, (answer.sqlstate or c.sqlstate) if c.violated_severity == "will_fail" else None)


def _big(t: TableFacts, limits: Limits) -> bool:
    return (t.rows or 0) >= limits.big_rows or t.size_bytes >= limits.big_bytes


def _size_words(t: TableFacts) -> str:
    rows = "an unknown number of rows (never analysed)" if t.rows is None else f"about {t.rows:,} rows"
    return f"{rows}, {t.size_bytes / (1 << 20):,.0f} MB"


def _sized_finding(s: Sized, t: TableFacts | None, limits: Limits) -> LintFinding | None:
    e, table = s.effect, s.effect.table
    blocks = BLOCKS.get(e.lock or "", "")
    if s.hint == "index":
        safer = ("CREATE INDEX CONCURRENTLY in a migration of its own (SHARE UPDATE EXCLUSIVE: writes go on while it "
                 "builds).")
        base = f"Builds the index under {e.lock}, which blocks {blocks} until the build ends"
    elif s.hint == "rewrite" and (t is None or s.column_type is None or _rewrites(s, t)):
        safer = _EXPAND
        base = f"Rewrites the whole table `{table[1]}` under {e.lock}, which blocks {blocks} until it ends"
    elif s.hint == "rewrite":
        return None  # a type change PostgreSQL makes without touching the rows (a wider varchar or numeric)
    elif s.hint == "scan":
        safer = ("Add a foreign key or CHECK as NOT VALID, then ALTER TABLE ... VALIDATE CONSTRAINT in a later "
                 "migration (SHARE UPDATE EXCLUSIVE); before SET NOT NULL, a validated CHECK (col IS NOT NULL) lets "
                 "PostgreSQL skip the scan.")
        base = f"Reads every row of `{table[1]}` under {e.lock}, which blocks {blocks} until it ends"
    elif s.hint == "update":
        safer = "Update in batches (by key ranges), each in its own transaction, outside the schema migration."
        base = f"Updates every row of `{table[1]}` in one transaction"
    else:
        return None
    if t is None:
        return LintFinding("note", f"lock_{s.hint}", s.migration, s.index, s.statement, base + ".", safer)
    if not _big(t, limits):
        return None
    return LintFinding("risky", f"lock_{s.hint}", s.migration, s.index, s.statement,
                       f"{base}: `{table[1]}` holds {_size_words(t)} on this database.", safer)
