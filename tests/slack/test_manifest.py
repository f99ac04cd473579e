"""manifest.yml declares exactly what the code uses: the command, interactivity, the bot scopes."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from driftbot.handlers.intake.grammar import HELP
from driftbot.slack import views
from driftbot.state.models import Request
from driftbot.handlers import actions, commands, events

ROOT = Path(__file__).resolve().parents[2]
# The scope each Web API method needs (Slack's method reference). A method missing here fails the test.
SCOPES = {
    "chat_postMessage": "chat:write", "chat_update": "chat:write", "chat_postEphemeral": "chat:write",
    "files_upload_v2": "files:write", "usergroups_users_list": "usergroups:read",
    "views_publish": None,  # views.publish: "No scopes required"
    # conversations.info: channels:read for a public channel, groups:read for a private one
    "conversations_info": ("channels:read", "groups:read"),
}
CALL = re.compile(r"\.(chat_\w+|files_\w+|usergroups_\w+|users_\w+|conversations_\w+|reactions_\w+|views_\w+)\(")
# A method called over plain HTTP by its name (driftbot doctor's slack_call): "conversations.info".
NAMED = re.compile(r"[\"'](chat|files|usergroups|users|conversations|reactions|views)\.(\w+)[\"']")


def _manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def _methods_in_code() -> set[str]:
    found = set()
    for path in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]:
        text = path.read_text()
        found.update(CALL.findall(text))
        found.update(f"{group}_{name}" for group, name in NAMED.findall(text))
    return found


def test_every_scope_the_code_needs_is_declared_and_no_other():
    methods = _methods_in_code()
    assert methods, "no Web API calls found: the scan is broken"
    unknown = methods - SCOPES.keys()
    assert not unknown, f"add the scope of {unknown} to SCOPES and manifest.yml"
    needed = {s for m in methods if SCOPES[m] for s in ((SCOPES[m],) if isinstance(SCOPES[m], str) else SCOPES[m])}
    needed |= {"commands"}
    assert set(_manifest()["oauth_config"]["scopes"]["bot"]) == needed


def test_the_slash_command_is_the_one_the_code_registers():
    declared = [c["command"] for c in _manifest()["features"]["slash_commands"]]
    assert declared == [commands.COMMAND]
    for c in _manifest()["features"]["slash_commands"]:
        assert c["url"].endswith("/slack/events")
        for verb in ("status", "diff", "resolve", "enum", "compare", "requests", "audit", "digest", "envs", "help"):
            assert verb in c["usage_hint"]
            assert verb == "help" or f"/drift {verb}" in HELP


def test_interactivity_is_on_and_every_button_has_a_listener():
    m = _manifest()
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["settings"]["interactivity"]["request_url"].endswith("/slack/events")
    assert m["settings"]["socket_mode_enabled"] is False  # HTTP by default; SLACK_APP_TOKEN switches the web process
    req = Request(id=7, environment="prod", kind="add_enum_value", args={}, sql="ALTER TYPE ...", fingerprint="f",
                  plan_hash="a" * 64, status="requested", requester="UANA", approvals_required=2,
                  expires_at=datetime.now(timezone.utc) + timedelta(hours=24))
    _, blocks = views.request_message(req, [])
    emitted = {e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]}
    assert emitted == set(actions.DECISIONS)
    assert [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"]][:2] == ["Approve", "Reject"]
    assert actions.PROPOSE.match("propose_fix_0") and actions.PROPOSE.match("propose_fix_4")
    assert actions.OPEN_PULL_REQUEST.match("open_pull_request_0")  # driftbot.slack.views emits these


def test_the_home_tab_its_event_and_the_dm_are_declared_and_handled():
    """Slack's manifest reference: features.app_home (home_tab_enabled, messages_tab_enabled,
    messages_tab_read_only_enabled) and settings.event_subscriptions.bot_events."""
    m = _manifest()
    home = m["features"]["app_home"]
    assert home == {"home_tab_enabled": True, "messages_tab_enabled": True, "messages_tab_read_only_enabled": False}
    subscriptions = m["settings"]["event_subscriptions"]
    assert subscriptions["request_url"].endswith("/slack/events")
    registered = {"app_home_opened"}  # handlers/events.py: app.event(...)
    assert set(subscriptions["bot_events"]) == registered
    assert 'app.event("app_home_opened")' in (ROOT / "handlers" / "events.py").read_text()
    from driftbot.digest import board
    from driftbot.digest.content import EnvStatus
    view = board.render(board.Board("U1", datetime.now(timezone.utc), (board.BoardLine(EnvStatus("prod", "drifted")),)))
    emitted = [e["action_id"] for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert emitted and all(events.CHECK_NOW.match(a) for a in emitted)
