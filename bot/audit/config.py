"""The configuration a process starts with, in the audit trail: refused without the key on a keyed
trail (or with it on an unkeyed one), recorded when it changed, and the start itself recorded."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from driftbot.audit.chain import CHAIN_LOCK, NOT_KEYED_YET, keyring, record
from driftbot.errors import ConfigError
from driftbot.state.db import sessions
from driftbot.state.models import AuditEvent


def record_start(engine, settings, process: str) -> None:
    """At a process's start (after the schema upgrade): refuse to start without the key on a keyed
    trail, or with it on an unkeyed one (``driftbot audit key start`` keys it); audit the configuration
    if it changed; and record the start itself, so a keyed process always leaves a keyed event."""
    keys = keyring(settings)
    with sessions(engine, audit_keys=keys).begin() as session:
        if keys.current is None:
            require_no_key(session)
        else:
            require_keyed(session)
        config = config_seen(session, settings, process)
        record(session, event="process_started", actor=process,
               data={"fingerprint": config.data["fingerprint"]})


def require_keyed(session: Session) -> None:
    """A process with ``DRIFTBOT_AUDIT_KEY`` starts only on a keyed (or empty) trail: keying an unkeyed
    one is the operator's audited step, never a side effect of a start."""
    last = session.execute(select(AuditEvent.key_id).order_by(AuditEvent.id.desc()).limit(1)).first()
    if last is not None and not last.key_id:
        raise ConfigError(NOT_KEYED_YET + " Nothing was started.")


def require_no_key(session: Session) -> None:
    """A process without ``DRIFTBOT_AUDIT_KEY`` starts only on a trail that holds no keyed event: else it
    would run until its first audit event and fail there (every approval, every execution)."""
    kid = session.execute(select(AuditEvent.key_id).where(AuditEvent.key_id.is_not(None), AuditEvent.key_id != "")
                          .order_by(AuditEvent.id.desc()).limit(1)).scalar()
    if kid:
        raise ConfigError(f"The audit trail is keyed (audit key {kid}) but DRIFTBOT_AUDIT_KEY is not set: "
                          "set it as in the other driftbot processes; nothing was started.")


def config_seen(session: Session, settings, process: str) -> AuditEvent:
    """Record the configuration a process starts with, when it differs from the last one recorded;
    the last ``config_changed`` event (the one recorded now, or the one still current).

    Secrets never enter the event: URLs are reduced to user@host/db, tokens to "set".
    """
    view = settings.public_view()
    kid = keyring(settings).current_id
    if kid:  # a new (or first) audit key is a configuration change: it puts a keyed event in the trail
        view["audit_key"] = kid
    fingerprint = hashlib.sha256(json.dumps(view, sort_keys=True, default=str).encode()).hexdigest()
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK})  # two processes starting at once
    last = session.execute(
        select(AuditEvent).where(AuditEvent.event == "config_changed").order_by(AuditEvent.id.desc()).limit(1)
    ).scalar()
    if last is not None and last.data.get("fingerprint") == fingerprint:
        return last
    before = last.data.get("config", {}) if last is not None else {}
    changed = sorted(_changed_paths(before, view)) if last is not None else []
    return record(session, event="config_changed", actor=process,
                  data={"fingerprint": fingerprint, "changed": changed, "config": view,
                        "previous": last.data.get("fingerprint") if last is not None else None})


def _changed_paths(before: Any, after: Any, path: str = "") -> set[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        out: set[str] = set()
        for key in set(before) | set(after):
            out |= _changed_paths(before.get(key), after.get(key), f"{path}.{key}" if path else str(key))
        return out
    return set() if before == after else {path}
