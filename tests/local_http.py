"""The local HTTP server under the git and GitHub stand-ins: a free port on 127.0.0.1, served
from a daemon thread, quiet (no request log)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalHTTPServer:
    """Hands each GET and POST to *handle* (the request handler: ``command`` is the method); ``url``
    is where it listens until ``close()``."""

    def __init__(self, handle: Callable[[BaseHTTPRequestHandler], None]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 - the http.server interface
                handle(self)

            def do_POST(self):  # noqa: N802 - the http.server interface
                handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
