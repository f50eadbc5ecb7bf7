"""A local webhook endpoint that stands in for PagerDuty and Slack in the demo and the tests: it records
every JSON body it receives and can fail the first N calls on purpose (to show retries).

It dedups by the ``Idempotency-Key`` header as a receiver must for exactly-once: a repeat of a key it
has accepted is answered 202 and counted in ``repeats``, but not recorded again."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEY_HEADER = "Idempotency-Key"


class LocalReceiver:
    def __init__(self, fail_first: int = 0, delay: float = 0.0) -> None:
        self.bodies: list[tuple[str, dict[str, Any]]] = []
        self.calls = 0
        self.fail_first = fail_first
        self.delay = delay  # seconds before answering: widens the window a crash test kills the sender in
        self.seen: Counter[str] = Counter()  # accepted calls per idempotency key, repeats included
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                if outer.delay:
                    time.sleep(outer.delay)
                status = outer.receive(self.path, body, self.headers.get(KEY_HEADER))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def receive(self, path: str, body: dict[str, Any], key: str | None) -> int:
        """Record a body once per key (a body without a key every time); 500 for the first N calls."""
        with self.lock:
            self.calls += 1
            if self.calls <= self.fail_first:
                return 500
            if key is not None:
                self.seen[key] += 1
                if self.seen[key] > 1:
                    return 202
            self.bodies.append((path, body))
            return 202

    @property
    def repeats(self) -> int:
        """Deliveries folded by key: a sender sent them again after a crash or a lost answer."""
        return sum(n - 1 for n in self.seen.values())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
