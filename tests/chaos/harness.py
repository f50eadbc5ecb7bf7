"""The chaos harness: real ``gatekeeper serve``, ``worker`` and ``canary-daemon`` processes on Postgres
(forked from a pre-imported zygote, see zygote.py), killed -9 at seeded random instants, and the
invariants every restart must find."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

ZYGOTE = Path(__file__).with_name("zygote.py")
# Iterations per fault point: a few in `make test` (its time budget), CHAOS_ITERATIONS=20 in `make chaos`.
ITERATIONS = int(os.environ.get("CHAOS_ITERATIONS", "2"))
SEED = int(os.environ.get("CHAOS_SEED", "17"))
TICK = 0.3  # the daemons' tick, which is also their lease period: a standby retries the lock every tick


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Proc:
    """One forked command: its pid (ours to kill) and its log."""

    name: str
    pid: int
    log: Path

    def said(self, text: str) -> bool:
        return self.log.exists() and text in self.log.read_text(errors="replace")

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> float:
        """kill -9; returns the instant (epoch seconds) of the kill, once the process is gone."""
        at = time.time()
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        wait_for(lambda: not self.alive(), timeout=10, what=f"{self.name} to die")
        return at

    def took_over_at(self) -> float | None:
        """When this daemon said it became leader (epoch seconds, its own clock), if it did."""
        for line in self.log.read_text(errors="replace").splitlines() if self.log.exists() else []:
            if " is leader at " in line:
                return float(line.rsplit(" ", 1)[1])
        return None

    def tail(self, n: int = 25) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(lines[-n:])


@dataclass
class Zygote:
    """The fork server and every process it forked for us (killed by pid when the test ends)."""

    logs: Path
    env: dict[str, str]
    procs: list[Proc] = field(default_factory=list)
    proc: subprocess.Popen | None = None

    def start(self) -> Zygote:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, str(ZYGOTE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"
        return self

    def spawn(self, name: str, *argv: str, **env: str) -> Proc:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        log = self.logs / f"{name}.log"
        self.proc.stdin.write(
            json.dumps({"argv": list(argv), "env": {**self.env, **env}, "log": str(log)}) + "\n"
        )
        self.proc.stdin.flush()
        proc = Proc(name, json.loads(self.proc.stdout.readline())["pid"], log)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.alive():
                os.kill(proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            self.proc.wait(timeout=10)


def wait_for(
    predicate: Callable[[], Any], *, timeout: float = 30.0, every: float = 0.02, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        time.sleep(every)


@dataclass
class Figures:
    """What a chaos run reports: kills per fault point, how many cut a change half-way, takeover times."""

    kills: dict[str, int] = field(default_factory=dict)
    landed: dict[str, int] = field(default_factory=dict)  # kills that interrupted the change under test
    takeovers: list[float] = field(default_factory=list)
    resent: int = 0

    def add(self, point: str, *, landed: bool) -> None:
        """One kill at ``point`` whose invariants held; ``landed`` when it cut the change half-way."""
        self.kills[point] = self.kills.get(point, 0) + 1
        self.landed[point] = self.landed.get(point, 0) + int(landed)

    def line(self) -> str:
        spread = ""
        if self.takeovers:
            t = sorted(self.takeovers)
            spread = (
                f"; takeover s: median {t[len(t) // 2]:.3f}, min {t[0]:.3f}, max {t[-1]:.3f} (n={len(t)})"
            )
        return (
            f"[CHAOS] kills (invariants held after each) {self.kills}; "
            f"of which mid-change {self.landed}{spread}; "
            f"pages re-sent and folded by key: {self.resent}"
        )
