"""The App Home board through the real ``driftbot web``: a signed ``app_home_opened`` event publishes the
person's Home tab (``views.publish``), which the strict stand-in accepts, showing only the environments
that person may see ("Who may do what"); its "Check now" button queues a check of one of them."""

from __future__ import annotations

import json
import time
import uuid

from tests.slack.conftest import CHANNEL, post
from tests.slack_rules import home_violations


def _event_body(user: str, tab: str = "home") -> bytes:
    return json.dumps({
        "token": "legacy-unused", "team_id": "T0TEST", "api_app_id": "A0DRIFT", "type": "event_callback",
        "event_id": f"Ev{uuid.uuid4().hex[:10]}", "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": tab,
                  "event_ts": f"{time.time():.6f}"},
    }).encode()


def _configure(bot_env, db, project) -> None:
    """prod: channel C0DBOPS, read by its approvers and the viewer UVI; payroll: its own channel, read by
    UDI alone; scratch: tied to no channel (its status answers anywhere)."""
    config = bot_env.tmp / "home.toml"
    config.write_text("\n".join([
        'approvers = ["S0DBAS", "UDI"]', f'cache_dir = "{bot_env.tmp / "cache"}"', "",
        "[environments.prod]", f'database_url = "{db}"', f'migrations = "{project}"', f'channel = "{CHANNEL}"',
        'viewers = ["UVI"]', "",
        "[environments.payroll]", f'database_url = "{db}"', f'migrations = "{project}"', 'channel = "C0PAYROLL"',
        'approvers = ["UDI"]', "viewers = []", "",
        "[environments.scratch]", f'database_url = "{db}"', f'migrations = "{project}"', "",
    ]) + "\n")
    bot_env.env["DRIFTBOT_CONFIG"] = str(config)


def test_app_home_opened_publishes_only_the_environments_that_person_may_see(bot_env, stub, db, project):
    _configure(bot_env, db, project)
    url = bot_env.start_web()
    status, _, took = post(url, _event_body("UVI"), content_type="application/json")
    assert status == 200 and took < 3
    view = stub.wait_for(lambda: stub.home.get("UVI"), what="the Home tab published")
    assert view["type"] == "home" and home_violations(view) == []
    shown = json.dumps(view)
    assert "*prod*" in shown and "*scratch*" in shown  # a viewer of prod; scratch answers anywhere
    assert "payroll" not in shown
    status, _, _ = post(url, _event_body("UDI"), content_type="application/json")  # UDI reads all three
    assert status == 200
    assert "*payroll*" in json.dumps(stub.wait_for(lambda: stub.home.get("UDI"), what="UDI's Home tab"))


def test_an_unsigned_app_home_opened_publishes_nothing(bot_env, stub, db, project):
    _configure(bot_env, db, project)
    url = bot_env.start_web()
    status, _, _ = post(url, _event_body("UVI"), content_type="application/json", signature="v0=" + "0" * 64)
    assert status == 401
    time.sleep(1)
    assert stub.home == {} and not stub.called("views.publish")


def _home_click(user: str, environment: str) -> bytes:
    from urllib.parse import urlencode
    payload = {
        "type": "block_actions", "api_app_id": "A0DRIFT", "token": "legacy-unused", "trigger_id": f"{time.time_ns()}.1",
        "team": {"id": "T0TEST", "domain": "example"}, "user": {"id": user, "username": user.lower(), "team_id": "T0TEST"},
        "container": {"type": "view", "view_id": "V0HOME"}, "view": {"id": "V0HOME", "type": "home"},
        "actions": [{"type": "button", "action_id": "home_check_0", "block_id": "home-check-0", "value": environment,
                     "text": {"type": "plain_text", "text": f"Check {environment}"}, "action_ts": f"{time.time():.6f}"}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_check_now_on_the_home_tab_checks_an_environment_that_person_may_see_and_no_other(bot_env, stub, db, project):
    _configure(bot_env, db, project)
    url = bot_env.start_web()
    bot_env.start_worker()
    assert post(url, _home_click("UVI", "payroll"))[0] == 200  # not theirs to see: nothing is checked
    assert post(url, _home_click("UVI", "prod"))[0] == 200
    result = stub.wait_for(lambda: next((m for m in stub.posts(CHANNEL) if not m["thread_ts"] and "prod" in m["text"]), None),
                           timeout=120, what="prod's result in its channel")
    assert result["text"].startswith(":red_circle:")
    time.sleep(1)
    assert stub.posts("C0PAYROLL") == []
    assert "*prod*" in json.dumps(stub.wait_for(lambda: stub.home.get("UVI"), what="the board published again"))
