"""The door's first look at a request to /slack/events, before Bolt parses anything.

An unsigned or badly signed body gets 401 before any parsing that can fail (so whoever reaches the URL
cannot make driftbot log a traceback per request); a signed body that does not have the shape Slack
documents for its kind (a command, a block_actions click, an event) gets 400 and one log line, never
a 500. Slack's signing: ``v0:{timestamp}:{raw body}``, HMAC-SHA256 with the signing secret, compared in
constant time, the timestamp at most 5 minutes off
(https://docs.slack.dev/authentication/verifying-requests-from-slack/).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs

MAX_SKEW_S = 300


def signed(body: bytes, timestamp: str | None, signature: str | None, secret: str, now: float | None = None) -> bool:
    """Slack's signature check, on raw bytes, failing closed on anything unexpected in the headers."""
    if not timestamp or not signature or not secret:
        return False
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_SKEW_S:
        return False
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def malformed(body: bytes, content_type: str | None) -> str | None:
    """Why a signed body is not a request driftbot's listeners can read, or None when it is."""
    if (content_type or "").split(";")[0].strip().lower() == "application/json":
        try:
            event = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return "a JSON body that is not JSON"
        return None if isinstance(event, dict) else "a JSON body that is not an object"
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        return "a form body that is not UTF-8"
    if "payload" in form:
        return _payload_problem(form["payload"][0])
    if "command" in form:
        for field in ("user_id", "channel_id"):
            if not (form.get(field) or [""])[0]:
                return f"a command without {field}"
    return None


def _payload_problem(text: str) -> str | None:
    try:
        payload = json.loads(text)
    except ValueError:
        return "a payload that is not JSON"
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return "a payload that is not an object with a type"
    for part in ("user", "team", "channel", "container", "message"):
        if part in payload and not isinstance(payload[part], dict):
            return f"a payload whose {part} is not an object"
    if payload["type"] != "block_actions":
        return None
    if not isinstance((payload.get("user") or {}).get("id"), str):
        return "a click without a user"
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions:
        return "a click without actions"
    for action in actions:
        if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
            return "a click whose action has no action_id"
        if "value" in action and not isinstance(action["value"], str):
            return "a click whose value is not text"
    return None
