"""The API under uvicorn in a background thread on a free port: the demo, the concurrency tests and the
benchmarks talk to a real HTTP server this way."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn


class BackgroundServer:
    def __init__(self, app: Any, *, host: str = "127.0.0.1", start_timeout: float = 30.0) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=0, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, name="gatekeeper-api", daemon=True)
        self.host, self.start_timeout = host, start_timeout
        self.url = ""

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        self.url = f"http://{self.host}:{self.server.servers[0].sockets[0].getsockname()[1]}"
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
