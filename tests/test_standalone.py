"""``gatekeeper standalone`` as a user runs it: a real process group on free ports and a temporary data
dir. It answers /healthz and the dashboard's port, restarts a killed child, and stops on SIGINT with no
child left behind."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from gatekeeper.db import Database
from gatekeeper.migrate import upgrade
from gatekeeper.standalone import ensure_admin_token, next_backoff, standalone_env

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Output:
    """The supervisor's stdout, line by line, readable with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(proc,), daemon=True).start()

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        for line in proc.stdout or []:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if found := re.search(pattern, line):
                return found
        raise AssertionError(f"no line matching {pattern!r} in {timeout}s; output so far: {self.seen}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_http(url: str, timeout: float) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _start(data_dir: Path, api: int, dashboard: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEKEEPER_")}
    env["PYTHONPATH"] = str(ROOT)
    argv = [sys.executable, "-m", "gatekeeper", "standalone", "--data-dir", str(data_dir)]
    return subprocess.Popen(
        [*argv, "--port", str(api), "--dashboard-port", str(dashboard)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so this test can always clean up after it
    )


@pytest.mark.slow
def test_standalone_serves_restarts_a_dead_child_and_stops_on_sigint(tmp_path: Path) -> None:
    api, dashboard = _free_port(), _free_port()
    proc = _start(tmp_path / "data", api, dashboard)
    out = Output(proc)
    try:
        pids: dict[str, int] = {}
        while len(pids) < 5:
            started = out.wait_for(
                r"started (\S+) \(pid (\d+)\)", 180
            )  # the API first, once healthy the rest
            pids[started.group(1)] = int(started.group(2))
        assert set(pids) == {"api", "worker", "canary-daemon", "drift-daemon", "dashboard"}
        secret = out.wait_for(r"admin token \(shown once, stored hashed\): (\S+)", 30).group(1)
        base = f"http://127.0.0.1:{api}"
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
        me = httpx.get(f"{base}/v1/whoami", headers={"Authorization": f"Bearer {secret}"}).json()
        assert me == {"name": "standalone-admin", "role": "admin"}
        assert _wait_http(f"http://127.0.0.1:{dashboard}/", 120).status_code == 200

        os.kill(pids["worker"], signal.SIGKILL)
        out.wait_for(rf"worker \(pid {pids['worker']}\) exited with code -9; restarting in", 10)
        pids["worker-again"] = int(out.wait_for(r"started worker \(pid (\d+)\)", 10).group(1))

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        out.wait_for(r"\[standalone\] stopped", 5)
        assert [name for name, pid in pids.items() if _alive(pid)] == []
        with pytest.raises(ProcessLookupError):
            os.killpg(proc.pid, 0)  # nothing left in its process group
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_admin_token_is_created_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gatekeeper.db'}"
    upgrade(url)
    db = Database.from_url(url)
    try:
        first = ensure_admin_token(db, tmp_path)
        assert first and first.startswith("gk_")
        assert ensure_admin_token(db, tmp_path) is None, "a restart mints no second token"
        (tmp_path / ".standalone-admin-created").unlink()
        assert ensure_admin_token(db, tmp_path) is None, "the token exists: the marker is written back"
        assert (tmp_path / ".standalone-admin-created").is_file()
    finally:
        db.dispose()


def test_settings_default_under_the_data_dir_and_backoff_doubles() -> None:
    env = standalone_env(Path("/d"), {"GATEKEEPER_REPORT_DIR": "/elsewhere"})
    assert env["GATEKEEPER_DATABASE_URL"] == "sqlite:////d/gatekeeper.db"
    assert env["GATEKEEPER_ARTIFACT_ROOT"] == "/d/artifacts" and env["GATEKEEPER_REPORT_DIR"] == "/elsewhere"
    assert [next_backoff(b, 2.0) for b in (0.0, 1.0, 16.0, 30.0)] == [1.0, 2.0, 30.0, 30.0]
    assert next_backoff(30.0, 120.0) == 1.0, "a child that ran a while starts over"
