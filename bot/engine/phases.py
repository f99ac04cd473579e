"""How long a check spends in each phase (replay, introspection, diff), for a caller that asks.

A caller opens ``recorded()`` around ``run_check`` and reads the seconds per phase from the dict it
gets; without one, ``phase`` costs a context-variable read. The dict is shared with the thread that
reads the target while the shadow replays (it runs in a copy of this context).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

_spent: ContextVar[dict[str, float] | None] = ContextVar("driftbot_phases", default=None)


@contextmanager
def recorded() -> Iterator[dict[str, float]]:
    """Seconds per phase of whatever runs inside, summed when a phase runs more than once."""
    spent: dict[str, float] = {}
    token = _spent.set(spent)
    try:
        yield spent
    finally:
        _spent.reset(token)


@contextmanager
def phase(name: str) -> Iterator[None]:
    spent = _spent.get()
    if spent is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        spent[name] = spent.get(name, 0.0) + time.perf_counter() - started
