"""Prisma versions: parsing, comparing, and what changed between them.

Every behaviour that depends on the version a project runs is named here, once,
with the version it changed in; the rest of the engine asks these functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from driftbot.vocabulary import VERSION, is_version  # noqa: F401 - is_version: part of this module's vocabulary

SOURCES = ("setting", "lockfile", "package.json", "unknown")

# From 7.9.0 on (its schema engine fixed prisma/orm#29601) `migrate status` counts a rolled-back
# row as absent: the migration is "not yet applied" (exit 1). 6.19.3 and 7.8.0 say "up to date".
ROLLED_BACK_IS_UNAPPLIED = (7, 9, 0)

_VERSION = VERSION  # the syntax lives below the engine (driftbot.vocabulary): settings check it too


def parse(text: str) -> tuple[int, int, int] | None:
    """``"7.9.1"`` -> ``(7, 9, 1)``; a prerelease counts as its release; None when not a version."""
    m = _VERSION.match(text.strip())
    if not m:
        return None
    return tuple(int(p) if p and p.isdigit() else 0 for p in m.group(1, 2, 3))  # type: ignore[return-value]


def lowest_of_range(spec: str) -> str | None:
    """The lowest version an npm range allows: ``^7.8.0`` -> ``7.8.0``, ``~6.19`` -> ``6.19.0``,
    ``>=7.0.0 <8`` -> ``7.0.0``, ``7.x`` -> ``7.0.0``. None for what names no version
    (``latest``, ``*``, ``workspace:*``, ``catalog:``, a URL or a path)."""
    spec = spec.strip()
    if spec.startswith("npm:"):  # an alias: "npm:prisma@^7.8.0"
        spec = spec.rpartition("@")[2]
    lowest = None
    for alternative in spec.split("||"):
        for part in alternative.split():
            part = part.lstrip("^~=v")
            if part.startswith((">", "<")):
                if not part.startswith(">"):
                    continue  # an upper bound says nothing about the lowest version
                part = part.lstrip(">=")
            found = parse(part)
            if found is not None and (lowest is None or found < lowest):
                lowest = found
    return None if lowest is None else ".".join(map(str, lowest))


@dataclass(frozen=True)
class PrismaVersion:
    """The Prisma a project runs, and where driftbot read it."""

    version: str | None
    source: str = "unknown"  # one of SOURCES
    where: str | None = None  # the file it was read from
    note: str | None = None  # e.g. "the lowest version ^7.8.0 allows; no lockfile found"

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown version source {self.source!r}")

    @property
    def known(self) -> bool:
        return self.version is not None and parse(self.version) is not None

    @property
    def major(self) -> int | None:
        return parse(self.version)[0] if self.known else None  # type: ignore[index]

    def at_least(self, version: tuple[int, int, int]) -> bool | None:
        """Whether this version is *version* or later; None when unknown."""
        return parse(self.version) >= version if self.known else None  # type: ignore[operator]

    def describe(self) -> str:
        if not self.known:
            return "unknown" + (f" ({self.note})" if self.note else "")
        where = {"setting": "set in driftbot's settings", "lockfile": f"from {self.where}",
                 "package.json": f"from {self.where}"}.get(self.source, "")
        return f"{self.version} ({where}{'; ' + self.note if self.note else ''})" if where else self.version


UNKNOWN = PrismaVersion(None)


def rolled_back_is_unapplied(version: PrismaVersion) -> bool | None:
    """Whether this Prisma's ``migrate status`` lists a rolled-back migration as not yet applied."""
    return version.at_least(ROLLED_BACK_IS_UNAPPLIED)
