"""The audit trail's chain: append-only events chained by hash, keyed with ``DRIFTBOT_AUDIT_KEY``;
checkpoints and verification. (Reading it back: ``driftbot.audit.export``; the configuration a process
starts with: ``driftbot.audit.config``.)

``record`` appends in the caller's transaction, so a state change and its
audit event commit together or not at all: if the audit store cannot be
written, the change does not happen (fail closed).

Each event's hash is an HMAC-SHA256 over the previous hash and the event, with
the audit key; the event names the key (``key_id``, a fingerprint, never the
key). Rewriting the chain so that it verifies again therefore takes the key,
not just the database. Cutting events off its end takes nothing, which is what
checkpoints are for: ``checkpoint`` gives ``N:HASH`` of the newest event, kept
outside the database (Slack messages, a terminal, a ticket), and ``verify``
with that checkpoint fails when event N is gone or differs.

Without a key, events are hashed with plain SHA-256 as before the key existed
(``key_id`` empty): ``driftbot demo`` and a first installation work, and
``verify`` says the chain is not keyed. Keying starts either at the first event
or by one explicit, audited operator step on an unkeyed trail
(``driftbot audit key start``, event ``audit_key_started``); a process never
keys a trail implicitly. Once keyed, an unkeyed event after it is refused when
written and reported as broken when verified, and so is a keyed event on an
unkeyed tail that no such step started: a rewrite without the key cannot be
made to verify by the bot's next event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from driftbot.errors import ConfigError, DriftbotError, Refused, redact, redact_data
from driftbot.metrics import instruments
from driftbot.state.models import AuditEvent

GENESIS = "0" * 64
CHAIN_LOCK = 0x61756474  # "audt": appends are serialised so the chain has no forks
KEYS_INFO = "audit_keys"  # where a session carries its process's Keyring (driftbot.state.db.sessions)
KEY_STARTED = "audit_key_started"  # the operator's step that keys an unkeyed trail
CHECKPOINT = re.compile(r"^(?P<n>[0-9]{1,19}):(?P<hash>[0-9a-f]{64})$")


def key_id(key: bytes) -> str:
    """A key's public name: enough to tell keys apart, useless for forging."""
    return hmac.new(key, b"driftbot audit key id", hashlib.sha256).hexdigest()[:12]


@dataclass(frozen=True)
class Keyring:
    """The audit key this process writes with, and retired keys it still verifies with."""

    current: bytes | None = None
    previous: tuple[bytes, ...] = ()

    @property
    def current_id(self) -> str | None:
        return key_id(self.current) if self.current else None

    def key(self, kid: str) -> bytes | None:
        for k in (self.current, *self.previous):
            if k and key_id(k) == kid:
                return k
        return None


NO_KEYS = Keyring()


def keyring(settings) -> Keyring:
    """The Keyring of ``DRIFTBOT_AUDIT_KEY`` and ``DRIFTBOT_AUDIT_PREVIOUS_KEYS``."""
    def split(secret) -> list[bytes]:
        return [k.encode() for k in re.split(r"[\s,]+", secret.get_secret_value().strip()) if k] if secret else []

    current = split(settings.audit_key)
    return Keyring(current[0] if current else None, tuple(split(settings.audit_previous_keys)))


def _keys(session: Session) -> Keyring:
    return session.info.get(KEYS_INFO) or NO_KEYS


def event_hash(prev_hash: str, at: datetime, event: str, actor: str | None, environment: str | None,
               request_id: int | None, data: dict[str, Any], key: bytes | None = None) -> str:
    """HMAC-SHA256 with *key* over the previous hash and the event; plain SHA-256 without a key."""
    body = json.dumps(
        {"at": at.astimezone(timezone.utc).isoformat(), "event": event, "actor": actor,
         "environment": environment, "request_id": request_id, "data": data},
        sort_keys=True, separators=(",", ":"), default=str,
    )
    message = (prev_hash + body).encode("utf-8")
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


NOT_KEYED_YET = ("The audit trail is not keyed yet but DRIFTBOT_AUDIT_KEY is set: key it once with "
                 "`driftbot audit key start` (the audited step that starts keying), or unset the key.")


def record(session: Session, *, event: str, actor: str | None = None, environment: str | None = None,
           request_id: int | None = None, data: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event in the session's current transaction.

    Every configured secret is masked first (an append-only trail can never be cleaned later).
    Refused (so the caller's change is rolled back) when the trail is keyed and this process has no key.
    """
    data = redact_data(json.loads(json.dumps(data or {}, default=str)))  # what JSONB will give back
    actor = redact(actor) if actor else actor
    keys = _keys(session)
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK})
    last = session.execute(select(AuditEvent.hash, AuditEvent.key_id).order_by(AuditEvent.id.desc()).limit(1)).first()
    prev = last.hash if last else GENESIS
    if last is not None and last.key_id and keys.current is None:
        raise ConfigError("The audit trail is keyed but DRIFTBOT_AUDIT_KEY is not set in this process, "
                          "so nothing was recorded or changed. Set it as in the other driftbot processes.")
    if last is not None and not last.key_id and keys.current is not None and event != KEY_STARTED:
        raise ConfigError(NOT_KEYED_YET + " Nothing was recorded or changed.")
    at = datetime.now(timezone.utc)
    row = AuditEvent(
        at=at, event=event, actor=actor, environment=environment, request_id=request_id, data=data,
        prev_hash=prev, hash=event_hash(prev, at, event, actor, environment, request_id, data, keys.current),
        key_id=keys.current_id,
    )
    session.add(row)
    session.flush()
    instruments.audit_recorded(session, event)
    return row


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    first_broken: int | None = None
    reason: str | None = None
    unkeyed: int = field(default=0, compare=False)  # events hashed without a key (before one was set)
    key_ids: tuple[str, ...] = field(default=(), compare=False)
    checkpoint: str | None = field(default=None, compare=False)  # the checkpoint checked, when one was
    keyed_from: int | None = field(default=None, compare=False)  # the first keyed event
    keyed_by: str | None = field(default=None, compare=False)  # "first" event, "step" (key start), "start" (legacy)


def parse_checkpoint(value: str) -> tuple[int, str]:
    """``N:HASH`` (as ``driftbot audit checkpoint`` prints it) -> (N, HASH), or one line saying what is wrong."""
    m = CHECKPOINT.match((value or "").strip())
    if not m or int(m["n"]) > 2**63 - 1:
        raise DriftbotError("A checkpoint is `N:HASH` as `driftbot audit checkpoint` prints it: "
                            "an event number, a colon and 64 lowercase hex digits.")
    return int(m["n"]), m["hash"]


def checkpoint(session: Session) -> str:
    """``N:HASH``: the newest event's number and hash (``0:000…`` for an empty trail)."""
    last = session.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).first()
    return f"{last.id}:{last.hash}" if last else f"0:{GENESIS}"


def verify(session: Session, checkpoint: str | None = None, keys: Keyring | None = None) -> ChainReport:
    """Walk the chain in id order; name the first event whose link, key or content does not match.

    With a *checkpoint* (``N:HASH``), event N must still be there with that hash: a trail cut short
    after the checkpoint was taken, or rewritten from the start, fails here.
    """
    keys = keys or _keys(session)
    want = parse_checkpoint(checkpoint) if checkpoint else None
    prev, count, unkeyed, seen_ids, keyed_from, keyed_by = GENESIS, 0, 0, [], None, None
    last_id, at_checkpoint = None, None

    def broken(row_id: int, reason: str) -> ChainReport:
        return ChainReport(False, count, row_id, reason, unkeyed, tuple(seen_ids), checkpoint, keyed_from, keyed_by)

    for row in session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars():
        count += 1
        last_id = row.id
        if row.prev_hash != prev:
            return broken(row.id, "its prev_hash does not match the previous event")
        key = None
        if row.key_id:
            key = keys.key(row.key_id)
            if key is None:
                if keys.current is None:
                    raise ConfigError(f"The audit trail is keyed (key {row.key_id}) but DRIFTBOT_AUDIT_KEY is not set: "
                                      "set it (and any retired keys in DRIFTBOT_AUDIT_PREVIOUS_KEYS) to verify.")
                return broken(row.id, f"it names audit key {row.key_id}, which is neither DRIFTBOT_AUDIT_KEY "
                                      "nor one of DRIFTBOT_AUDIT_PREVIOUS_KEYS")
            if keyed_from is None:
                keyed_by = "first" if count == 1 else _keying_step(row)
                if keyed_by is None:
                    return broken(row.id, "it is keyed but follows unkeyed events, and no `driftbot audit key start` "
                                          "started keying there (the trail was rewritten without the key, or keyed "
                                          "implicitly)")
                keyed_from = row.id
            if row.key_id not in seen_ids:
                seen_ids.append(row.key_id)
        elif keyed_from is not None:
            return broken(row.id, f"it is not keyed although the events from #{keyed_from} on are "
                                  "(rewritten, or written by a process without DRIFTBOT_AUDIT_KEY)")
        else:
            unkeyed += 1
        expected = event_hash(prev, row.at, row.event, row.actor, row.environment, row.request_id, row.data, key)
        if row.hash != expected:
            return broken(row.id, "its content does not match its hash (edited)")
        if want and row.id == want[0]:
            at_checkpoint = row.hash
        prev = row.hash
    if keys.current is not None and count and keyed_from is None:
        # Unkeyed events are only a prefix from before the key was set: a process with the key records
        # a keyed event at start. A trail with none left was rewritten (or cut back) without the key.
        return broken(last_id, f"event #{last_id}, the newest, is not keyed although DRIFTBOT_AUDIT_KEY is set "
                               "(rewritten without the key, or no driftbot process has started with the key yet)")
    if want and want[0] > 0:
        n, expected_hash = want
        if at_checkpoint is None:
            if last_id is None or n > last_id:
                end = f"the trail ends at event #{last_id}" if last_id else "the trail is empty"
                return broken(n, f"event #{n} of the checkpoint is missing: {end}, so events were cut from its end")
            return broken(n, f"event #{n} of the checkpoint is missing from the trail")
        if at_checkpoint != expected_hash:
            return broken(n, f"event #{n} differs from the checkpoint: its hash is {at_checkpoint[:16]}…, "
                             f"the checkpoint says {expected_hash[:16]}… (the trail was rewritten)")
    return ChainReport(True, count, None, None, unkeyed, tuple(seen_ids), checkpoint, keyed_from, keyed_by)


def _keying_step(row: AuditEvent) -> str | None:
    """How a keyed event right after unkeyed ones may start keying: the operator's ``audit key start``,
    or (trails keyed before that step existed) a start-up's ``config_changed`` that recorded the key's
    arrival. No driftbot since writes a keyed event on an unkeyed tail, so neither can be appended now."""
    if row.event == KEY_STARTED:
        return "step"
    data = row.data or {}
    if row.event == "config_changed" and (data.get("config") or {}).get("audit_key") == row.key_id and (
            data.get("previous") is None or "audit_key" in (data.get("changed") or [])):
        return "start"
    return None


def key_start(session: Session, actor: str, mark: str | None = None) -> AuditEvent:
    """``driftbot audit key start``: the one step that keys an unkeyed trail, itself a keyed event.

    The unkeyed chain must verify (and match the checkpoint *mark*, when given) before it is sealed under the key:
    the new event's HMAC covers the unkeyed tail's hash, so the events before it cannot be rewritten after.
    """
    keys = _keys(session)
    if keys.current is None:
        raise ConfigError("Set DRIFTBOT_AUDIT_KEY (as the processes will have it) to key the audit trail.")
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK})
    keyed = session.execute(select(AuditEvent.id, AuditEvent.key_id).where(AuditEvent.key_id.is_not(None),
                                                                      AuditEvent.key_id != "")
                            .order_by(AuditEvent.id).limit(1)).first()
    if keyed is not None:
        raise Refused(f"The audit trail is already keyed (audit key {keyed.key_id} from event #{keyed.id}): nothing to "
                      "start. To change the key, rotate it (DRIFTBOT_AUDIT_PREVIOUS_KEYS).")
    report = verify(session, checkpoint=mark, keys=NO_KEYS)
    if not report.ok:
        raise Refused(f"The unkeyed trail does not verify ({verify_text(report)}); nothing was keyed.")
    return record(session, event="audit_key_started", actor=actor,
                  data={"key_id": keys.current_id, "unkeyed_events": report.events,
                        "unkeyed_tail": checkpoint(session), "checkpoint_checked": bool(mark)})


# --- reading the trail back: export and the Slack summary -----------------

def verify_text(report: ChainReport) -> str:
    """The verdict's first line (as before keys existed), then how the chain is keyed."""
    if not report.ok:
        return f"Audit chain BROKEN at event #{report.first_broken}: {report.reason}."
    line = f"Audit chain OK: {report.events} events verified."
    notes = []
    if report.checkpoint:
        notes.append(f"Checkpoint {report.checkpoint.split(':')[0]} matches.")
    if report.key_ids:
        how = {"step": " (`driftbot audit key start`)",
               "start": " (keyed at a start-up, before `driftbot audit key start` existed)"}.get(report.keyed_by, "")
        older = f"; the {report.unkeyed} before it (from before the key was set) are not" if report.unkeyed else ""
        notes.append(f"Keyed with audit key {', '.join(report.key_ids)} from event #{report.keyed_from}{how}{older}.")
    elif report.events:
        notes.append("Not keyed: set DRIFTBOT_AUDIT_KEY so that rewriting the trail needs the key.")
    return "\n".join([line, " ".join(notes)]) if notes else line
