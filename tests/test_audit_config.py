"""Configuration changes seen at start-up land in the audit trail, without secrets."""

from __future__ import annotations

import json

from sqlalchemy import select

from driftbot import audit
from driftbot.settings import Settings
from driftbot.state.db import make_engine, sessions, upgrade
from driftbot.state.models import AuditEvent


def settings(**prod):
    env = {"database_url": "postgresql://ro:s3cret-pw@db.internal:5432/app", "migrations": "prisma/migrations", **prod}
    return Settings(environments={"prod": env}, approvers=["U0AAA"], slack_bot_token="xoxb-secret-token")


def config_events(engine):
    with sessions(engine)() as s:
        return list(s.execute(select(AuditEvent).where(AuditEvent.event == "config_changed").order_by(AuditEvent.id)).scalars())


def test_first_start_then_only_changes_are_recorded(db):
    engine = make_engine(db)
    upgrade(engine)
    audit.record_start(engine, settings(), "web")
    audit.record_start(engine, settings(), "worker")  # same configuration: nothing new
    audit.record_start(engine, settings(approvals_required=3, channel="C0DBOPS"), "worker")
    first, second = config_events(engine)
    assert first.actor == "web" and first.data["previous"] is None
    assert second.actor == "worker" and second.data["previous"] == first.data["fingerprint"]
    assert second.data["changed"] == ["environments.prod.approvals_required", "environments.prod.channel"]
    assert second.data["config"]["environments"]["prod"]["database"] == "ro@db.internal:5432/app"
    text = json.dumps([first.data, second.data])
    assert "s3cret-pw" not in text and "xoxb-secret-token" not in text
    with sessions(engine)() as s:
        assert audit.verify(s).ok
    engine.dispose()


def test_every_settings_key_is_in_the_audited_view(db):
    """Issue #26: the audited configuration view is derived from the settings model, so a change to any
    key (here `ignore`, which can hide all table drift) records a config_changed event."""
    from driftbot.settings import EnvironmentSettings

    process_local = {"name", "port", "cache_dir"}  # where one process listens or caches: not configuration

    engine = make_engine(db)
    upgrade(engine)
    audit.record_start(engine, settings(), "web")
    audit.record_start(engine, settings(ignore=["table:*"]), "worker")
    events = config_events(engine)
    assert len(events) == 2 and "environments.prod.ignore" in events[1].data["changed"]
    view = settings(git_token="ghp-secret-git-token").public_view()
    assert set(Settings.model_fields) - process_local <= set(view)
    env_view = view["environments"]["prod"]
    assert all(any(k in env_view for k in (name, (f.alias or ""))) or name.removesuffix("_url") in env_view
               for name, f in EnvironmentSettings.model_fields.items() if name not in process_local), sorted(env_view)
    assert "ghp-secret-git-token" not in json.dumps(view, default=str) and "s3cret-pw" not in json.dumps(view, default=str)
    engine.dispose()
