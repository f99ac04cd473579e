"""The Slack Web API stand-in of the whole suite: a real HTTP server on 127.0.0.1, as strict as Slack.

It answers the methods driftbot uses the way Slack documents them
(``{"ok": true, ...}`` / ``{"ok": false, "error": "..."}``, HTTP 429 with
``Retry-After``), refuses what Slack refuses with Slack's own error bodies
(``tests/slack_rules.py``: msg_too_long, invalid_blocks with its ``errors``,
invalid_arguments, too_many_attachments, the files upload v2 steps), keeps the
messages it was sent (updates applied) and the Home tabs published, and records
every call so tests can assert on what was posted.

A test that needs a fault asks for it by name: ``fail(method, status, times)``
(429 or 5xx), ``refuse(method, error, times)`` (``ok: false`` with that error).
Refusals nobody asked for are kept in ``violations``: the fixtures fail a test
that leaves any (``assert_clean``), unless it says ``expect_violations()``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from tests import slack_rules


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int
    at: float = field(default_factory=time.monotonic)
    ok: bool = True  # Slack's answer said ok (a refusal by the rules or by request is not)


class SlackStub:
    def __init__(self, token: str = "xoxb-test-token", groups: dict[str, list[str]] | None = None) -> None:
        self.token = token
        self.groups = groups or {}
        # The token's scopes, sent as Slack does in the x-oauth-scopes header of a Web API answer to that
        # token ("Working with scopes", https://api.slack.com/docs/oauth-scopes and
        # https://api.slack.com/methods/auth.test); default: manifest.yml's bot scopes.
        self.scopes: list[str] = ["commands", "chat:write", "files:write", "usergroups:read", "channels:read", "groups:read"]
        # The workspace's channels as conversations.info describes them (CONVINFO in tests/slack_rules.py):
        # id -> {"name", "is_private", "is_member", "is_archived"}, or None for a channel that does not exist.
        # A channel not listed is a public one the bot is in, as every other test assumes; a listed one is
        # also what chat.postMessage and chat.postEphemeral go by (not_in_channel, channel_not_found).
        self.conversations: dict[str, dict[str, Any] | None] = {}
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, ts) -> message
        self.files: dict[str, dict[str, Any]] = {}
        self.home: dict[str, dict[str, Any]] = {}  # user -> the Home tab view published for them
        self.violations: list[tuple[str, dict[str, Any], dict[str, Any]]] = []  # (method, params, answer)
        self._violations_expected = False
        self._faults: dict[str, list[tuple[int, float]]] = {}
        self._refusals: dict[str, list[str]] = {}
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/api/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # --- control ------------------------------------------------------------------------------

    def start(self) -> "SlackStub":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail(self, method: str, status: int, times: int = 1, retry_after: float = 1) -> None:
        """The next *times* calls of *method* answer *status* (429 carries Retry-After)."""
        with self._lock:
            self._faults.setdefault(method, []).extend([(status, retry_after)] * times)

    def refuse(self, method: str, error: str, times: int = 1,
               when: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """The next *times* calls of *method* (those *when* says, all by default) answer
        ``{"ok": false, "error": error}`` (HTTP 200), as Slack does for a refusal that is not about the
        payload (``internal_error``, ``fatal_error``, ...), or to stand for one that is."""
        with self._lock:
            self._refusals.setdefault(method, []).extend([(error, when)] * times)

    def heal(self, method: str) -> None:
        """The faults still queued for *method* are dropped: it answers normally again."""
        with self._lock:
            self._faults.pop(method, None)
            self._refusals.pop(method, None)

    def expect_violations(self) -> None:
        """This test sends what Slack refuses on purpose: ``assert_clean`` lets it pass."""
        self._violations_expected = True

    def assert_clean(self) -> None:
        """No call broke Slack's documented rules (unless the test expected it)."""
        if self.violations and not self._violations_expected:
            shown = [(m, a.get("error"), (a.get("errors") or [])[:3]) for m, _, a in self.violations[:5]]
            raise AssertionError(f"Slack would have refused {len(self.violations)} call(s): {shown}")

    # --- what happened ------------------------------------------------------------------------

    def called(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and c.status == 200]

    def refused(self, method: str | None = None) -> list[dict[str, Any]]:
        """Slack's answers to the calls it refused by its rules, oldest first."""
        with self._lock:
            return [a for m, _, a in self.violations if method is None or m == method]

    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages as they stand now (updates applied), in posting order."""
        with self._lock:
            items = sorted(self.messages.values(), key=lambda m: float(m["ts"]))
        return [m for m in items if channel is None or m["channel"] == channel]

    def ephemerals(self, user: str | None = None) -> list[dict[str, Any]]:
        return [c.params for c in self.called("chat.postEphemeral") if user is None or c.params.get("user") == user]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = predicate()
            if got:
                return got
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; messages: {[m.get('text') for m in self.posts()]}")

    # --- the methods --------------------------------------------------------------------------

    def _answer(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        asked = self._refusals.get(method) or []
        for i, (error, when) in enumerate(asked):
            if when is None or when(p):
                del asked[i]
                return {"ok": False, "error": error}
        refused = slack_rules.refusal(method, p)
        if refused is None and method in ("chat.postMessage", "chat.postEphemeral") and p.get("channel") in self.conversations:
            refused = slack_rules.posting_refusal(self.conversations[p["channel"]], self.scopes)
        if refused is not None:
            self.violations.append((method, p, refused))
            return refused
        if method == "conversations.info":
            channel = p["channel"]
            known = self.conversations[channel] if channel in self.conversations else {"is_member": True}
            return slack_rules.conversation_info(channel, known, self.scopes)
        if method == "auth.test":
            return {"ok": True, "url": "https://example.slack.com/", "team": "Example", "user": "driftbot",
                    "team_id": "T0TEST", "user_id": "UBOT", "bot_id": "B0BOT", "is_enterprise_install": False}
        if method == "chat.postMessage":
            ts = f"{1700000000 + next(self._ts)}.000100"
            msg = {"channel": p["channel"], "ts": ts, "text": p.get("text"), "blocks": _json(p.get("blocks")),
                   "thread_ts": p.get("thread_ts")}
            self.messages[(p["channel"], ts)] = msg
            return {"ok": True, "channel": p["channel"], "ts": ts, "message": {"text": msg["text"], "ts": ts}}
        if method == "chat.update":
            key = (p.get("channel"), p.get("ts"))
            if key not in self.messages:
                return {"ok": False, "error": "message_not_found"}
            self.messages[key].update(text=p.get("text"), blocks=_json(p.get("blocks")), edited=True)
            return {"ok": True, "channel": key[0], "ts": key[1], "text": p.get("text")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{1700000000 + next(self._ts)}.000200"}
        if method == "views.publish":
            view = _json(p["view"])
            self.home[p["user_id"]] = view
            return {"ok": True, "view": {"id": f"V{next(self._ts):08d}", "type": "home", **view}}
        if method == "files.getUploadURLExternal":
            fid = f"F{next(self._ts):08d}"
            self.files[fid] = {"id": fid, "name": p["filename"], "length": int(p["length"]),
                               "snippet_type": p.get("snippet_type"), "content": None}
            return {"ok": True, "upload_url": f"http://127.0.0.1:{self.port}/upload/{fid}", "file_id": fid}
        if method == "files.completeUploadExternal":
            files = _json(p.get("files")) or []
            out = []
            for f in files:
                stored = self.files.get(f.get("id"))
                # COMPLETE: only a file whose bytes reached its upload URL can be completed, once.
                if stored is None or stored["content"] is None or stored.get("completed"):
                    return {"ok": False, "error": "file_not_found"}
                stored["completed"] = True
                stored.update(title=f.get("title"), channel=p.get("channel_id"), thread_ts=p.get("thread_ts"),
                              initial_comment=p.get("initial_comment"))
                out.append({"id": stored["id"], "name": stored["name"], "title": stored["title"]})
            return {"ok": True, "files": out}
        if method == "usergroups.users.list":
            if p.get("usergroup") not in self.groups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": list(self.groups[p["usergroup"]])}
        return {"ok": False, "error": "unknown_method"}

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                url = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if url.path.startswith("/upload/"):
                    fid = url.path.rsplit("/", 1)[1]
                    with stub._lock:
                        f = stub.files.get(fid)
                        if f is not None:
                            f["content"] = raw.decode("utf-8", "replace")
                    return self._send(200 if f else 404, f"OK - {len(raw)}".encode())
                method = url.path.removeprefix("/api/")
                params: dict[str, Any] = {k: v[0] for k, v in parse_qs(url.query).items()}
                if "json" in (self.headers.get("Content-Type") or ""):
                    params.update(json.loads(raw or b"{}"))
                else:
                    params.update({k: v[0] for k, v in parse_qs(raw.decode()).items()})
                with stub._lock:
                    fault = stub._faults.get(method)
                    if fault:
                        status, retry_after = fault.pop(0)
                        stub.calls.append(Call(method, params, status))
                        if status == 429:
                            return self._send(429, b'{"ok":false,"error":"ratelimited"}',
                                              {"Retry-After": str(int(retry_after)), "Content-Type": "application/json"})
                        return self._send(status, b"upstream error", {"Content-Type": "text/plain"})
                    auth = self.headers.get("Authorization", "")
                    token = auth.removeprefix("Bearer ") if auth else params.get("token")
                    answer = (stub._answer(method, params) if token == stub.token
                              else {"ok": False, "error": "not_authed" if not token else "invalid_auth"})
                    stub.calls.append(Call(method, params, 200, ok=bool(answer.get("ok"))))
                    headers = {"Content-Type": "application/json; charset=utf-8"}
                    if token == stub.token:
                        headers["x-oauth-scopes"] = ",".join(stub.scopes)
                self._send(200, json.dumps(answer).encode(), headers)

        return Handler


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
