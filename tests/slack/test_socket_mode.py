"""Socket Mode: with SLACK_APP_TOKEN and no signing secret, the same app answers envelopes.

The envelope goes through Bolt's Socket Mode adapter (``run_bolt_app``, what
``SocketModeHandler`` calls for each message from Slack's WebSocket) into the
real listeners, state database and Redis; only the WebSocket itself is not
opened.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from slack_bolt.adapter.socket_mode.internals import run_bolt_app
from slack_sdk.socket_mode.request import SocketModeRequest

from driftbot.settings import load_settings
from driftbot.handlers.app import create_app
from tests.slack.conftest import TOKEN, command_body
from tests.support import make_runtime


def test_a_slash_command_envelope_is_acknowledged_with_the_answer(bot_env, stub):
    e = bot_env.env
    settings = load_settings(e["DRIFTBOT_CONFIG"], state_url=e["DRIFTBOT_STATE_URL"], redis_url=e["REDIS_URL"],
                             slack_api_url=e["DRIFTBOT_SLACK_API_URL"], slack_bot_token=TOKEN,
                             slack_app_token="xapp-1-A0DRIFT-1-test", queue_prefix=e["DRIFTBOT_QUEUE_PREFIX"])
    assert settings.slack_signing_secret is None
    rt = make_runtime(settings)
    app = create_app(rt)
    payload = dict(parse_qsl(command_body("status prod").decode()))
    resp = run_bolt_app(app, SocketModeRequest(type="slash_commands", envelope_id="env-1", payload=payload))
    assert resp.status == 200
    assert json.loads(resp.body)["text"] == "Checking *prod*… results will be posted in this channel."
    again = run_bolt_app(app, SocketModeRequest(type="slash_commands", envelope_id="env-1", payload=payload))
    assert "already running" in json.loads(again.body)["text"]  # a re-delivered envelope joins, never doubles
    rt.engine.dispose()
