"""The table lock each statement takes, and whether it rewrites or scans the table.

From PostgreSQL's documentation of lock levels, which this table follows line by line:
  https://www.postgresql.org/docs/current/explicit-locking.html  (13.3.1, "Table-Level Locks": which
      commands acquire which mode)
  https://www.postgresql.org/docs/current/sql-altertable.html    (the lock of each ALTER TABLE form,
      in its description and notes: "ACCESS EXCLUSIVE unless explicitly noted")
  https://www.postgresql.org/docs/current/sql-createindex.html   (SHARE; CONCURRENTLY: SHARE UPDATE EXCLUSIVE)
  https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES (which forms rewrite
      the table: a volatile DEFAULT, a type change that is not binary coercible, SET LOGGED/UNLOGGED...)
Pure: a parsed statement in, an ``Effect`` out.
"""

from __future__ import annotations

from dataclasses import dataclass

from pglast import ast
from pglast.enums import AlterTableType as AT
from pglast.enums import ConstrType, ObjectType

from driftbot.engine.lint.parse import name_of, strings, walk

# The modes from weakest to strongest (13.3.1); each conflicts with more than the one before it.
MODES = ("ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE",
         "EXCLUSIVE", "ACCESS EXCLUSIVE")
# What each mode stops while it is held, for the message.
BLOCKS = {
    "ACCESS EXCLUSIVE": "every read and write of the table",
    "EXCLUSIVE": "every write of the table",
    "SHARE ROW EXCLUSIVE": "every write of the table",
    "SHARE": "every write of the table",
    "SHARE UPDATE EXCLUSIVE": "schema changes and VACUUM on the table, not reads or writes",
    "ROW EXCLUSIVE": "only schema changes of the table",
}

# ALTER TABLE forms that take less than ACCESS EXCLUSIVE (sql-altertable.html says so form by form).
_ALTER_TABLE_LOCK = {
    AT.AT_SetStatistics: "SHARE UPDATE EXCLUSIVE",
    AT.AT_SetOptions: "SHARE UPDATE EXCLUSIVE",  # ALTER COLUMN SET (attribute_option)
    AT.AT_ResetOptions: "SHARE UPDATE EXCLUSIVE",
    AT.AT_ClusterOn: "SHARE UPDATE EXCLUSIVE",
    AT.AT_DropCluster: "SHARE UPDATE EXCLUSIVE",
    AT.AT_SetRelOptions: "SHARE UPDATE EXCLUSIVE",  # fillfactor, autovacuum and toast options
    AT.AT_ResetRelOptions: "SHARE UPDATE EXCLUSIVE",
    AT.AT_ValidateConstraint: "SHARE UPDATE EXCLUSIVE",
    AT.AT_AttachPartition: "SHARE UPDATE EXCLUSIVE",  # on the parent
    AT.AT_EnableTrig: "SHARE ROW EXCLUSIVE",
    AT.AT_EnableAlwaysTrig: "SHARE ROW EXCLUSIVE",
    AT.AT_EnableReplicaTrig: "SHARE ROW EXCLUSIVE",
    AT.AT_DisableTrig: "SHARE ROW EXCLUSIVE",
    AT.AT_EnableTrigAll: "SHARE ROW EXCLUSIVE",
    AT.AT_DisableTrigAll: "SHARE ROW EXCLUSIVE",
    AT.AT_EnableTrigUser: "SHARE ROW EXCLUSIVE",
    AT.AT_DisableTrigUser: "SHARE ROW EXCLUSIVE",
}
_REWRITES = {AT.AT_SetLogged, AT.AT_SetUnLogged, AT.AT_SetTableSpace, AT.AT_SetAccessMethod}
# Functions whose value differs per row: a DEFAULT calling one makes ADD COLUMN rewrite the table.
VOLATILE = {"gen_random_uuid", "uuid_generate_v4", "uuid_generate_v1", "uuid_generate_v1mc", "random",
            "clock_timestamp", "timeofday", "nextval", "txid_current", "uuidv4", "uuidv7", "cuid", "gen_random_bytes"}
# Type changes that are binary coercible (no rewrite) as the notes of ALTER TABLE list them.
_TEXTUAL = {"text", "varchar", "character varying", "citext"}


@dataclass(frozen=True)
class Effect:
    kind: str
    table: tuple[str, str] | None = None  # the table it locks (its schema and name)
    lock: str | None = None
    rewrites: bool = False
    scans: bool = False
    others: tuple[tuple[tuple[str, str], str], ...] = ()  # other tables it locks (a foreign key's referenced table)
    outside_transaction: bool = False  # PostgreSQL refuses it in a transaction block (25001)


def stronger(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    return a if MODES.index(a) >= MODES.index(b) else b


def volatile_default(expr) -> bool:
    """Whether a DEFAULT expression calls a function whose value differs per row."""
    return any(isinstance(n, ast.FuncCall) and strings(n.funcname) and strings(n.funcname)[-1].lower() in VOLATILE
               for n in walk(expr))


def _type_words(type_node) -> tuple[str, tuple[int, ...]]:
    names = strings(type_node.names) if type_node is not None else ()
    base = names[-1].lower() if names else ""
    mods = tuple(m.val.ival for m in type_node.typmods or () if isinstance(m, ast.A_Const) and isinstance(m.val, ast.Integer)) \
        if type_node is not None else ()
    return {"varchar": "varchar", "bpchar": "char", "int4": "integer", "int8": "bigint", "int2": "smallint"}.get(base, base), mods


def type_change_rewrites(type_node, using, before: str | None = None) -> bool:
    """Whether ALTER COLUMN TYPE rewrites the table. Without the column's current type (offline), only a
    change to unbounded text is known to be free; with it (``before``, ``format_type``), widening a
    varchar or numeric is too. A USING expression always rewrites."""
    if using is not None:
        return True
    base, mods = _type_words(type_node)
    if base in ("text", "citext") and before is None:
        return True  # from what? offline we cannot tell: assume the worst
    if before is None:
        return True
    b = before.lower()
    if base in ("text",) and (b.startswith("character varying") or b == "text"):
        return False
    if base == "varchar" and (b.startswith("character varying") or b == "text"):
        if not mods:
            return False
        if b.startswith("character varying(") and int(b[len("character varying("):-1]) <= mods[0]:
            return False
        return b == "text" or b.startswith("character varying(")  # shrinking: a scan to check, and a rewrite
    if base == "numeric" and b.startswith("numeric"):
        if not mods:
            return False
        if b.startswith("numeric(") and "," in b:
            p, s = (int(x) for x in b[len("numeric("):-1].split(","))
            return not (mods[0] >= p and (mods[1] if len(mods) > 1 else 0) == s)
    return True


def shrinks_text(type_node, before: str | None) -> bool:
    """A change to a shorter varchar: no rewrite's worth of work, but a scan that fails on longer values."""
    base, mods = _type_words(type_node)
    return base in ("varchar", "char") and bool(mods) and before is not None and (
        before.lower() == "text" or before.lower().startswith("character varying"))


def _alter_table(node: ast.AlterTableStmt, schema: str) -> Effect:
    table = name_of(node.relation, schema)
    lock, rewrites, scans, others = None, False, False, []
    for cmd in node.cmds or ():
        sub = cmd.subtype
        mode = _ALTER_TABLE_LOCK.get(sub, "ACCESS EXCLUSIVE")
        if sub in _REWRITES:
            rewrites = True
        if sub == AT.AT_SetNotNull or sub == AT.AT_ValidateConstraint or sub == AT.AT_AttachPartition:
            scans = True
        if sub == AT.AT_AlterColumnType:
            scans = True
            rewrites = rewrites or type_change_rewrites(cmd.def_.typeName, cmd.def_.raw_default)
        if sub == AT.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
            for c in cmd.def_.constraints or ():
                if c.contype == ConstrType.CONSTR_DEFAULT and volatile_default(c.raw_expr):
                    rewrites = True
                if c.contype in (ConstrType.CONSTR_IDENTITY, ConstrType.CONSTR_GENERATED):
                    rewrites = True
                if c.contype in (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_CHECK):
                    scans = True
            if _type_words(cmd.def_.typeName)[0] in ("serial", "bigserial", "smallserial", "serial4", "serial8"):
                rewrites = True
        if sub == AT.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
            c = cmd.def_
            if c.contype == ConstrType.CONSTR_FOREIGN:
                mode = "SHARE ROW EXCLUSIVE"
                ref = name_of(c.pktable, schema)
                if ref is not None:
                    others.append((ref, "SHARE ROW EXCLUSIVE"))
            if not c.skip_validation and c.contype in (ConstrType.CONSTR_FOREIGN, ConstrType.CONSTR_CHECK,
                                                       ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE,
                                                       ConstrType.CONSTR_EXCLUSION):
                scans = True
        lock = stronger(lock, mode)
    return Effect("ALTER TABLE", table, lock, rewrites, scans, tuple(others))


def effect(node, schema: str) -> Effect:
    """What a parsed statement locks, rewrites and scans. Tables are (schema, name), unqualified names in
    *schema*."""
    if isinstance(node, ast.AlterTableStmt):
        if node.objtype == ObjectType.OBJECT_TABLE:
            return _alter_table(node, schema)
        return Effect("ALTER " + node.objtype.name.removeprefix("OBJECT_").replace("_", " "),
                      name_of(node.relation, schema), "ACCESS EXCLUSIVE")
    if isinstance(node, ast.IndexStmt):
        table = name_of(node.relation, schema)
        if node.concurrent:
            return Effect("CREATE INDEX CONCURRENTLY", table, "SHARE UPDATE EXCLUSIVE", scans=True,
                          outside_transaction=True)
        return Effect("CREATE UNIQUE INDEX" if node.unique else "CREATE INDEX", table, "SHARE", scans=True)
    if isinstance(node, ast.CreateStmt):
        refs = []
        for elt in node.tableElts or ():
            cons = list(getattr(elt, "constraints", None) or ()) if isinstance(elt, ast.ColumnDef) else [elt]
            for c in cons:
                if isinstance(c, ast.Constraint) and c.contype == ConstrType.CONSTR_FOREIGN:
                    ref = name_of(c.pktable, schema)
                    if ref is not None:
                        refs.append((ref, "SHARE ROW EXCLUSIVE"))
        return Effect("CREATE TABLE", others=tuple(refs))
    if isinstance(node, ast.DropStmt):
        what = node.removeType
        if what == ObjectType.OBJECT_TABLE:
            first = strings(node.objects[0]) if node.objects else ()
            table = (first[-2] if len(first) > 1 else schema, first[-1]) if first else None
            return Effect("DROP TABLE", table, "ACCESS EXCLUSIVE")
        if what == ObjectType.OBJECT_INDEX:
            if node.concurrent:
                return Effect("DROP INDEX CONCURRENTLY", None, "SHARE UPDATE EXCLUSIVE", outside_transaction=True)
            return Effect("DROP INDEX", None, "ACCESS EXCLUSIVE")
        return Effect("DROP " + what.name.removeprefix("OBJECT_").replace("_", " "))
    if isinstance(node, ast.RenameStmt):
        kind = node.renameType
        if kind == ObjectType.OBJECT_INDEX:  # ALTER INDEX ... RENAME (PostgreSQL 12 and later)
            return Effect("ALTER INDEX RENAME", None, "SHARE UPDATE EXCLUSIVE")
        if kind in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_COLUMN, ObjectType.OBJECT_TABCONSTRAINT):
            return Effect("RENAME", name_of(node.relation, schema), "ACCESS EXCLUSIVE")
        return Effect("RENAME")
    if isinstance(node, ast.CreateTrigStmt):
        return Effect("CREATE TRIGGER", name_of(node.relation, schema), "SHARE ROW EXCLUSIVE")
    if isinstance(node, (ast.UpdateStmt, ast.DeleteStmt)):
        kind = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
        return Effect(kind, name_of(node.relation, schema), "ROW EXCLUSIVE", scans=True)
    if isinstance(node, ast.InsertStmt):
        return Effect("INSERT", name_of(node.relation, schema), "ROW EXCLUSIVE")
    if isinstance(node, ast.TruncateStmt):
        return Effect("TRUNCATE", name_of(node.relations[0], schema) if node.relations else None, "ACCESS EXCLUSIVE")
    if isinstance(node, ast.ReindexStmt):
        concurrent = any(getattr(p, "defname", "") == "concurrently" for p in node.params or ())
        return Effect("REINDEX", name_of(node.relation, schema), "SHARE UPDATE EXCLUSIVE" if concurrent else "SHARE",
                      scans=True, outside_transaction=concurrent)
    if isinstance(node, ast.VacuumStmt):
        return Effect("VACUUM" if node.is_vacuumcmd else "ANALYZE", None, "SHARE UPDATE EXCLUSIVE",
                      outside_transaction=node.is_vacuumcmd)
    if isinstance(node, ast.RefreshMatViewStmt):
        return Effect("REFRESH MATERIALIZED VIEW", name_of(node.relation, schema),
                      "EXCLUSIVE" if node.concurrent else "ACCESS EXCLUSIVE", scans=True)
    if isinstance(node, (ast.CreatePolicyStmt, ast.AlterPolicyStmt)):
        return Effect("POLICY", name_of(node.table, schema), "ACCESS EXCLUSIVE")
    if isinstance(node, ast.LockStmt):
        # lockmodes.h numbers the modes 1 (ACCESS SHARE) to 8 (ACCESS EXCLUSIVE), in MODES' order.
        return Effect("LOCK", name_of(node.relations[0], schema) if node.relations else None,
                      MODES[max(0, min(len(MODES), node.mode) - 1)])
    if isinstance(node, ast.CommentStmt) and node.objtype in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_COLUMN):
        return Effect("COMMENT", None, "SHARE UPDATE EXCLUSIVE")
    if isinstance(node, (ast.CreatedbStmt, ast.DropdbStmt, ast.AlterSystemStmt)):
        return Effect(type(node).__name__.removesuffix("Stmt").upper(), outside_transaction=True)
    return Effect(_kind_words(node))


def _kind_words(node) -> str:
    words = {ast.CreateEnumStmt: "CREATE TYPE", ast.AlterEnumStmt: "ALTER TYPE", ast.CreateFunctionStmt: "CREATE FUNCTION",
             ast.CreateExtensionStmt: "CREATE EXTENSION", ast.DoStmt: "DO", ast.ViewStmt: "CREATE VIEW",
             ast.TransactionStmt: "TRANSACTION", ast.VariableSetStmt: "SET", ast.GrantStmt: "GRANT",
             ast.CreateSeqStmt: "CREATE SEQUENCE", ast.AlterSeqStmt: "ALTER SEQUENCE", ast.SelectStmt: "SELECT",
             ast.CreateSchemaStmt: "CREATE SCHEMA", ast.CommentStmt: "COMMENT"}
    return words.get(type(node), type(node).__name__.removesuffix("Stmt"))
