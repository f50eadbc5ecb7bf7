"""``gatekeeper dashboard``: the command line it runs and where the API URL and token travel."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from dashboards.cli import APP, dashboard_env, streamlit_command
from gatekeeper.cli import app


def test_streamlit_command_serves_the_app_headless() -> None:
    argv = streamlit_command(port=8511, address="0.0.0.0")
    assert argv[1:5] == ["-m", "streamlit", "run", str(APP)] and Path(argv[4]).is_file()
    flags = dict(zip(argv[5::2], argv[6::2], strict=True))
    assert flags["--server.port"] == "8511" and flags["--server.address"] == "0.0.0.0"
    assert flags["--server.headless"] == "true" and flags["--browser.gatherUsageStats"] == "false"


def test_url_and_token_travel_in_the_environment_not_argv() -> None:
    env = dashboard_env("http://gk:8000", "gk_secret", base={"PATH": "/bin"})
    assert env["GATEKEEPER_URL"] == "http://gk:8000" and env["GATEKEEPER_TOKEN"] == "gk_secret"
    assert env["PATH"] == "/bin"
    assert not any("gk_secret" in part for part in streamlit_command(port=1, address="127.0.0.1"))
    kept = dashboard_env(None, None, base={"GATEKEEPER_URL": "http://other:9", "GATEKEEPER_TOKEN": "t"})
    assert kept["GATEKEEPER_URL"] == "http://other:9" and kept["GATEKEEPER_TOKEN"] == "t"
    assert dashboard_env(None, None, base={})["GATEKEEPER_URL"] == "http://127.0.0.1:8000"


def test_dashboard_is_a_gatekeeper_command() -> None:
    result = CliRunner().invoke(app, ["dashboard", "--help"])
    assert result.exit_code == 0
    for option in ("--port", "--address", "--url", "--token"):
        assert option in result.output
