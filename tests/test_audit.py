"""The audit chain on a real state database."""

from __future__ import annotations

from sqlalchemy import text

import ast
from pathlib import Path

import driftbot
from driftbot import audit
from driftbot.state.db import make_engine, upgrade


def test_chain_verifies_and_detects_an_edited_row(state):
    with state.begin() as s:
        audit.record(s, event="check_requested", actor="U1", environment="prod", data={"n": 1})
        second = audit.record(s, event="request_created", actor="U1", environment="prod", request_id=7)
        audit.record(s, event="approved", actor="U2", environment="prod", request_id=7)
    with state() as s:
        assert audit.verify(s) == audit.ChainReport(True, 3)
    with state.begin() as s:
        # A hand edit takes a superuser who switches the append-only trigger off.
        s.execute(text("SET LOCAL session_replication_role = replica"))
        s.execute(text("UPDATE audit_events SET actor = 'U9' WHERE id = :id"), {"id": second.id})
    with state() as s:
        report = audit.verify(s)
    assert not report.ok and report.first_broken == second.id


def test_upgrade_twice_is_harmless(db):
    engine = make_engine(db)
    upgrade(engine)
    upgrade(engine)
    with engine.connect() as conn:
        from alembic.script import ScriptDirectory

        from driftbot.state.db import alembic_config

        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
    engine.dispose()


def test_every_recorded_event_has_plain_words_and_no_words_wait_for_an_event_never_recorded():
    recorded = set()
    for path in Path(driftbot.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):  # audit.record(..., event="x"), or a helper handed event="x"
                recorded |= {k.value.value for k in node.keywords
                             if k.arg == "event" and isinstance(k.value, ast.Constant)}
    assert "execution_refused" in recorded and "config_changed" in recorded  # the scan sees them
    assert set(audit.PHRASES) == recorded
