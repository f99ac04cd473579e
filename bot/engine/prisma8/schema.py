"""The live schema against a Prisma 8 contract (pure).

``compare`` walks the contract's storage (tables, columns, primary keys, uniques, indexes, CHECK
constraints, native enums) against the introspected live ``Snapshot`` and returns two things:

- the issues in Prisma 8's own path form (``missing: database/public/User/column:name``,
  ``mismatch: database/public/native_enum:Role``, ``extra: ...`` that only ``--strict`` shows) and the
  unclaimed elements (tables and enum types no contract declares), as ``db verify`` lists them;
- the expected ``Snapshot``: the live one with every difference undone, so that the existing differ
  and renderers give driftbot's summary and the catch-up SQL (``diff(expected, live)``).

Beyond Prisma 8: a CHECK constraint of a text-plus-CHECK enum whose value set changed under the same
name is invisible to ``db verify`` (it compares names); driftbot compares the values.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from driftbot.engine.inspect import Check, Column, Enum, Index, PrimaryKey, Snapshot, Table

NATIVE_TYPES = {
    "int2": "smallint", "int4": "integer", "int8": "bigint", "float4": "real", "float8": "double precision",
    "bool": "boolean", "text": "text", "varchar": "character varying", "bpchar": "character", "char": "character",
    "timestamptz": "timestamp with time zone", "timestamp": "timestamp without time zone", "date": "date",
    "time": "time without time zone", "timetz": "time with time zone", "uuid": "uuid", "json": "json",
    "jsonb": "jsonb", "bytea": "bytea", "numeric": "numeric", "citext": "citext", "inet": "inet",
}
_LITERAL = re.compile(r"'((?:[^']|'')*)'")


@dataclass(frozen=True)
class ContractDrift:
    issues: tuple[str, ...]  # Prisma 8's form, extras included (``db verify`` shows them only with --strict)
    unclaimed: tuple[str, ...]  # what ``db verify --strict`` calls unclaimed
    expected: Snapshot  # the live snapshot as the contract would have it
    check_values: tuple[str, ...] = ()  # CHECK constraints whose allowed values differ under the same name
    live: Snapshot | None = None
    unclaimed_nodes: int = 0  # what `db verify --strict` counts for the unclaimed tables and types

    @property
    def tolerant(self) -> tuple[str, ...]:
        return tuple(i for i in self.issues if not i.startswith("extra:"))


def _bare(type_name: str) -> str:
    """``"public"."Role"`` / ``"Role"`` -> ``Role``."""
    return type_name.split(".")[-1].strip('"')


def expected_type(column: dict) -> str:
    native = str(column.get("nativeType", ""))
    params = column.get("typeParams") or {}
    if column.get("codecId") == "pg/enum@1":
        return params.get("typeName") or native
    base = NATIVE_TYPES.get(native, native)
    size = params.get("length", params.get("precision"))
    if size is not None and "scale" in params:
        return f"{base}({size},{params['scale']})"
    if size is not None:
        if base.startswith(("timestamp", "time ")):
            word, _, rest = base.partition(" ")
            return f"{word}({size}) {rest}"
        return f"{base}({size})"
    return base


def _type_matches(column: dict, live: Column) -> bool:
    want = expected_type(column)
    if column.get("codecId") == "pg/enum@1":
        return live.is_enum and _bare(live.type) == want
    if live.type == want:
        return True
    has_size = bool((column.get("typeParams") or {}))
    return not has_size and re.sub(r"\(.*?\)", "", live.type).replace("  ", " ") == want


def check_values(definition: str) -> tuple[str, ...]:
    """The string literals a CHECK lists: ``CHECK ((kind = ANY (ARRAY['a'::text, 'b'::text])))`` -> (a, b)."""
    return tuple(v.replace("''", "'") for v in _LITERAL.findall(definition))


def _value_set(namespace: dict, column: dict) -> tuple[str, ...] | None:
    ref = column.get("valueSet")
    if not isinstance(ref, dict):
        return None
    found = (namespace.get("entries", {}).get("valueSet") or {}).get(ref.get("entityName"))
    return tuple(found.get("values", ())) if isinstance(found, dict) else None


def _new_column(name: str, column: dict) -> Column:
    default = column.get("default") or {}
    serial = default.get("kind") == "function" and default.get("expression") == "autoincrement()"
    typ = expected_type(column)
    if serial:
        typ = {"integer": "integer", "bigint": "bigint", "smallint": "smallint"}.get(typ, typ)
    literal = None
    if default.get("kind") == "literal" and isinstance(default.get("value"), str):
        literal = "'" + default["value"].replace("'", "''") + "'"
    return Column(name, f'"{typ}"' if column.get("codecId") == "pg/enum@1" else typ, not bool(column.get("nullable")),
                  default=literal, serial=serial, is_enum=column.get("codecId") == "pg/enum@1")


def table_nodes(table: Table, indexes) -> int:
    """How many elements ``db verify --strict`` counts for an unclaimed table: the table, each column, each
    column default, the primary key (seen: 3 for a one-column table, 12 for ``_prisma_migrations``), and,
    by the same rule, its other indexes and CHECK constraints."""
    defaults = sum(1 for c in table.columns if c.default is not None or c.serial)
    pk = table.primary_key.name if table.primary_key else None
    return 1 + len(table.columns) + defaults + (1 if pk else 0) + len(table.checks) + sum(1 for i in indexes if i.name != pk)


# ``_prisma_migrations`` is never introspected (driftbot.engine.inspect leaves it out); Prisma 8 counts it:
# the table, 8 columns, 2 defaults (started_at, applied_steps_count), the primary key.
LEGACY_TABLE_NODES = 12


def compare(contract: dict, live: Snapshot) -> ContractDrift:
    """The live schema against *contract* (its JSON, as contract.json or ``prisma_contract.contract`` holds it)."""
    namespaces = ((contract.get("storage") or {}).get("namespaces") or {})
    issues: list[str] = []
    unclaimed: list[str] = []
    changed_checks: list[str] = []
    tables = {t.key: t for t in live.tables}
    enums = {e.key: e for e in live.enums}
    indexes = list(live.indexes)
    claimed_tables: set[tuple[str, str]] = set()
    claimed_enums: set[tuple[str, str]] = set()
    claimed_indexes: set[tuple[str, str]] = set()

    for ns_name, ns in namespaces.items():
        schema = ns.get("id") or ns_name
        entries = ns.get("entries") or {}
        for enum_name, spec in sorted((entries.get("native_enum") or {}).items()):
            type_name = spec.get("typeName") or enum_name
            key = (schema, type_name)
            claimed_enums.add(key)
            members = tuple(spec.get("members") or ())
            have = enums.get(key)
            where = f"database/{schema}/native_enum:{type_name}"
            if have is None:
                issues.append(f"missing: {where}")
                enums[key] = Enum(schema, type_name, members)
            elif have.values != members:
                issues.append(f"mismatch: {where}")
                enums[key] = dataclasses.replace(have, values=members)
        for table_name, spec in sorted((entries.get("table") or {}).items()):
            key = (schema, table_name)
            claimed_tables.add(key)
            where = f"database/{schema}/{table_name}"
            columns = spec.get("columns") or {}
            have = tables.get(key)
            if have is None:
                issues.append(f"missing: {where}")
                for col_name, col in sorted(columns.items()):
                    issues.append(f"missing: {where}/column:{col_name}")
                    if col.get("default"):
                        issues.append(f"missing: {where}/column:{col_name}/default")
                if spec.get("primaryKey"):
                    issues.append(f"missing: {where}/primary-key")
                new_cols = tuple(_new_column(n, c) for n, c in sorted(columns.items()))
                pk = spec.get("primaryKey")
                tables[key] = Table(schema, table_name, new_cols,
                                    PrimaryKey(f"{table_name}_pkey", tuple(pk["columns"])) if pk else None,
                                    column_order=tuple(columns))
                continue
            cols = {c.name: c for c in have.columns}
            out_cols = []
            for col_name, col in sorted(columns.items()):
                live_col = cols.get(col_name)
                if live_col is None:
                    issues.append(f"missing: {where}/column:{col_name}")
                    if col.get("default"):
                        issues.append(f"missing: {where}/column:{col_name}/default")
                    out_cols.append(_new_column(col_name, col))
                    continue
                fixed = live_col
                if not _type_matches(col, live_col) or live_col.not_null != (not col.get("nullable")):
                    issues.append(f"mismatch: {where}/column:{col_name}")
                    new = _new_column(col_name, col)
                    fixed = dataclasses.replace(live_col, type=new.type if not _type_matches(col, live_col) else live_col.type,
                                                not_null=new.not_null)
                has_default = live_col.default is not None or live_col.serial or bool(live_col.identity)
                if col.get("default") and not has_default:
                    issues.append(f"missing: {where}/column:{col_name}/default")
                elif not col.get("default") and has_default:
                    issues.append(f"extra: {where}/column:{col_name}/default")
                    fixed = dataclasses.replace(fixed, default=None, serial=False)
                out_cols.append(fixed)
            for extra in sorted(set(cols) - set(columns)):
                issues.append(f"extra: {where}/column:{extra}")
            pk = spec.get("primaryKey")
            primary = have.primary_key
            if pk and (have.primary_key is None or tuple(have.primary_key.columns) != tuple(pk["columns"])):
                issues.append(f"missing: {where}/primary-key")
                primary = PrimaryKey(f"{table_name}_pkey", tuple(pk["columns"]))
            # CHECK constraints: by name, as Prisma 8 does, and by value set, as it does not.
            wanted = {c["name"]: c for c in spec.get("checks") or () if isinstance(c, dict) and c.get("name")}
            checks = []
            for check in have.checks:
                if check.name not in wanted:
                    issues.append(f"extra: {where}/check:{check.name}")
                    continue
                spec_check = wanted[check.name]
                column = next((columns[c] for c in columns if f'"{c}"' in spec_check.get("expression", "")), None)
                values = _value_set(ns, column) if column else None
                if values is not None and tuple(sorted(check_values(check.definition))) != tuple(sorted(values)):
                    changed_checks.append(f"{table_name}.{check.name}")
                    checks.append(Check(check.name, f"CHECK ({spec_check['expression']})"))
                else:
                    checks.append(check)
            for name in sorted(set(wanted) - {c.name for c in have.checks}):
                issues.append(f"missing: {where}/check:{name}")
                checks.append(Check(name, f"CHECK ({wanted[name]['expression']})"))
            tables[key] = dataclasses.replace(have, columns=tuple(sorted(out_cols, key=lambda c: c.name)),
                                              primary_key=primary, checks=tuple(checks))
            # Uniques and indexes: claimed by their columns.
            table_indexes = [i for i in indexes if (i.schema, i.table) == key]
            pk_name = have.primary_key.name if have.primary_key else None
            for unique in spec.get("uniques") or ():
                cols_ = tuple(unique.get("columns") or ())
                found = next((i for i in table_indexes if i.unique and tuple(i.columns) == cols_ and i.name != pk_name), None)
                if found is None:
                    issues.append(f"missing: {where}/unique:{','.join(cols_)}")
                    indexes.append(Index(schema, table_name, unique.get("name") or f"{table_name}_{'_'.join(cols_)}_key",
                                         True, cols_, (False,) * len(cols_), constraint=True))
                else:
                    claimed_indexes.add(found.key)
            for index in spec.get("indexes") or ():
                cols_ = tuple(index.get("columns") or ())
                found = next((i for i in table_indexes if tuple(i.columns) == cols_ and i.name != pk_name), None)
                if found is None:
                    issues.append(f"missing: {where}/index:{index.get('name') or ','.join(cols_)}")
                else:
                    claimed_indexes.add(found.key)
            for i in table_indexes:
                if i.name != pk_name and i.key not in claimed_indexes:
                    issues.append(f"extra: {where}/index:{i.name}")
                    indexes.remove(i)

    schemas = {ns.get("id") or name for name, ns in namespaces.items()}
    nodes = 0
    for key in sorted(tables):
        if key[0] in schemas and key not in claimed_tables:
            unclaimed.append(key[1] if key[0] == live.default_schema else f"{key[0]}.{key[1]}")
            nodes += table_nodes(tables[key], [i for i in indexes if (i.schema, i.table) == key])
            del tables[key]
    for key in sorted(enums):
        if key[0] in schemas and key not in claimed_enums:
            unclaimed.append(f"native_enum:{key[1]}" if key[0] == live.default_schema else f"native_enum:{key[0]}.{key[1]}")
            nodes += 1
            del enums[key]
    kept = set(tables)
    expected = dataclasses.replace(
        live,
        tables=tuple(tables[k] for k in sorted(tables)),
        enums=tuple(enums[k] for k in sorted(enums)),
        indexes=tuple(i for i in indexes if (i.schema, i.table) in kept),
        foreign_keys=tuple(f for f in live.foreign_keys if (f.schema, f.table) in kept and (f.ref_schema, f.ref_table) in kept),
        sequences=live.sequences,
    )
    return ContractDrift(tuple(issues), tuple(unclaimed), expected, tuple(changed_checks), live, nodes)
