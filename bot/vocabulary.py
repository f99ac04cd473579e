"""Words the settings file and the engine share, kept below both so settings never import the engine:
the kinds of schema object an ``ignore`` pattern may name, and what a Prisma version looks like."""

from __future__ import annotations

import re

IGNORABLE = ("table", "column", "index", "foreign_key", "check", "enum", "extension", "sequence", "view", "function",
             "trigger", "policy", "row_security")

VERSION = re.compile(r"^v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def is_version(text: str) -> bool:
    """A full version (``7.9.1``, ``8.0.0-rc.1``), not a range."""
    m = VERSION.match(text.strip())
    return bool(m) and all(p is not None and p.isdigit() for p in m.group(1, 2, 3))
