"""``gatekeeper standalone``: the whole service on one machine, like ``airflow standalone``.

It migrates the embedded SQLite database, creates an admin token on first start, then runs the API, one
worker, the canary daemon, the drift daemon and the dashboard as child processes (the real CLI commands,
each logging to its own file), restarts a child that dies (with backoff), and stops them all on
Ctrl-C or SIGTERM: a polite signal, a bounded wait, then a kill. The decisions (what to run, with which
environment, how long to back off) are pure functions; ``Supervisor`` and ``main`` do the I/O."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated

import httpx
import typer

from gatekeeper.db import Database
from gatekeeper.migrate import upgrade
from gatekeeper.registry.auth import create_token, list_tokens

ADMIN_TOKEN = "standalone-admin"
MARKER = ".standalone-admin-created"
FIRST_BACKOFF_S, MAX_BACKOFF_S, STABLE_AFTER_S = 1.0, 30.0, 60.0
STOP_GRACE_S, HEALTHY_WITHIN_S = 10.0, 180.0
Echo = Callable[[str], None]


@dataclass(frozen=True)
class Ports:
    host: str = "127.0.0.1"
    api: int = 8000
    dashboard: int = 8501

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api}"

    @property
    def dashboard_url(self) -> str:
        return f"http://{self.host}:{self.dashboard}"


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: list[str]


def standalone_env(data_dir: Path, base: Mapping[str, str]) -> dict[str, str]:
    """The children's settings: everything under ``data_dir`` unless the environment already says."""
    env = dict(base)
    env.setdefault("GATEKEEPER_DATABASE_URL", f"sqlite:///{data_dir / 'gatekeeper.db'}")
    for name, folder in (("ARTIFACT_ROOT", "artifacts"), ("REPORT_DIR", "reports"), ("LOG_DIR", "logs")):
        env.setdefault(f"GATEKEEPER_{name}", str(data_dir / folder))
    return env


def child_specs(ports: Ports, python: str = sys.executable) -> list[ChildSpec]:
    """The five services as the real CLI runs them; the dashboard reads this API."""
    cli = [python, "-m", "gatekeeper"]
    return [
        ChildSpec("api", [*cli, "serve", "--host", ports.host, "--port", str(ports.api)]),
        ChildSpec("worker", [*cli, "worker"]),
        ChildSpec("canary-daemon", [*cli, "canary-daemon"]),
        ChildSpec("drift-daemon", [*cli, "drift-daemon"]),
        ChildSpec(
            "dashboard",
            [
                *cli,
                "dashboard",
                "--port",
                str(ports.dashboard),
                "--address",
                ports.host,
                "--url",
                ports.api_url,
            ],
        ),
    ]


def next_backoff(previous: float, uptime: float) -> float:
    """Wait before restarting a dead child: double each quick crash, start over after a stable run."""
    if uptime >= STABLE_AFTER_S or previous <= 0:
        return FIRST_BACKOFF_S
    return min(previous * 2, MAX_BACKOFF_S)


@dataclass
class Child:
    spec: ChildSpec
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = 0.0
    restart_at: float | None = None


@dataclass
class Supervisor:
    """Start the children, restart the ones that die, stop them all."""

    env: dict[str, str]
    log_dir: Path
    echo: Echo = print
    children: list[Child] = field(default_factory=list)
    logs: list[IO[bytes]] = field(default_factory=list)

    def start(self, specs: list[ChildSpec]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for spec in specs:
            self.children.append(Child(spec))
            self._start(self.children[-1])

    def _start(self, child: Child) -> None:
        log = (self.log_dir / f"{child.spec.name}.log").open("ab")
        self.logs.append(log)
        child.proc = subprocess.Popen(child.spec.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        child.started, child.restart_at = time.monotonic(), None
        self.echo(f"[standalone] started {child.spec.name} (pid {child.proc.pid})")

    def poll(self) -> None:
        """Notice dead children and restart each once its backoff has passed."""
        now = time.monotonic()
        for child in self.children:
            code = child.proc.poll() if child.proc else None
            if code is not None and child.restart_at is None:
                child.backoff = next_backoff(child.backoff, now - child.started)
                child.restart_at = now + child.backoff
                self.echo(
                    f"[standalone] {child.spec.name} (pid {child.proc.pid}) exited with code {code}; "  # type: ignore[union-attr]
                    f"restarting in {child.backoff:.0f}s"
                )
            if child.restart_at is not None and now >= child.restart_at:
                self._start(child)

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM every child, wait at most ``grace`` seconds in all, then SIGKILL the rest."""
        running = [c.proc for c in self.children if c.proc and c.proc.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in running:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.echo(f"[standalone] pid {proc.pid} ignored SIGTERM for {grace:.0f}s; killing it")
                proc.kill()
                proc.wait()
        for log in self.logs:
            log.close()


def ensure_admin_token(db: Database, data_dir: Path) -> str | None:
    """Create the admin token on first start and return its secret (shown once); afterwards None.

    The marker file remembers that it was created (the secret itself is stored only hashed), so a
    restart does not mint another. A database reset (no such token) creates it again."""
    marker = data_dir / MARKER
    with db.session() as session:
        exists = any(t.name == ADMIN_TOKEN for t in list_tokens(session))
    if exists and marker.is_file():
        return None
    if exists:  # created by an earlier standalone whose marker was removed: keep it, mint none
        marker.write_text(f"{ADMIN_TOKEN} found {datetime.now(UTC).isoformat()}\n", encoding="utf-8")
        return None
    with db.transaction() as session:
        _, secret = create_token(session, name=ADMIN_TOKEN, role="admin", actor="standalone")
    marker.write_text(f"{ADMIN_TOKEN} created {datetime.now(UTC).isoformat()}\n", encoding="utf-8")
    return secret


def wait_healthy(url: str, timeout: float, stop: threading.Event, tick: Callable[[], None]) -> bool:
    """Whether the API answered /healthz before ``timeout`` (``tick`` keeps supervising meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        tick()
        stop.wait(0.3)
    return False


def banner(ports: Ports, data_dir: Path, log_dir: Path, secret: str | None) -> list[str]:
    """What the user needs: the URLs, where things live, and the admin token the first time."""
    lines = [
        f"  API        {ports.api_url}  (docs at {ports.api_url}/docs)",
        f"  dashboard  {ports.dashboard_url}",
        f"  data       {data_dir}  (logs in {log_dir})",
    ]
    if secret:
        lines += [
            f"  admin token (shown once, stored hashed): {secret}",
            f"  export GATEKEEPER_URL={ports.api_url} GATEKEEPER_TOKEN={secret}",
        ]
    else:
        lines.append(f"  admin token: {ADMIN_TOKEN}, shown on first start; more: `gatekeeper token create`")
    return ["gatekeeper standalone is up (Ctrl-C stops everything):", *lines]


def prepare(data_dir: Path, env: dict[str, str]) -> str | None:
    """Migrate the database and make sure an admin token exists; the new secret, if one was made."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for key in ("GATEKEEPER_ARTIFACT_ROOT", "GATEKEEPER_REPORT_DIR", "GATEKEEPER_LOG_DIR"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    url = env["GATEKEEPER_DATABASE_URL"]
    upgrade(url)
    db = Database.from_url(url)
    try:
        return ensure_admin_token(db, data_dir)
    finally:
        db.dispose()


def main(data_dir: Path, ports: Ports, echo: Echo = print) -> int:
    """Run until SIGINT or SIGTERM; 0 after a clean stop, 1 if the API never became healthy."""
    data_dir = data_dir.resolve()
    env = standalone_env(data_dir, os.environ)
    secret = prepare(data_dir, env)
    if secret and "GATEKEEPER_TOKEN" not in env:
        env["GATEKEEPER_TOKEN"] = secret  # the dashboard's token this run (never on a command line)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log_dir = Path(env["GATEKEEPER_LOG_DIR"]) / "standalone"
    supervisor = Supervisor(env, log_dir, echo)
    api, *others = child_specs(ports)
    supervisor.start([api])  # first, alone: on a small machine five imports at once slow it most
    try:
        if not wait_healthy(ports.api_url, HEALTHY_WITHIN_S, stop, supervisor.poll):
            echo(f"[standalone] no answer from {ports.api_url}/healthz; see {log_dir / 'api.log'}")
            return 0 if stop.is_set() else 1
        supervisor.start(others)
        for line in banner(ports, data_dir, log_dir, secret):
            echo(line)
        while not stop.wait(0.5):
            supervisor.poll()
        return 0
    finally:
        echo("[standalone] stopping")
        supervisor.stop()
        echo("[standalone] stopped")


def command(
    data_dir: Annotated[
        Path, typer.Option(help="Database, artifacts, reports and logs (GATEKEEPER_* variables win).")
    ] = Path("var"),
    host: Annotated[str, typer.Option(help="Interface the API and the dashboard bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API port.")] = 8000,
    dashboard_port: Annotated[int, typer.Option(help="Dashboard port.")] = 8501,
) -> None:
    """Run everything on one machine (SQLite): API, worker, both daemons and the dashboard; Ctrl-C stops."""
    code = main(data_dir, Ports(host, port, dashboard_port), echo=lambda line: print(line, flush=True))
    raise typer.Exit(code)
