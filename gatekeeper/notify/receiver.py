"""A local webhook endpoint that stands in for PagerDuty and Slack in the demo and the tests: it records
every JSON body it receives and can fail the first N calls on purpose (to show retries)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LocalReceiver:
    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[tuple[str, dict[str, Any]]] = []
        self.calls = 0
        self.fail_first = fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                outer.calls += 1
                failing = outer.calls <= outer.fail_first
                if not failing:
                    outer.bodies.append((self.path, body))
                self.send_response(500 if failing else 202)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
