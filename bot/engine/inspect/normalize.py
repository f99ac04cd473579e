"""Spellings that differ between PostgreSQL major versions for the same schema.

The shadow server may run another major version than the target (managed
databases lag or lead), so the snapshot compares these in a version-neutral
form. Measured between 15 and 18 on the same histories and on a catalogue of
column defaults, index, check, unique and foreign-key definitions, identity and
serial columns, sequences and collations: only view definitions differ.
Since 16, ``pg_get_viewdef`` leaves column references unqualified when the
query has a single relation (``max(ts)`` where 15 printed ``max("Bat".ts)``).
"""

from __future__ import annotations

import re
from functools import lru_cache

# One token of deparsed SQL: a string literal, a quoted identifier, a bare word, whitespace, or one character.
_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*|\s+|.""", re.S)


def _is_name(token: str) -> bool:
    return token[0] == '"' or token[0].isalpha() or token[0] == "_"


@lru_cache(maxsize=4096)
def view_definition(text: str) -> str:
    """*text* (``pg_get_viewdef``) with qualifiers of column and relation references removed and
    whitespace around parentheses collapsed; literals stay as they are.

    ``x.y`` becomes ``y`` unless ``y`` is called (``schema.func(...)``) or is ``*`` (a whole row).
    Two definitions that differ only in qualifiers are the same view for drift purposes.
    """
    tokens = _TOKEN.findall(text.strip())
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if _is_name(tok) and i + 2 < len(tokens) and tokens[i + 1] == "." and _is_name(tokens[i + 2]):
            rest = "".join(tokens[i + 3 : i + 6]).lstrip()
            if not rest.startswith("("):
                i += 2  # drop "qualifier."
                continue
        out.append(" " if tok.isspace() else tok)
        i += 1
    # Spaces around ( ) , outside string literals: "( SELECT" and "(SELECT" are one spelling.
    parts = re.split(r"('(?:[^']|'')*')", "".join(out))
    return "".join(p if p.startswith("'") else re.sub(r"\s*([(),])\s*", r"\1", p) for p in parts)


_STRING_LITERAL_CAST = re.compile(
    r"^('(?:[^']|'')*')::(?:text|character varying(?:\(\d+\))?|bpchar|character(?:\(\d+\))?)$")


def column_default(default: str | None) -> str | None:
    """A string literal default without its cast to a string type: ``'x'::text`` and
    ``'x'::character varying`` are the same default. PostgreSQL keeps the cast a default was
    written with when the column's type changes later, so equal columns built by different
    histories spell it differently."""
    if default is None:
        return None
    m = _STRING_LITERAL_CAST.match(default)
    return m[1] if m else default
