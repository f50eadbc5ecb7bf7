"""``gatekeeper dashboard``: serve the Streamlit app against a Gatekeeper API.

Streamlit is imported only by the child process, so registering this command keeps the CLI fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from gatekeeper.cli_common import TokenOpt, UrlOpt

APP = Path(__file__).resolve().with_name("app.py")
DEFAULT_URL = "http://127.0.0.1:8000"


def streamlit_command(*, port: int, address: str, app: Path = APP) -> list[str]:
    """The ``streamlit run`` line: headless, no telemetry, no file watcher (this is a served app)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]


def dashboard_env(url: str | None, token: str | None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The child's environment: the API URL and token travel in env, never on the command line (ps)."""
    env = dict(os.environ if base is None else base)
    env["GATEKEEPER_URL"] = url or env.get("GATEKEEPER_URL") or DEFAULT_URL
    if token:
        env["GATEKEEPER_TOKEN"] = token
    env.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    return env


def dashboard(
    port: Annotated[int, typer.Option(help="Port to serve the app on.")] = 8501,
    address: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0: a team server).")] = "127.0.0.1",
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Serve the reviewer and on-call app (Streamlit) that reads the API at --url with --token."""
    env = dashboard_env(url, token)
    if not env.get("GATEKEEPER_TOKEN"):
        typer.echo("warning: no token (GATEKEEPER_TOKEN or --token); paste one in the sidebar", err=True)
    typer.echo(f"dashboard on http://{address}:{port} reading {env['GATEKEEPER_URL']}", err=True)
    argv = streamlit_command(port=port, address=address)
    # Become Streamlit (no parent left behind): signals from a supervisor or Ctrl-C reach it directly.
    os.execve(argv[0], argv, env)
