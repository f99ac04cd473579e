"""A Slack Web API stand-in: a real HTTP server on 127.0.0.1 for tests.

It answers the methods driftbot uses the way Slack documents them
(``{"ok": true, ...}`` / ``{"ok": false, "error": "..."}``, HTTP 429 with
``Retry-After``), keeps the messages it was sent (updates applied), and records
every call so tests can assert on what was posted. ``fail(method, status,
times)`` makes the next *times* calls of a method answer 429 or 500.
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


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int
    at: float = field(default_factory=time.monotonic)


class SlackStub:
    def __init__(self, token: str = "xoxb-test-token", groups: dict[str, list[str]] | None = None) -> None:
        self.token = token
        self.groups = groups or {}
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, ts) -> message
        self.files: dict[str, dict[str, Any]] = {}
        self._faults: dict[str, list[tuple[int, float]]] = {}
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

    def heal(self, method: str) -> None:
        """The faults still queued for *method* are dropped: it answers normally again."""
        with self._lock:
            self._faults.pop(method, None)

    # --- what happened ------------------------------------------------------------------------

    def called(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and c.status == 200]

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
        if method == "auth.test":
            return {"ok": True, "url": "https://example.slack.com/", "team": "Example", "user": "driftbot",
                    "team_id": "T0TEST", "user_id": "UBOT", "bot_id": "B0BOT", "is_enterprise_install": False}
        if method == "chat.postMessage":
            if not p.get("channel"):
                return {"ok": False, "error": "channel_not_found"}
            if not p.get("text") and not p.get("blocks"):
                return {"ok": False, "error": "no_text"}
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
            if not p.get("channel") or not p.get("user"):
                return {"ok": False, "error": "channel_not_found" if not p.get("channel") else "user_not_in_channel"}
            return {"ok": True, "message_ts": f"{1700000000 + next(self._ts)}.000200"}
        if method == "files.getUploadURLExternal":
            if not p.get("filename") or not p.get("length"):
                return {"ok": False, "error": "invalid_arguments"}
            fid = f"F{next(self._ts):08d}"
            self.files[fid] = {"id": fid, "name": p["filename"], "length": int(p["length"]),
                               "snippet_type": p.get("snippet_type"), "content": None}
            return {"ok": True, "upload_url": f"http://127.0.0.1:{self.port}/upload/{fid}", "file_id": fid}
        if method == "files.completeUploadExternal":
            files = _json(p.get("files")) or []
            out = []
            for f in files:
                stored = self.files.get(f.get("id"))
                if stored is None or stored["content"] is None:
                    return {"ok": False, "error": "file_not_found"}
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
                    stub.calls.append(Call(method, params, 200))
                self._send(200, json.dumps(answer).encode(), {"Content-Type": "application/json; charset=utf-8"})

        return Handler


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
