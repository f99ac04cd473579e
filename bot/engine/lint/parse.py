"""A migration's statements as PostgreSQL's own parser reads them (pglast: libpg_query, the server's parser
compiled as a library). Never regular expressions: comments, dollar-quoted bodies and quoted names with
semicolons in them are read exactly as the server will read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from pglast import ast, parse_sql
from pglast.parser import ParseError
from pglast.stream import RawStream


@dataclass(frozen=True)
class Statement:
    index: int  # from 1, in the file's order
    sql: str
    node: Any  # the pglast node of the statement (ast.AlterTableStmt, ast.IndexStmt, ...)


@dataclass(frozen=True)
class Unparsable:
    message: str
    sql: str  # the text around the error


def statements(script: str) -> tuple[Statement, ...] | Unparsable:
    """The statements of one migration.sql, or why the parser refuses it."""
    try:
        raws = parse_sql(script)
    except ParseError as exc:
        at = exc.location if isinstance(getattr(exc, "location", None), int) else 0
        start = script.rfind(";", 0, at) + 1
        end = script.find(";", at)
        return Unparsable(str(exc), script[start:end if end >= 0 else len(script)].strip())
    out = []
    for i, raw in enumerate(raws or (), start=1):
        start = raw.stmt_location or 0
        end = start + raw.stmt_len if raw.stmt_len else len(script)
        out.append(Statement(i, script[start:end].strip(), raw.stmt))
    return tuple(out)


def deparse(node: Any) -> str:
    """SQL text for a parsed expression or type, with identifiers quoted where PostgreSQL needs it."""
    return RawStream()(node)


def name_of(rangevar: ast.RangeVar | None, default_schema: str) -> tuple[str, str] | None:
    """(schema, table) of a table reference; unqualified names resolve to the target's schema, as
    Prisma's ``?schema=`` search path makes them."""
    if rangevar is None:
        return None
    return (rangevar.schemaname or default_schema, rangevar.relname)


def strings(names: tuple | None) -> tuple[str, ...]:
    """A pglast list of String nodes (a qualified name, a column list) as plain strings."""
    return tuple(n.sval for n in names or () if isinstance(n, ast.String))


def type_name(type_node: ast.TypeName | None) -> str:
    """A type as written, without pg_catalog's prefix (``varchar(30)``, ``"Role"``)."""
    return deparse(type_node) if type_node is not None else ""


def children(n: Any) -> Iterator[Any]:
    """The values directly below *n* in a parse tree (a node's attributes, a tuple's items)."""
    if isinstance(n, ast.Node):
        for attr in n:
            yield getattr(n, attr)
    elif isinstance(n, tuple):
        yield from n


def walk(n: Any) -> Iterator[Any]:
    """*n* and everything below it in a parse tree, parents first."""
    yield n
    for child in children(n):
        yield from walk(child)


def column_refs(node: Any) -> set[str]:
    """The column names an expression reads (the last part of each column reference)."""
    return {n.fields[-1].sval for n in walk(node)
            if isinstance(n, ast.ColumnRef) and n.fields and isinstance(n.fields[-1], ast.String)}


def string_constants(node: Any) -> list[tuple[str, str | None]]:
    """Every string constant in a statement, with the type it is cast to where it is cast (``'V'::"E"``)."""
    found: list[tuple[str, str | None]] = []

    def visit(n: Any, cast_to: str | None = None) -> None:
        if isinstance(n, ast.TypeCast) and isinstance(n.arg, ast.A_Const):
            names = strings(n.typeName.names) if n.typeName is not None else ()
            visit(n.arg, names[-1] if names else None)
            return
        if isinstance(n, ast.A_Const) and isinstance(n.val, ast.String):
            found.append((n.val.sval, cast_to))
            return
        for child in children(n):
            visit(child)

    visit(node)
    return found
