"""The app served by ``streamlit run`` (the command ``gatekeeper dashboard`` runs), opened in headless
Chromium against the seeded deployment: pages render without an exception, show the API's figures, and
their screenshots (docs/screenshots/, used by the README) are not blank."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageStat

from dashboards.cli import dashboard_env, streamlit_command
from tests.conftest import ROOT
from tests.dashboards.browser import Browser, find_chromium, streamlit_ready
from tests.dashboards.conftest import Deployment

pytestmark = pytest.mark.slow

SCREENSHOTS = ROOT / "docs" / "screenshots"
NO_EXCEPTION = '[data-testid="stException"]'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium is not installed; CI requires it (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return found


@pytest.fixture(scope="module")
def served(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run dashboards/app.py`` on a free port, reading the live API as a reviewer."""
    port = _free_port()
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    env = dashboard_env(deployment.url, deployment.tokens["reviewer"]) | {"HOME": str(log.parent)}
    with log.open("w") as out:
        process = subprocess.Popen(
            streamlit_command(port=port, address="127.0.0.1"),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _not_blank(path: Path) -> None:
    image = Image.open(path).convert("RGB")
    assert image.size == (1400, 1800)
    spread = ImageStat.Stat(image).stddev
    colours = image.getcolors(maxcolors=1_000_000) or []
    assert max(spread) > 8 and len(colours) > 200, (spread, len(colours))  # a blank page: ~0 and 1


def _clean(browser: Browser, heading: str) -> str:
    text = browser.text()
    assert heading in text
    assert browser.count(NO_EXCEPTION) == 0 and "Traceback" not in text, text[:3000]
    return text


def test_registry_and_report_render_in_a_browser(
    served: str, chromium: str, deployment: Deployment, tmp_path: Path
) -> None:
    ev = deployment.evaluation
    candidate = deployment.client().get(f"/v1/candidates/{deployment.ids['candidate']}")
    with Browser(chromium, tmp_path / "profile") as browser:
        browser.open(f"{served}/", streamlit_ready("reg_candidates"))
        text = _clean(browser, "Registry")
        assert "intent_classifier" in text and "Champion and routing" in text
        _not_blank(browser.screenshot(SCREENSHOTS / "registry.png"))

        ready = (
            streamlit_ready("ev_golden_table") + " && document.querySelectorAll('.vega-embed').length >= 3"
        )
        browser.open(f"{served}/evaluation?evaluation={ev['id']}", ready)
        text = _clean(browser, "Evaluation report")
        assert f"Gate {ev['decision']['verdict'].upper()}" in text
        assert f"v{candidate['version']}" in text
        assert f"{ev['results']['golden']['candidate']['macro_f1']:.4f}" in text
        _not_blank(browser.screenshot(SCREENSHOTS / "evaluation_report.png"))


def test_canary_console_and_drift_render_in_a_browser(
    served: str, chromium: str, deployment: Deployment, tmp_path: Path
) -> None:
    """The console on the canary the daemon aborted for a real regression: trigger, figures and charts."""
    canary = deployment.client().get(f"/v1/canaries/{deployment.ids['regression_canary']}")
    window = canary["trigger"]["figures"]["windows"][0]
    with Browser(chromium, tmp_path / "profile") as browser:
        ready = (
            streamlit_ready("ca_trigger_windows") + " && document.querySelectorAll('.vega-embed').length >= 4"
        )
        browser.open(f"{served}/canary?canary={canary['id']}", ready)
        text = _clean(browser, "Canary console")
        assert "Why it aborted" in text and "error_rate" in text and f"v{canary['candidate_version']}" in text
        # The trigger box names its first window (table cells are drawn on a canvas, not in the text).
        assert (
            f"{datetime.fromisoformat(window['start']):%Y-%m-%d %H:%M}" in text
            and "Canary vs holdout" in text
        )
        assert browser.count(".vega-embed svg, .vega-embed canvas") >= 4  # the charts drew
        _not_blank(browser.screenshot(SCREENSHOTS / "canary_console.png"))

        ready = streamlit_ready("dr_events") + " && document.querySelectorAll('.vega-embed').length >= 5"
        browser.open(f"{served}/drift?target=intent_classifier", ready)
        text = _clean(browser, "Drift")
        assert "retrain_now" in text and "PSI" in text
        _not_blank(browser.screenshot(SCREENSHOTS / "drift.png"))
