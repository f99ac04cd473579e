"""The audit trail anchored outside the database (issue #14, case 5).

As superuser (triggers off), an attacker can cut events off the trail's end, or edit an event and
recompute the hashes forward. Keyed hashes (DRIFTBOT_AUDIT_KEY) make a rewrite without the key
fail ``verify``; a checkpoint ``N:HASH`` kept outside the database makes a cut end fail it.
Everything goes through the real ``driftbot audit`` command on a real state database.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from sqlalchemy import text

from driftbot import audit
from driftbot.cli import main
from driftbot.errors import ConfigError
from driftbot.runtime import build
from driftbot.settings import load_settings
from driftbot.state.db import make_engine, upgrade

KEY = "k" * 8 + "0123456789abcdef0123456789abcdef"
OTHER_KEY = "attacker-key-0123456789abcdef0123456789"


@pytest.fixture
def trail(db, monkeypatch, tmp_path):
    """The state database with 60 events recorded by a process holding DRIFTBOT_AUDIT_KEY."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRIFTBOT_CONFIG", raising=False)
    monkeypatch.setenv("DRIFTBOT_STATE_URL", db)
    monkeypatch.setenv("DRIFTBOT_AUDIT_KEY", KEY)
    engine = make_engine(db)
    upgrade(engine)
    rt = build(load_settings())
    with rt.sessions.begin() as s:
        for i in range(60):
            audit.record(s, event="approval_counted", actor=f"U{i % 3}", environment="prod", request_id=7,
                         data={"count": i})
    yield rt.sessions
    rt.engine.dispose()
    engine.dispose()


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["audit", *argv])
    captured = capsys.readouterr()
    return code, (captured.out + captured.err).strip()


def superuser(state, *statements: str, **params) -> None:
    with state.begin() as s:
        s.execute(text("SET LOCAL session_replication_role = replica"))  # the append-only triggers off
        for stmt in statements:
            s.execute(text(stmt), params)


def rehash_forward(state, key: bytes | None, key_id: str | None = "keep") -> None:
    """What an attacker without our key does after an edit: recompute every hash from the start."""
    with state.begin() as s:
        s.execute(text("SET LOCAL session_replication_role = replica"))
        prev = audit.GENESIS
        for row in s.execute(text("SELECT * FROM audit_events ORDER BY id")).mappings().all():
            body = audit.event_hash(prev, row["at"], row["event"], row["actor"], row["environment"],
                                    row["request_id"], row["data"])  # plain SHA-256 ...
            if key is not None:  # ... or an HMAC with a key of the attacker's own
                body = audit.event_hash(prev, row["at"], row["event"], row["actor"], row["environment"],
                                        row["request_id"], row["data"], key)
            kid = row.get("key_id") if key_id == "keep" else key_id
            s.execute(text("UPDATE audit_events SET prev_hash = :p, hash = :h, key_id = :k WHERE id = :id"),
                      {"p": prev, "h": body, "k": kid, "id": row["id"]})
            prev = body


def test_checkpoint_prints_the_newest_event_as_n_colon_hash(trail, capsys):
    code, out = run(capsys, "checkpoint")
    with trail() as s:
        newest = s.execute(text("SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1")).one()
    assert code == 0 and out == f"{newest.id}:{newest.hash}"
    code, out = run(capsys, "verify", "--checkpoint", out)
    assert code == 0 and out.startswith("Audit chain OK: 60 events verified.")


@pytest.mark.parametrize("cut", [1, 50])
def test_tail_cut_after_a_checkpoint_is_caught(trail, capsys, cut):
    _, mark = run(capsys, "checkpoint")
    newest = int(mark.split(":")[0])
    superuser(trail, "DELETE FROM audit_events WHERE id > :last", last=newest - cut)
    code, out = run(capsys, "verify")
    assert code == 0  # the chain that is left is intact: without a checkpoint nothing can tell
    code, out = run(capsys, "verify", "--checkpoint", mark)
    assert code == 1
    assert out == (f"Audit chain BROKEN at event #{newest}: event #{newest} of the checkpoint is missing: "
                   f"the trail ends at event #{newest - cut}, so events were cut from its end.")


def test_an_edit_rehashed_without_the_key_is_caught(trail, capsys):
    with trail() as s:
        target = s.execute(text("SELECT id FROM audit_events ORDER BY id OFFSET 20 LIMIT 1")).scalar()
    superuser(trail, "UPDATE audit_events SET actor = 'UMALLORY' WHERE id = :id", id=target)
    rehash_forward(trail, key=None)  # plain SHA-256, as the chain was before keys
    code, out = run(capsys, "verify")
    with trail() as s:
        first_id = s.execute(text("SELECT min(id) FROM audit_events")).scalar()
    assert code == 1
    assert out == f"Audit chain BROKEN at event #{first_id}: its content does not match its hash (edited)."
    # Labelled unkeyed from the start, the rewrite is self-consistent, but a trail with the key set
    # must end in keyed events (every process with the key records one at start)
    rehash_forward(trail, key=None, key_id=None)
    code, out = run(capsys, "verify")
    with trail() as s:
        last_id = s.execute(text("SELECT max(id) FROM audit_events")).scalar()
    assert code == 1 and out.startswith(f"Audit chain BROKEN at event #{last_id}: event #{last_id}, the newest, is not keyed")
    rehash_forward(trail, key=OTHER_KEY.encode(), key_id=audit.key_id(OTHER_KEY.encode()))
    code, out = run(capsys, "verify")
    assert code == 1 and f"names audit key {audit.key_id(OTHER_KEY.encode())}, which is neither" in out


def test_a_rewrite_from_the_start_is_caught_by_the_checkpoint(trail, capsys, monkeypatch):
    """Rewritten as unkeyed from the first event on, the chain is self-consistent: someone holding only
    the checkpoint (not the key) still sees the rewrite."""
    _, mark = run(capsys, "checkpoint")
    superuser(trail, "UPDATE audit_events SET data = '{\"count\": 0}'")
    rehash_forward(trail, key=None, key_id=None)
    monkeypatch.delenv("DRIFTBOT_AUDIT_KEY")
    newest = int(mark.split(":")[0])
    code, out = run(capsys, "verify", "--checkpoint", mark)
    assert code == 1 and out.startswith(f"Audit chain BROKEN at event #{newest}: event #{newest} differs from the checkpoint")


def test_every_hash_is_an_hmac_with_the_key(trail):
    with trail() as s:
        row = s.execute(text("SELECT * FROM audit_events ORDER BY id LIMIT 1")).mappings().one()
    body = audit.event_hash(row["prev_hash"], row["at"], row["event"], row["actor"], row["environment"],
                            row["request_id"], row["data"])
    assert row["hash"] != body  # not plain SHA-256
    assert row["key_id"] == audit.key_id(KEY.encode()) and KEY not in row["key_id"]
    message = body  # sanity: the same body with the key gives the stored hash
    assert hmac.compare_digest(row["hash"], audit.event_hash(row["prev_hash"], row["at"], row["event"], row["actor"],
                                                             row["environment"], row["request_id"], row["data"],
                                                             KEY.encode()))
    assert message != hashlib.sha256(b"").hexdigest()


def test_without_the_key_nothing_is_recorded_and_verify_cannot_check(trail, capsys, monkeypatch):
    monkeypatch.delenv("DRIFTBOT_AUDIT_KEY")
    rt = build(load_settings())
    with pytest.raises(Exception, match="DRIFTBOT_AUDIT_KEY is not set"):
        with rt.sessions.begin() as s:
            audit.record(s, event="approved", actor="U1", environment="prod", request_id=7)
    rt.engine.dispose()
    with trail() as s:
        assert s.execute(text("SELECT count(*) FROM audit_events")).scalar() == 60  # fail closed: nothing written
    code, out = run(capsys, "verify")
    assert code == 2 and "DRIFTBOT_AUDIT_KEY is not set" in out and len(out.splitlines()) == 1


def test_rotation_keeps_older_events_verifiable(trail, capsys, monkeypatch):
    new_key = "n" * 40
    monkeypatch.setenv("DRIFTBOT_AUDIT_KEY", new_key)
    monkeypatch.setenv("DRIFTBOT_AUDIT_PREVIOUS_KEYS", KEY)
    rt = build(load_settings())
    with rt.sessions.begin() as s:
        audit.record(s, event="approved", actor="U1", environment="prod", request_id=7)
    rt.engine.dispose()
    code, out = run(capsys, "verify")
    assert code == 0 and audit.key_id(KEY.encode()) in out and audit.key_id(new_key.encode()) in out
    monkeypatch.delenv("DRIFTBOT_AUDIT_PREVIOUS_KEYS")  # the retired key dropped too early
    code, out = run(capsys, "verify")
    assert code == 1 and f"names audit key {audit.key_id(KEY.encode())}" in out


@pytest.mark.parametrize("mark", ["12", "x:y", "12:" + "g" * 64, "99999999999999999999:" + "0" * 64, "１２:" + "0" * 64])
def test_a_malformed_checkpoint_gets_one_line(trail, capsys, mark):
    code, out = run(capsys, "verify", "--checkpoint", mark)
    assert code == 2 and len(out.splitlines()) == 1 and "N:HASH" in out


def test_an_unkeyed_trail_is_keyed_only_by_the_operator_step(db, monkeypatch, tmp_path, capsys):
    """Issue #26 item 1: events from before the key stay unkeyed; a process started with the key on an
    unkeyed tail refuses (no implicit keying); `driftbot audit key start` is the audited step that keys
    the trail, and verify names where keying began."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRIFTBOT_CONFIG", raising=False)
    monkeypatch.delenv("DRIFTBOT_AUDIT_KEY", raising=False)
    monkeypatch.setenv("DRIFTBOT_STATE_URL", db)
    engine = make_engine(db)
    upgrade(engine)
    audit.record_start(engine, load_settings(), "web")  # before the key: unkeyed
    monkeypatch.setenv("DRIFTBOT_AUDIT_KEY", KEY)
    with pytest.raises(ConfigError, match="driftbot audit key start"):
        audit.record_start(engine, load_settings(), "worker")
    code, out = run(capsys, "verify")
    assert code == 1 and "the newest, is not keyed although DRIFTBOT_AUDIT_KEY is set" in out
    code, out = run(capsys, "key", "start")
    with make_session(engine) as s:
        rows = s.execute(text("SELECT id, event, actor, key_id FROM audit_events ORDER BY id")).all()
    started = rows[-1]
    assert code == 0 and started.event == "audit_key_started" and started.key_id == audit.key_id(KEY.encode())
    assert f"#{started.id}" in out
    audit.record_start(engine, load_settings(), "worker")
    code, out = run(capsys, "verify")
    assert code == 0 and out.splitlines()[1] == (
        f"Keyed with audit key {audit.key_id(KEY.encode())} from event #{started.id} (`driftbot audit key start`); "
        f"the {len(rows) - 1} before it (from before the key was set) are not.")
    code, out = run(capsys, "key", "start")  # once keyed, there is nothing to start
    assert code == 1 and "already keyed" in out
    engine.dispose()


def make_session(engine):
    from driftbot.state.db import sessions
    return sessions(engine)()


def test_a_rewrite_without_the_key_stays_broken_after_the_bot_appends(trail, capsys, db):
    """Issue #26 item 1: the trail rewritten as an unkeyed SHA-256 chain (an approver's id changed), then
    driftbot goes on: a process with the key starts and records its next events. verify still fails."""
    superuser(trail, "UPDATE audit_events SET actor = 'UMALLORY' WHERE actor = 'U1'")
    rehash_forward(trail, key=None, key_id=None)
    engine = make_engine(db)
    for process in ("web", "worker"):
        try:
            audit.record_start(engine, load_settings(), process)
        except ConfigError:
            pass  # refusing to start on it is one right answer
    engine.dispose()
    rt = build(load_settings())
    try:
        with rt.sessions.begin() as s:
            audit.record(s, event="approved", actor="U2", environment="prod", request_id=7)
    except ConfigError:
        pass  # refusing to append a keyed event on an unkeyed tail is the other
    rt.engine.dispose()
    code, out = run(capsys, "verify")
    assert code == 1 and out.startswith("Audit chain BROKEN"), out


def test_a_keyed_event_on_an_unkeyed_tail_needs_the_key_start_step(trail, capsys):
    """A keyed event right after unkeyed ones that is not `driftbot audit key start`'s (an older driftbot
    that keyed implicitly, or a key holder bypassing the step) is reported."""
    with trail() as s:
        ids = s.execute(text("SELECT id FROM audit_events ORDER BY id")).scalars().all()
    superuser(trail, "DELETE FROM audit_events WHERE id > :cut", cut=ids[9])
    rehash_forward(trail, key=None, key_id=None)  # ten unkeyed events
    with trail.begin() as s:  # a keyed append on that tail, with the right key
        s.execute(text("SET LOCAL session_replication_role = replica"))
        prev = s.execute(text("SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1")).scalar()
        from datetime import datetime, timezone
        at = datetime.now(timezone.utc)
        h = audit.event_hash(prev, at, "approved", "U2", "prod", 7, {}, KEY.encode())
        s.execute(text("INSERT INTO audit_events (at, event, actor, environment, request_id, data, prev_hash, hash, key_id) "
                       "VALUES (:at, 'approved', 'U2', 'prod', 7, '{}', :p, :h, :k)"),
                  {"at": at, "p": prev, "h": h, "k": audit.key_id(KEY.encode())})
    code, out = run(capsys, "verify")
    with trail() as s:
        newest = s.execute(text("SELECT max(id) FROM audit_events")).scalar()
    assert code == 1 and out.startswith(f"Audit chain BROKEN at event #{newest}: it is keyed but follows unkeyed events"), out


def test_every_process_records_a_keyed_event_at_start(trail, db):
    """Issue #26 item 1: a start with an unchanged configuration records an event too."""
    engine = make_engine(db)
    for process in ("web", "worker", "clock"):
        audit.record_start(engine, load_settings(), process)
    with make_session(engine) as s:
        starts = s.execute(text("SELECT actor, key_id FROM audit_events WHERE event = 'process_started' ORDER BY id")).all()
        assert audit.verify(s, keys=audit.Keyring(KEY.encode())).ok
    engine.dispose()
    assert [(a, k) for a, k in starts] == [(p, audit.key_id(KEY.encode())) for p in ("web", "worker", "clock")]
