"""The one edge where driftbot's own services being away becomes the asker's message: Redis (the job
queue) or the state database unreachable. Every intake and worker step that answers a person catches
``OUTAGES`` and says ``outage_note``; nothing else matches these errors by hand."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from driftbot.errors import QUEUE_DOWN, STATE_DOWN

log = logging.getLogger(__name__)
OUTAGES = (RedisError, SQLAlchemyError)


def outage_note(exc: BaseException, lead: str) -> str:
    """``"{lead}: {what is away and what to do}"`` for an error of ``OUTAGES`` (logged when it is the
    state database: its errors may also be ours)."""
    if isinstance(exc, RedisError):
        return f"{lead}: {QUEUE_DOWN}"
    log.error("state database error: %s", type(exc).__name__, exc_info=exc)
    return f"{lead}: {STATE_DOWN}"
