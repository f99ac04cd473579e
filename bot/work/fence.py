"""Fencing an execution: what decides that its writer is dead.

A heartbeat in Redis says a writer is probably alive; its absence proves nothing (Redis flushed or
restarted without persistence, a worker paused for a few beats, a partition). So the writer also holds
a PostgreSQL advisory lock on the state database, in a session of its own, from before the request is
marked executing until its outcome is recorded. Only the end of that session releases it: the writer
finishing, or its process or connection dying. The sweeper declares an execution dead only when it can
take that lock itself (``writer_gone``); a missing heartbeat alone never does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from driftbot.runtime import Runtime

log = logging.getLogger(__name__)
FENCE = 0x65786563  # "exec": the class of the two-key advisory locks, the request id being the other key


def _key(request_id: int) -> dict[str, int]:
    return {"c": FENCE, "o": request_id % 2**31}


@contextmanager
def held(rt: Runtime, request_id: int) -> Iterator[None]:
    """Hold the request's fence while the body runs (a second writer of the same request waits here,
    then finds it no longer approved)."""
    conn = rt.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        conn.execute(text("SELECT pg_advisory_lock(:c, :o)"), _key(request_id))
        yield
    finally:
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:c, :o)"), _key(request_id))
        except Exception:  # the session is gone, and its lock with it; never back into the pool
            log.warning("fence of request %s: the session was lost before its release", request_id)
            conn.invalidate()
        conn.close()


def writer_gone(rt: Runtime, request_id: int) -> bool:
    """True only when no session holds the request's fence: its writer finished or died."""
    with rt.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:c, :o)"), _key(request_id)).scalar()
        if got:
            conn.execute(text("SELECT pg_advisory_unlock(:c, :o)"), _key(request_id))
        return bool(got)
