"""At most ``max_checks_per_server`` checks at once against one target database server, across
every worker on the deployment's Redis.

A check holds a few connections to its target's server (the target's own; the shadow replay's
when the shadow is that server too) for as long as it runs. The digest enqueues one check per
environment; with many environments on a few servers and workers scaled out, nothing else would
stop them from opening a connection each at the same moment. A slot is an entry of a Redis sorted
set per server (host:port), scored with Redis's clock: taken only while fewer than the limit are
held, given back when the check ends, and expired after the check job's time limit should its
work horse have been killed holding it.
"""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import contextmanager
from typing import Iterator

from psycopg.conninfo import conninfo_to_dict
from redis.exceptions import RedisError

from driftbot.engine.db import parse_url
from driftbot.runtime import Runtime
from driftbot.state import keys

log = logging.getLogger(__name__)

# KEYS[1]: the server's slots; ARGV: this holder's token, the limit, how long a slot may be held (s).
_TAKE = """
if redis.replicate_commands then redis.replicate_commands() end  -- TIME before writes (Redis < 7)
local now = redis.call('TIME')
local at = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', at - tonumber(ARGV[3]))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], at, ARGV[1])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])))
  return 1
end
return 0
"""


def server_of(url: str) -> str:
    """host:port of the server *url* connects to (no user, no password, no database)."""
    try:
        info = conninfo_to_dict(parse_url(url).conninfo)
    except Exception:  # an unreadable URL: the check itself says what is wrong with it
        return "unreadable"
    return f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}"


def slots_key(rt: Runtime, server: str) -> str:
    return keys.server_slots(rt.settings.queue_prefix, server)


@contextmanager
def server_slot(rt: Runtime, url: str, poll_s: float = 0.05) -> Iterator[None]:
    """Hold one of the check slots of *url*'s server for the block, waiting for one to be free.
    Redis failing is not a reason to skip a check: the check then runs without a slot."""
    key, token = slots_key(rt, server_of(url)), uuid.uuid4().hex
    held_s = rt.settings.check_job_timeout_s + 60
    try:
        take = rt.redis.register_script(_TAKE)
        while not take(keys=[key], args=[token, rt.settings.max_checks_per_server, held_s]):
            time.sleep(poll_s)
    except RedisError as exc:
        log.warning("check slots unavailable (%s): checking without one", exc)
        yield
        return
    try:
        yield
    finally:
        try:
            rt.redis.zrem(key, token)
        except RedisError:  # it expires with the job's time limit
            pass
