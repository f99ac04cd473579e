"""Statements of a migration that can fail on real rows although they apply to an empty schema.

The deploy preview runs pending migrations against a copy of the live schema
without its data, so it cannot see duplicate values, NULLs or orphans. These
are the statements whose success depends on the rows; the preview names them,
but only on tables that hold rows (or may: whatever cannot be read counts as
filled). A table the database does not have yet, or one that is empty, cannot
fail on rows: an empty database of 800 pending migrations gets no caveat at all.
"""

from __future__ import annotations

import re
from typing import Callable

from driftbot.engine.sources import LocalMigration

_COMMENT = re.compile(r"--[^\n]*")
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bSET\s+NOT\s+NULL\b", re.I), "fails if any row holds NULL"),
    (re.compile(r"\bADD\s+COLUMN\b(?:(?!\bDEFAULT\b)[^;])*\bNOT\s+NULL\b(?:(?!\bDEFAULT\b)[^;])*;", re.I),
     "a NOT NULL column without a default fails on a table that has rows"),
    (re.compile(r"\bCREATE\s+UNIQUE\s+INDEX\b", re.I), "fails if existing rows hold duplicate values"),
    (re.compile(r"\bADD\s+CONSTRAINT\b[^;]*\bUNIQUE\b", re.I), "fails if existing rows hold duplicate values"),
    (re.compile(r"\bADD\s+CONSTRAINT\b[^;]*\bPRIMARY\s+KEY\b", re.I), "fails on duplicate or NULL key values"),
    (re.compile(r"\bADD\s+CONSTRAINT\b[^;]*\bFOREIGN\s+KEY\b(?![^;]*\bNOT\s+VALID\b)", re.I),
     "fails if existing rows reference missing rows"),
    (re.compile(r"\bADD\s+CONSTRAINT\b[^;]*\bCHECK\b(?![^;]*\bNOT\s+VALID\b)", re.I), "fails if existing rows violate the check"),
    (re.compile(r"\bALTER\s+COLUMN\b[^;]*\bTYPE\b", re.I), "fails if existing values cannot be converted"),
)


_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_QUALIFIED = rf"({_NAME}(?:\s*\.\s*{_NAME})?)"
# The table a statement of _RULES changes: ALTER TABLE [IF EXISTS] [ONLY] t ..., CREATE UNIQUE INDEX ... ON [ONLY] t.
_TARGET = re.compile(rf"^(?:ALTER\s+TABLE(?:\s+IF\s+EXISTS)?(?:\s+ONLY)?|CREATE\s+UNIQUE\s+INDEX\b.*?\bON(?:\s+ONLY)?)"
                     rf"\s+{_QUALIFIED}", re.I | re.S)
# Statements that put rows into a table: a pending migration may fill a table it creates.
_FILLS = re.compile(rf"\b(?:INSERT\s+INTO|COPY)\s+{_QUALIFIED}", re.I)

HasRows = Callable[[str | None, str], bool]  # (schema or None for the default, table) -> rows there now


def _ident(part: str) -> str:
    part = part.strip()
    return part[1:-1].replace('""', '"') if part.startswith('"') else part.lower()


def table_of(statement: str) -> tuple[str | None, str] | None:
    """``(schema or None, table)`` a data-dependent statement changes, when it can be read."""
    m = _TARGET.match(statement.strip())
    if m is None:
        return None
    parts = re.findall(_NAME, m.group(1))
    if len(parts) == 2:
        return _ident(parts[0]), _ident(parts[1])
    return None, _ident(parts[0])


def _filled(migrations) -> set[str]:
    return {_ident(re.findall(_NAME, m.group(1))[-1]) for mig in migrations for m in _FILLS.finditer(mig.script)}


def _statements(script: str) -> list[str]:
    text = _COMMENT.sub("", script)
    return [s.strip() + ";" for s in text.split(";") if s.strip()]


def data_caveats(migrations: list[LocalMigration] | tuple[LocalMigration, ...],
                 has_rows: HasRows | None = None) -> tuple[str, ...]:
    """One line per statement that depends on the data: ``name: statement (why)``. *has_rows*: whether a
    table holds rows now (None: every table may); a statement on a table without rows, that no pending
    migration fills, cannot fail on rows and is left out."""
    out = []
    filled = _filled(migrations) if has_rows is not None else set()
    for m in migrations:
        for statement in _statements(m.script):
            for pattern, why in _RULES:
                if pattern.search(statement):
                    target = table_of(statement) if has_rows is not None else None
                    if target is not None and target[1] not in filled and not has_rows(*target):
                        break
                    shown = " ".join(statement.split())
                    shown = shown if len(shown) <= 160 else shown[:157] + "..."
                    out.append(f"{m.name}: {shown} ({why})")
                    break
    return tuple(out)
