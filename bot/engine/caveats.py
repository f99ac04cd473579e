"""Statements of a migration that can fail on real rows although they apply to an empty schema.

The deploy preview runs pending migrations against a copy of the live schema
without its data, so it cannot see duplicate values, NULLs or orphans. These
are the statements whose success depends on the rows; the preview names them.
"""

from __future__ import annotations

import re

from bot.engine.sources import LocalMigration

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


def _statements(script: str) -> list[str]:
    text = _COMMENT.sub("", script)
    return [s.strip() + ";" for s in text.split(";") if s.strip()]


def data_caveats(migrations: list[LocalMigration] | tuple[LocalMigration, ...]) -> tuple[str, ...]:
    """One line per statement that depends on the data: ``name: statement (why)``."""
    out = []
    for m in migrations:
        for statement in _statements(m.script):
            for pattern, why in _RULES:
                if pattern.search(statement):
                    shown = " ".join(statement.split())
                    shown = shown if len(shown) <= 160 else shown[:157] + "..."
                    out.append(f"{m.name}: {shown} ({why})")
                    break
    return tuple(out)
