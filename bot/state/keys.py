"""Every Redis key driftbot writes, in one place and one order: ``driftbot:{queue_prefix}{what}``.

The queue prefix (``queue_prefix``) lets several deployments share one Redis; it always follows
``driftbot:`` so ``driftbot:*`` finds everything of ours. RQ's own keys (``rq:*``) are RQ's.
"""

from __future__ import annotations


def _key(prefix: str, *parts: object) -> str:
    return f"driftbot:{prefix}" + ":".join(str(p) for p in parts)


def heartbeat(prefix: str, kind: str, ident: int) -> str:
    """Alive while a worker runs check or execution *ident* (``driftbot.work.queues.heartbeat``)."""
    return _key(prefix, "hb", kind, ident)


def kept_posts(prefix: str) -> str:
    """Request messages, their thread notes and updates Slack refused (``driftbot.slack.posting.keep_post``)."""
    return _key(prefix, "kept-posts")


def unposted(prefix: str, check_id: int) -> str:
    """Where a check result Slack refused waited to be posted again, before results were read back from
    the state database (still deleted, so a key left by an older version goes)."""
    return _key(prefix, "unposted", check_id)


def digest_asked(prefix: str, channel: str) -> str:
    """Set while a digest asked for in *channel* keeps the next one waiting (``/drift digest``'s rate limit)."""
    return _key(prefix, "digest-asked", channel)


def group(prefix: str, group_id: str) -> str:
    """The shared copy of a user group's members (``driftbot.slack.client.GroupMembers``)."""
    return _key(prefix, "group", group_id)


def server_slots(prefix: str, server: str) -> str:
    """The check slots held on one target database server (``driftbot.work.slots``)."""
    return _key(prefix, "server-slots", server)
