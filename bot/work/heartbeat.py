"""A running job's heartbeat: a Redis key kept alive while it works (``driftbot.state.keys.heartbeat``).
The sweeper (``driftbot.work.sweeper``) reports a check or an execution whose heartbeat stopped."""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Iterator

from driftbot.runtime import Runtime
from driftbot.state import keys

log = logging.getLogger(__name__)


def _key(rt: Runtime, kind: str, ident: int) -> str:
    return keys.heartbeat(rt.settings.queue_prefix, kind, ident)


@contextmanager
def heartbeat(rt: Runtime, kind: str, ident: int) -> Iterator[None]:
    """Keep ``driftbot:hb:KIND:ID`` alive while the body runs; it lapses within 3 beats of a death."""
    key, beat = _key(rt, kind, ident), rt.settings.heartbeat_s
    ttl_ms = int(beat * 3000)
    stop = threading.Event()
    rt.redis.set(key, rt.name, px=ttl_ms)

    def _beat() -> None:
        while not stop.wait(beat):
            try:
                rt.redis.set(key, rt.name, px=ttl_ms)
            except Exception:  # a missed beat is reported by the sweeper if it lasts
                log.warning("heartbeat for %s %s missed", kind, ident)

    thread = threading.Thread(target=_beat, name=f"heartbeat-{kind}-{ident}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=beat)
        try:
            rt.redis.delete(key)
        except Exception:  # Redis away: the key lapses by itself; the outcome is already recorded
            log.warning("heartbeat for %s %s not removed", kind, ident)


def alive(rt: Runtime, kind: str, ident: int) -> bool:
    return bool(rt.redis.exists(_key(rt, kind, ident)))
