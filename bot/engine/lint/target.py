"""The one module of the lint that talks to the target: its catalog (sizes, column types) and bounded,
read-only questions to its data. The rules (``driftbot.engine.lint.rules``) stay pure.

Every question runs in its own READ ONLY transaction with a statement_timeout and a lock_timeout, on the
environment's check role; a table bigger than ``Limits.scan_rows`` is read through TABLESAMPLE (a
violation found in a sample is a proof; a clean sample is said to be a sample). Expressions in these
queries (a CHECK, a USING, an index expression) are the migration's own, deparsed from PostgreSQL's
parse tree; names are composed with ``psycopg.sql.Identifier``.
"""

from __future__ import annotations

import time
from typing import Iterable

import psycopg
from psycopg import sql

from driftbot.engine.lint.rules import COUNT_BOUND, Answer, Limits, Question, Table, TableFacts

_TABLES = """
SELECT n.nspname, c.relname, c.reltuples::bigint, c.relpages::bigint, pg_catalog.pg_table_size(c.oid)
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'm') AND (n.nspname, c.relname) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
"""
_COLUMNS = """
SELECT n.nspname, c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
       coalesce(a.attnum = ANY(i.indkey::int2[]), false)
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary
 WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
 ORDER BY a.attnum
"""


def table_facts(conn: psycopg.Connection, tables: Iterable[Table]) -> dict[Table, TableFacts]:
    """Size (pg_class.reltuples and relpages, pg_table_size) and columns of *tables* that exist."""
    wanted = sorted(set(tables))
    if not wanted:
        return {}
    args = ([s for s, _ in wanted], [t for _, t in wanted])
    columns: dict[Table, dict[str, str]] = {}
    keys: dict[Table, list[str]] = {}
    for schema, table, column, kind, in_pk in conn.execute(_COLUMNS, args):
        columns.setdefault((schema, table), {})[column] = kind
        if in_pk:
            keys.setdefault((schema, table), []).append(column)
    out = {}
    for schema, table, tuples, pages, size in conn.execute(_TABLES, args):
        key = (schema, table)
        out[key] = TableFacts(rows=None if tuples < 0 else int(tuples), pages=int(pages), size_bytes=int(size or 0),
                              columns=columns.get(key, {}), primary_key=tuple(keys.get(key, ())))
    return out


def _source(q: Question, t: TableFacts, limits: Limits) -> tuple[sql.Composable, str]:
    """FROM the table, or a sample of it when it is too big to read within the limits."""
    name = sql.Identifier(*q.table)
    if t.rows is not None and t.rows > limits.scan_rows:
        percent = max(0.01, min(100.0, 100.0 * limits.sample_rows / t.rows))
        return (sql.SQL("{} AS t TABLESAMPLE SYSTEM ({})").format(name, sql.Literal(round(percent, 4))),
                f"in a sample of about {limits.sample_rows:,} of {t.rows:,} rows")
    return sql.SQL("{} AS t").format(name), ""


def _not_null(columns: tuple[str, ...], exprs: tuple[str, ...] = ()) -> sql.Composable:
    parts = [sql.SQL("t.{} IS NOT NULL").format(sql.Identifier(c)) for c in columns]
    parts += [sql.SQL("({}) IS NOT NULL").format(sql.SQL(e)) for e in exprs]
    return sql.SQL(" AND ").join(parts) if parts else sql.SQL("true")


def _bounded(source: sql.Composable, where: sql.Composable) -> sql.Composable:
    return sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} LIMIT {}) AS offending").format(
        source, where, sql.Literal(COUNT_BOUND))


def query(q: Question, facts: dict[Table, TableFacts], limits: Limits) -> tuple[sql.Composable, str] | str:
    """The SQL that answers *q* (counting offending rows), and how much of the table it reads; or why not."""
    t = facts.get(q.table)
    if t is None:
        return f"`{q.table[1]}` is not on this database"
    missing = [c for c in q.columns if c not in t.columns]
    if missing:
        return f"`{q.table[1]}` has no column {', '.join(missing)} here"
    source, sampled = _source(q, t, limits)
    cols = [sql.SQL("t.{}").format(sql.Identifier(c)) for c in q.columns]
    if q.kind == "rows":
        return sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} AS t LIMIT 1) AS offending").format(
            sql.Identifier(*q.table)), ""
    if q.kind == "nulls":
        return _bounded(source, sql.SQL("{} IS NULL").format(cols[0])), sampled
    if q.kind == "values":
        return _bounded(source, _not_null(q.columns)), sampled
    if q.kind == "duplicates":
        keys = cols + [sql.SQL("({})").format(sql.SQL(e)) for e in q.exprs]
        where = _not_null(q.columns, q.exprs) if q.nulls_distinct else sql.SQL("true")
        if q.where:
            where = sql.SQL("({}) AND ({})").format(where, sql.SQL(q.where))
        return sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} GROUP BY {} HAVING count(*) > 1 LIMIT {}) "
                       "AS offending").format(source, where, sql.SQL(", ").join(keys), sql.Literal(COUNT_BOUND)), sampled
    if q.kind == "orphans":
        ref = facts.get(q.ref_table) if q.ref_table else None
        if ref is None:
            return f"`{q.ref_table[1] if q.ref_table else '?'}` is not on this database"
        ref_cols = q.ref_columns or ref.primary_key
        if len(ref_cols) != len(q.columns) or any(c not in ref.columns for c in ref_cols):
            return f"the referenced columns of `{q.ref_table[1]}` are not on this database"
        match = sql.SQL(" AND ").join(sql.SQL("p.{} = t.{}").format(sql.Identifier(r), sql.Identifier(c))
                                      for r, c in zip(ref_cols, q.columns))
        where = sql.SQL("{} AND NOT EXISTS (SELECT 1 FROM {} AS p WHERE {})").format(
            _not_null(q.columns), sql.Identifier(*q.ref_table), match)
        return _bounded(source, where), sampled
    if q.kind == "violations":
        return _bounded(source, sql.SQL("({}) IS FALSE").format(sql.SQL(q.exprs[0]))), sampled
    if q.kind == "outside_labels":
        return _bounded(source, sql.SQL("{c} IS NOT NULL AND {c}::text <> ALL({labels})").format(
            c=cols[0], labels=sql.Literal(list(q.labels)))), sampled
    if q.kind == "cast":
        if q.length:
            return _bounded(source, sql.SQL("length(({})::text) > {}").format(sql.SQL(q.exprs[0]), sql.Literal(q.length))), sampled
        # count(x) evaluates x on every row: a value the conversion refuses raises its error here
        return sql.SQL("SELECT 0 * count(({})) FROM {}").format(sql.SQL(q.exprs[0]), source), sampled
    return f"no check for {q.kind}"


def answer(conn: psycopg.Connection, questions: Iterable[Question], facts: dict[Table, TableFacts],
           limits: Limits = Limits()) -> dict[Question, Answer]:
    """Ask each question on *conn* (autocommit; see ``open_reader``), each bounded in time; all of them within
    ``limits.budget_s``."""
    out: dict[Question, Answer] = {}
    started = time.monotonic()
    for q in questions:
        if time.monotonic() - started > limits.budget_s:
            out[q] = Answer("skipped", note=f"the lint's time budget ({limits.budget_s:g} s) ran out")
            continue
        built = query(q, facts, limits)
        if isinstance(built, str):
            out[q] = Answer("skipped", note=built)
            continue
        statement, sampled = built
        out[q] = _ask(conn, q, statement, sampled, limits)
    return out


def _ask(conn: psycopg.Connection, q: Question, statement: sql.Composable, sampled: str, limits: Limits) -> Answer:
    timeout = f"{limits.probe_timeout_ms}ms"
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute("SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)",
                         (timeout, timeout))
            count = conn.execute(statement).fetchone()[0]
    except psycopg.errors.QueryCanceled:
        return Answer("skipped", note=f"the check did not finish within {limits.probe_timeout_ms / 1000:g} s")
    except psycopg.errors.LockNotAvailable:
        return Answer("skipped", note="the table is locked by another session")
    except psycopg.Error as exc:
        state = exc.sqlstate or ""
        message = (exc.diag.message_primary or str(exc)).strip()
        if q.kind == "cast" and state[:2] in ("22", "23"):
            return Answer("violated", note=message, sqlstate=state, sampled=sampled)
        return Answer("skipped", note=f"the check failed ({message})")
    count = int(count or 0)
    if count:
        return Answer("violated", count=None if q.kind == "rows" else count, sampled=sampled)
    return Answer("clean", sampled=sampled)


def open_reader(conn: psycopg.Connection) -> psycopg.Connection:
    """Make *conn* (autocommit) read-only for everything that follows on it."""
    conn.execute("SET default_transaction_read_only = on")
    return conn
