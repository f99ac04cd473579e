"""Bad input over real signed HTTP into ``driftbot web`` (issue #14, case 9): one clear short line or a
401, never a 500 with a traceback, and never "the state database is unreachable" for a bad argument."""

from __future__ import annotations

import json
import time

from urllib.parse import parse_qs, parse_qsl, urlencode

from tests.slack.conftest import CHANNEL, click, click_body, command, command_body, post, sign


def test_a_malformed_timestamp_header_is_401_not_500(bot_env, stub):
    url = bot_env.start_web()
    body = command_body("status prod")
    for ts in ("abc", "²", "1.5e9", "-1", " 17"):
        status, answer, _ = post(url, body, ts=ts, signature=sign(body, ts))
        assert status == 401, (ts, status, answer)
        assert "Traceback" not in answer
    assert post(url, body)[0] == 200  # a well-formed one still goes through
    log = "".join(p.read_text(errors="replace") for p in bot_env.tmp.glob("web-*.log"))
    assert "Traceback" not in log


def test_non_ascii_digits_and_huge_numbers_get_the_usage_line(bot_env, stub):
    url = bot_env.start_web()
    for text in ("audit --days ²", "audit prod --days ٣", "audit --days 99999999999999999999999"):
        status, body, took = command(url, text)
        assert status == 200 and took < 3, (text, status, body)
        assert json.loads(body)["text"] == "`--days` takes a number of days from 1 to 366: `/drift audit prod --days 30`."


def test_an_id_beyond_bigint_is_a_bad_button_not_a_database_outage(bot_env, stub):
    url = bot_env.start_web()
    bot_env.start_worker()  # decisions are taken on a worker
    message = {"ts": "1700000099.000100", "channel": CHANNEL, "text": "Request #1", "blocks": []}
    huge = str(2**63)
    for action, value, says in [
        ("approve", huge, "That button is not valid"),
        ("reject", "9" * 40, "That button is not valid"),
        ("approve", "-3", "That button is not valid"),
        ("propose_fix_0", json.dumps({"check": 2**70, "finding": 0}), "That button is not valid any more"),
    ]:
        status, _, took = click(url, action, value, "UBO", message)
        assert status == 200 and took < 3
        got = stub.wait_for(lambda: [e["text"] for e in stub.ephemerals("UBO")], what="the clicker's answer")
        assert got[-1].startswith(says), (action, value, got[-1])
        assert "unreachable" not in got[-1]
        stub.calls.clear()
        time.sleep(0.05)


def test_look_alike_enum_values_are_refused_in_one_line_naming_the_character(bot_env, stub):
    """The Slack command and the CLI validate with the same function (driftbot.engine.writers.check_enum_value)."""
    import psycopg

    url = bot_env.start_web()
    for value, says in [("VIDЕO", "U+0415 CYRILLIC CAPITAL LETTER IE"), ("VID\x1bO", "U+001B ESC"),
                        ("VI\x07DEO", "U+0007 BEL"), ("VID\u200bEO", "U+200B ZERO WIDTH SPACE")]:
        status, body, took = command(url, f"enum prod MediaKind {value}")
        assert status == 200 and took < 3
        answer = json.loads(body)["text"]
        assert says in answer and "\n" not in answer and value not in answer, answer
    with psycopg.connect(bot_env.env["DRIFTBOT_STATE_URL"]) as conn:
        assert conn.execute("SELECT count(*) FROM requests").fetchone()[0] == 0


# --- issue #26, item 7: malformed payloads -------------------------------------------------------

def _raw_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, float]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode(), time.perf_counter() - t0
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), time.perf_counter() - t0


def _web_log(bot_env) -> str:
    return "".join(p.read_text(errors="replace") for p in bot_env.tmp.glob("web-*.log"))


# What a web process logs as its workers boot, which may come after the first request (a second
# gunicorn worker boots while the first answers): not lines about a request.
_BOOT_LINES = ("] [INFO] ", "As you gave `client` as well")  # gunicorn's own notices; Bolt's at app creation


def _request_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if not any(mark in line for mark in _BOOT_LINES)]


MALFORMED_PAYLOADS = [b"payload=not-json", b"payload=%5B1%5D", b"payload=null", b"payload=%22x%22", b"payload=",
                      b"\xff\xfe=\xff"]


def test_unsigned_or_badly_signed_bodies_get_401_before_any_parsing(bot_env, stub):
    url = bot_env.start_web()
    for body in MALFORMED_PAYLOADS + [command_body("status prod")]:
        ts = str(int(time.time()))
        for headers in ({}, {"X-Slack-Request-Timestamp": ts},
                        {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + "0" * 64},
                        {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(body, int(ts), "not-the-secret")}):
            status, answer, _ = _raw_post(url, body, headers)
            assert status == 401, (body, headers, status, answer)
            assert "Traceback" not in answer
    assert "Traceback" not in _web_log(bot_env)


def _signed_click(payload) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_signed_but_malformed_payloads_get_a_quiet_answer_and_one_log_line(bot_env, stub):
    url = bot_env.start_web()
    good = json.loads(parse_qs(
        click_body("approve", "1", "UBO", {"ts": "1700000099.000100", "channel": CHANNEL}).decode())["payload"][0])
    no_actions = {**good, "actions": []}
    no_action_id = {**good, "actions": [{k: v for k, v in good["actions"][0].items() if k != "action_id"}]}
    no_user = {k: v for k, v in good.items() if k != "user"}
    bad_user = {**good, "user": "UBO"}
    command = dict(parse_qsl(command_body("status prod").decode()))
    bodies = MALFORMED_PAYLOADS[:5] + [
        _signed_click(no_actions), _signed_click(no_action_id), _signed_click(no_user), _signed_click(bad_user),
        _signed_click({**good, "actions": "x"}), _signed_click({**good, "type": None}),
        urlencode({k: v for k, v in command.items() if k != "user_id"}).encode(),
        urlencode({k: v for k, v in command.items() if k != "channel_id"}).encode(),
    ]
    before = len(_request_lines(_web_log(bot_env)))
    for body in bodies:
        status, answer, took = post(url, body)
        assert status in (200, 400) and took < 3, (body, status, answer, took)
        assert "Traceback" not in answer
    time.sleep(0.5)
    log = _web_log(bot_env)
    assert "Traceback" not in log
    assert len(_request_lines(log)) - before <= len(bodies)  # at most one line each
    assert post(url, command_body("status prod"))[0] == 200  # a well-formed one still goes through
