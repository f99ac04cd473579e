"""How every view names things: the icon and words of each state, and a history in counts.

One table, so the terminal, a check's Slack message and the digest cannot
disagree about a state. ``said`` follows the environment's name ("prod is
drifted"); the digest's lists drop the leading "is" ("prod drifted"); the
terminal's headline shouts the states that need a person now. Views render;
none decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # for the annotation only: `driftbot envs` need not import psycopg
    from driftbot.engine.history import HistoryVerdict


@dataclass(frozen=True)
class StateWords:
    icon: str
    said: str
    terminal: str


STATES: dict[str, StateWords] = {
    # A check's states (CheckResult.state), then the digest's own for a check that did not come back.
    "in_sync": StateWords(":large_green_circle:", "is in sync", "in sync"),
    "drifted": StateWords(":red_circle:", "is drifted", "DRIFTED"),
    "pending": StateWords(":large_yellow_circle:", "has pending migrations", "has pending migrations"),
    "failed": StateWords(":red_circle:", "has a failed migration", "has a FAILED migration"),
    "not_managed": StateWords(":warning:", "is not managed by Prisma Migrate", "is not managed by Prisma Migrate"),
    "error": StateWords(":warning:", "could not be checked", "could not be checked"),
    "unreachable": StateWords(":warning:", "is unreachable", "is unreachable"),
    "not_checked": StateWords(":warning:", "is not checked", "was not checked"),
}


# What each case label of a finding means (the runbook's cases, docs/runbook.md), for every view
# that shows the labels.
CASE_WORDS: dict[str, str] = {
    "A": "the database has objects no migration creates: commit them as a catch-up migration",
    "B": "the database lacks what the migrations create: deploy them, or restore what is missing",
    "B'": "a failed migration, or one run by hand: resolve it",
    "C": "an enum value the schema has and the database lacks: add it",
    "E": "no usable migration history: a baseline",
    "history": "the history itself: a migration edited, only in the database, or rolled back",
}


# A comparison of two environments (``Comparison.state``): the Slack message and the digest's pair lines.
COMPARISON_ICONS = {"equal": ":large_green_circle:", "different": ":large_yellow_circle:", "error": ":warning:"}


def icon(state: str) -> str:
    return STATES[state].icon


def said(state: str) -> str:
    """After the environment's name: ``prod is drifted``."""
    return STATES[state].said


def listed(state: str) -> str:
    """In a list of environments (the digest): ``prod drifted``; an unknown state by its name."""
    return STATES[state].said.removeprefix("is ") if state in STATES else state


def history_parts(h: HistoryVerdict, name: Callable[[str], str] | None = None, limit: int | None = None) -> list[str]:
    """The history in counts (the terminal and Slack views); *name* formats failed names when given,
    at most *limit* of them, then "and N more"."""
    parts = [f"{len(h.local)} migrations, {len(h.applied)} applied"]
    if h.pending:
        parts.append(f"{len(h.pending)} pending")
    if h.failed:
        shown = h.failed if limit is None else h.failed[:limit]
        more = f" and {len(h.failed) - len(shown)} more" if len(shown) < len(h.failed) else ""
        parts.append(f"{len(h.failed)} failed" + (": " + ", ".join(name(f.name) for f in shown) + more if name else ""))
    if h.modified:
        parts.append(f"{len(h.modified)} edited after apply")
    if h.missing_locally:
        parts.append(f"{len(h.missing_locally)} only in the database")
    if h.applied_by_hand:
        parts.append(f"{len(h.applied_by_hand)} run by hand, never recorded")
    return parts
