"""Introspection: pg_catalog -> ``Snapshot`` in nine queries, whatever the number of tables."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from driftbot.engine.inspect import normalize
from driftbot.engine.inspect.model import (
    FK_ACTIONS, Check, Column, Enum, Extension, ForeignKey, Function, Index, Policy, PrimaryKey, RowSecurity, Sequence,
    Snapshot, Table, Trigger, View,
)

_QUERIES = {p.stem: p.read_text(encoding="utf-8") for p in (Path(__file__).parent / "queries").glob("*.sql")}
# PostgreSQL 14 added SQL-standard bodies (BEGIN ATOMIC): their source is a parse tree, not prosrc.
_SQLBODY = "CASE WHEN p.prosqlbody IS NOT NULL THEN pg_catalog.pg_get_function_sqlbody(p.oid) ELSE p.prosrc END AS body, --"
_NEXTVAL = re.compile(r"^nextval\('(?P<seq>.+)'::regclass\)$")


def _seq_name(text: str) -> str:
    """The bare name in a regclass text such as ``x_seq``, ``"User_id_seq"`` or ``s."x_seq"``."""
    parts, cur, quoted, i = [], "", False, 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            if quoted and text[i + 1 : i + 2] == '"':
                cur, i = cur + '"', i + 2
                continue
            quoted = not quoted
        elif ch == "." and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    return cur


def _column(row: dict) -> Column:
    default = row["default"]
    serial = False
    if default and row["owned_sequence"] and row["identity"] == "":
        m = _NEXTVAL.match(default)
        if m and _seq_name(m["seq"]) == row["owned_sequence"]:
            default, serial = None, True  # the sequence's name is an accident of history, not schema
    return Column(
        name=row["column"], type=row["type"], not_null=row["not_null"], default=normalize.column_default(default),
        serial=serial,
        identity=row["identity"] or "", generated=row["generated"] or "", is_enum=bool(row["is_enum"]),
    )


def introspect(conn: psycopg.Connection, schemas: tuple[str, ...], default_schema: str = "public") -> Snapshot:
    """Read the schema objects of *schemas* from *conn* into a ``Snapshot``.

    Runs in one read-only transaction. ``_prisma_migrations`` is never part of it.
    """
    schemas = tuple(dict.fromkeys(schemas))
    params = {"schemas": list(schemas)}
    fresh = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        if fresh:  # inside a caller's transaction (tests) it is a savepoint, where this is not allowed
            cur.execute("SET TRANSACTION READ ONLY")
        # format_type, pg_get_expr and pg_get_*def qualify names by the session's search_path. The
        # target's role and the shadow connection have different ones, so pin it: names in the
        # default schema print bare (as Prisma writes them), others qualified, on both sides.
        saved = cur.execute("SELECT current_setting('search_path') AS path").fetchone()["path"]
        cur.execute("SELECT set_config('search_path', %s, true)", (sql.Identifier(default_schema).as_string(conn),))
        queries = dict(_QUERIES)
        if conn.info.server_version >= 140000:
            queries["functions"] = queries["functions"].replace("/*sqlbody*/", _SQLBODY)
        rows = {name: cur.execute(text, params).fetchall() for name, text in queries.items()}
        if not fresh:  # a caller's transaction keeps its own setting
            cur.execute("SELECT set_config('search_path', %s, true)", (saved,))

    columns: dict[tuple[str, str], list[Column]] = defaultdict(list)
    order: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in rows["columns"]:
        key = (r["schema"], r["table"])
        columns.setdefault(key, [])
        if r["column"] is not None:
            columns[key].append(_column(r))
            order[key].append(r["column"])

    pks: dict[tuple[str, str], PrimaryKey] = {}
    checks: dict[tuple[str, str], list[Check]] = defaultdict(list)
    indexes: list[Index] = []
    fks: list[ForeignKey] = []
    for r in rows["constraints"]:
        key = (r["schema"], r["table"])
        if r["kind"] == "p":
            pks[key] = PrimaryKey(r["name"], tuple(r["columns"]))
        elif r["kind"] == "c":
            checks[key].append(Check(r["name"], r["definition"]))
        elif r["kind"] == "u":
            indexes.append(Index(r["schema"], r["table"], r["name"], True, tuple(r["columns"]),
                                 constraint=True, definition=r["definition"]))
        else:
            fks.append(ForeignKey(
                r["schema"], r["table"], r["name"], tuple(r["columns"]), r["ref_schema"], r["ref_table"],
                tuple(r["ref_columns"]), FK_ACTIONS[r["on_delete"]], FK_ACTIONS[r["on_update"]],
                r["deferrable"], r["deferred"],
            ))
    for r in rows["indexes"]:
        indexes.append(Index(
            r["schema"], r["table"], r["name"], r["is_unique"], tuple(r["columns"]), tuple(r["descending"]),
            r["method"], r["partial"], r["complex"] or None in r["columns"], False, r["definition"], r["valid"],
        ))

    tables = tuple(
        Table(s, t, tuple(sorted(cols, key=lambda c: c.name)), pks.get((s, t)),
              tuple(sorted(checks.get((s, t), ()), key=lambda c: c.name)), tuple(order[(s, t)]))
        for (s, t), cols in columns.items()
    )
    sequences, views = [], []
    for r in rows["relations"]:
        if r["kind"] == "S":
            sequences.append(Sequence(r["schema"], r["name"], r["seq_type"], r["seq_start"], r["seq_increment"]))
        else:
            views.append(View(r["schema"], r["name"], r["definition"], r["kind"] == "m"))
    return Snapshot(
        schemas=schemas,
        default_schema=default_schema,
        tables=tuple(sorted(tables, key=lambda t: t.key)),
        indexes=tuple(sorted(indexes, key=lambda i: (i.schema, i.table, i.name))),
        foreign_keys=tuple(sorted(fks, key=lambda f: f.key)),
        enums=tuple(Enum(r["schema"], r["name"], tuple(r["values"])) for r in rows["types"]),
        sequences=tuple(sequences),
        views=tuple(views),
        extensions=tuple(Extension(r["name"], r["schema"]) for r in rows["extensions"]),
        functions=tuple(
            Function(r["schema"], r["name"], r["arguments"], r["kind"], r["result"], r["language"], r["body"],
                     r["volatility"], r["strict"], r["security_definer"], tuple(r["config"]), r["definition"])
            for r in rows["functions"]
        ),
        triggers=tuple(Trigger(r["schema"], r["table"], r["name"], r["definition"], r["enabled"])
                       for r in rows["triggers"]),
        row_security=tuple(RowSecurity(r["schema"], r["table"], r["enabled"], r["forced"])
                           for r in rows["policies"] if r["kind"] == "table"),
        policies=tuple(Policy(r["schema"], r["table"], r["name"], r["command"], r["permissive"], tuple(r["roles"]),
                              r["using"], r["with_check"])
                       for r in rows["policies"] if r["kind"] == "policy"),
    )
