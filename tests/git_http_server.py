"""A local git HTTP server: git's own ``git http-backend`` (smart HTTP) behind a small Python server.

It asks for HTTP basic auth as github.com does for a token (any user name, the token as the
password) and answers 401 with ``WWW-Authenticate`` otherwise, so a push without the token
fails as it would on GitHub. Every request line and header is kept, so a test can show the
token never travelled in a URL.
"""

from __future__ import annotations

import base64
import subprocess
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

from tests.local_http import LocalHTTPServer

BACKEND = "/usr/lib/git-core/git-http-backend"


class GitHTTPServer(LocalHTTPServer):
    def __init__(self, root: Path, token: str) -> None:
        self.root, self.token = Path(root), token
        self.requests: list[dict] = []
        super().__init__(self._handle)  # answers in HTTP/1.0, http.server's default

    def _authorised(self, header: str | None) -> bool:
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            _user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        return password == self.token

    def _body(self, h: BaseHTTPRequestHandler) -> bytes:
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(h.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    h.rfile.readline()
                    return out
                out += h.rfile.read(size)
                h.rfile.readline()
        length = int(h.headers.get("Content-Length") or 0)
        return h.rfile.read(length) if length else b""

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        self.requests.append({"method": h.command, "path": h.path, "headers": dict(h.headers)})
        body = self._body(h) if h.command == "POST" else b""
        if not self._authorised(h.headers.get("Authorization")):
            h.send_response(401)
            h.send_header("WWW-Authenticate", 'Basic realm="git"')
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        env = {
            "PATH": "/usr/bin:/bin", "GIT_PROJECT_ROOT": str(self.root), "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": h.command, "PATH_INFO": parts.path, "QUERY_STRING": parts.query,
            "CONTENT_TYPE": h.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "token", "REMOTE_ADDR": "127.0.0.1",
        }
        if h.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = h.headers["Git-Protocol"]
        if h.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = h.headers["Content-Encoding"]
        done = subprocess.run([BACKEND], input=body, capture_output=True, env=env)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key, value.strip()))
        h.send_response(status)
        for key, value in headers:
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)
