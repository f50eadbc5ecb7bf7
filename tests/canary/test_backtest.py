"""``gatekeeper backtest``: the live daemon and the backtest agree trigger for trigger; a thousand healthy
canaries of the shipped stage plan; the CLI's sources, formats and errors; the policy's rule settings."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dashboards.canary_data import sequential_frame
from gatekeeper.canary.backtest import Stream, replay, summarise
from gatekeeper.canary.backtest_sources import parse_jsonl
from gatekeeper.canary.rules import AbortRules, WindowArrays
from gatekeeper.canary.rules.windows import epoch
from gatekeeper.canary.simulate import SAFETY_METRIC, Regression, batch, healthy_stream, plan_shares
from gatekeeper.cli import app as cli_app
from gatekeeper.errors import ValidationFailed
from gatekeeper.policy.schema import CanaryPolicy
from tests.canary.conftest import policy_text, post_until
from tests.promotion.conftest import T0

ALPHA = 0.05
SEED = {"abort_rules: {rules: both,": "abort_rules: {rules: seed,"}  # the shipped policy runs both


def mc_bound(rate: float, n: int) -> float:
    """A rate plus three Monte-Carlo standard errors over n runs."""
    return rate + 3 * math.sqrt(rate * (1 - rate) / n)


# ---------------------------------------------------------------------------------------------------------
# The daemon and the backtest, on the same windows


SCENARIOS = {
    "errors": Regression("error_rate", timedelta(hours=2), timedelta(hours=6), 3.0),
    "latency": Regression("latency_p99", timedelta(hours=2), timedelta(hours=6), 1.6),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_backtest_and_daemon_agree_trigger_for_trigger(api, auth, canary, daemon, clock, scenario) -> None:
    put = api.put(
        "/v1/targets/intent_classifier/policy", json={"policy": policy_text(**SEED)}, headers=auth("admin")
    )
    assert put.status_code == 200, put.text
    put = api.put(
        "/v1/targets/intent_classifier/policy", json={"policy": policy_text()}, headers=auth("admin")
    )
    assert [p["name"] for p in put.json()["backtest"]["policies"]] == ["current", "new"]
    stream = healthy_stream(T0, days=0.5, seed=9, regression=SCENARIOS[scenario])
    aborted_at = None
    for k in range(1, 145):  # the serving layer posts every 5 minutes; the daemon ticks after each post
        post_until(api, auth, clock, canary["id"], stream, T0 + timedelta(minutes=5 * k))
        if daemon.tick().aborted:
            aborted_at = clock.now()
            break
    assert aborted_at is not None, "the regression was never caught"
    live = api.get(f"/v1/canaries/{canary['id']}", headers=auth("ci")).json()["trigger"]
    posted = [w for w in stream if w.end <= aborted_at]
    rules = AbortRules.from_policy({**policy_dict(), "rules": "both"}, safety_metrics=(SAFETY_METRIC,))
    outcome = replay(Stream("same", WindowArrays.from_windows(posted), armed_since=epoch(T0)), rules)
    assert outcome.trigger is not None
    assert (outcome.trigger.rule, outcome.trigger.metric) == (live["rule"], live["metric"])
    assert outcome.trigger.fired_at.isoformat() == live["fired_at"]
    assert aborted_at - outcome.trigger.fired_at < timedelta(minutes=5)  # caught at the first tick after
    whole = replay(Stream("whole", WindowArrays.from_windows(stream), armed_since=epoch(T0)), rules)
    assert whole.trigger is not None and whole.trigger.fired_at == outcome.trigger.fired_at  # causal
    tests = api.get(f"/v1/canaries/{canary['id']}/sequential", headers=auth("ci")).json()
    effects = {"error_ratio", "exception_ratio", "p99_ratio", SAFETY_METRIC}
    assert tests["aborts"] and set(tests["effects"]) == effects
    if live["rule"] == "sequential":  # its always-valid p-value stays at or below its level once it fired
        assert tests["effects"][live["metric"]]["p_value"] <= ALPHA / 4 == live["figures"]["alpha"]
    assert len(sequential_frame(tests)) == 4  # what the console shows
    back = api.put(
        "/v1/targets/intent_classifier/policy", json={"policy": policy_text(**SEED)}, headers=auth("admin")
    )
    current, seed_only = back.json()["backtest"]["policies"]  # the change answers with its backtest
    assert (
        current["streams"][0]["rule"] == live["rule"]
        and current["streams"][0]["fired_at"] == live["fired_at"]
    )
    assert seed_only["rules"] == "seed" and back.json()["backtest"]["canaries"] == 1


def policy_dict() -> dict:
    import yaml

    return yaml.safe_load(policy_text())["abort_rules"]


# ---------------------------------------------------------------------------------------------------------
# A thousand healthy canaries of the shipped stage plan, looked at after every 5-minute window


def test_a_thousand_healthy_canaries_of_the_stage_plan_abort_within_alpha() -> None:
    plan = [(s.share, s.days) for s in CanaryPolicy().stages]
    shares = plan_shares(plan)
    streams = batch(1000, shares.size, seed=51, shares=shares)
    rules = AbortRules(rules="both", safety_metrics=(SAFETY_METRIC,))
    day = datetime(2026, 1, 5, tzinfo=UTC)
    outcomes = [replay(Stream(str(i), streams.arrays(i, day)), rules) for i in range(1000)]
    healthy = summarise(outcomes, rules)["healthy"]
    for view in ("sequential", "seed", "policy"):
        s = healthy[view]
        print(
            f"{view}: {s['aborted']} of 1000 healthy {sum(d for _, d in plan):g}-day canaries aborted "
            f"({s['false_aborts_per_week']:.4f} per canary-week, 95% CI {s['per_week_ci']})"
        )
    assert healthy["sequential"]["aborted_share"] <= mc_bound(ALPHA, 1000)


# ---------------------------------------------------------------------------------------------------------
# The CLI


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli_app, list(args))
    return result.exit_code, result.stdout, result.stderr


def write_jsonl(path: Path, windows, **extra) -> None:  # noqa: ANN001
    lines = [json.dumps({"windows": [w.to_dict() for w in windows[i : i + 50]], **extra})
             for i in range(0, len(windows), 50)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")


def test_cli_reads_jsonl_and_simulations_in_every_format(tmp_path: Path) -> None:
    regression = Regression("error_rate", timedelta(hours=3), timedelta(hours=9), 4.0)
    write_jsonl(tmp_path / "bad.jsonl", healthy_stream(T0, days=0.5, seed=3, regression=regression),
                regression_start=(T0 + timedelta(hours=3)).isoformat())  # fmt: skip
    write_jsonl(tmp_path / "good.jsonl", healthy_stream(T0, days=0.5, seed=4))
    both = tmp_path / "both.yaml"
    both.write_text(policy_text())
    files = [str(tmp_path / "bad.jsonl"), str(tmp_path / "good.jsonl")]
    args = ["--simulate", "healthy:3", "--days", "1", "--format", "json", "--policy", str(both)]
    args += ["--compare", str(tmp_path / "seed.yaml"), "--workers", "1"]
    code, out, _ = run_cli("backtest", *files, *args)
    assert code != 0  # the compared policy file does not exist
    (tmp_path / "seed.yaml").write_text(policy_text(**SEED))
    code, out, _ = run_cli("backtest", *files, *args)
    assert code == 0, out
    report = json.loads(out)
    assert report["schema"] == "gatekeeper.backtest/1" and len(report["policies"]) == 2
    new, old = report["policies"]
    assert new["rules"] == "both" and old["rules"] == "seed" and "sequential" not in old["views"]
    streams = {s["stream"]: s for s in new["streams"]}
    assert set(streams) == {"bad", "good", "healthy-0", "healthy-1", "healthy-2"}
    assert streams["bad"]["aborted"] and streams["bad"]["delay_minutes"] > 0
    assert not streams["good"]["aborted"] and streams["good"]["fired_at"] is None
    assert new["summary"]["regressions"]["recorded regression"]["policy"]["detected"] == 1
    assert new["summary"]["healthy"]["policy"]["streams"] == 4
    for fmt, needle in [("table", "Detection of"), ("md", "| regression |"), ("html", "<svg")]:
        code, out, _ = run_cli("backtest", files[0], "--format", fmt, "--policy", str(both))
        assert code == 0 and needle in out, out


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("{not json", "x:2: not JSON"),
        ('{"windows": []}', "x:2: windows"),
        ('{"windows": [{"start": "2026-01-01T00:00:00+00:00"}]}', "x:2: windows.0.end"),
        ('{"windows": [GOOD], "regression_start": "soon"}', "x:2: regression_start"),
    ],
)
def test_jsonl_errors_name_the_line(line: str, named: str) -> None:
    windows = [w.to_dict() for w in healthy_stream(T0, days=0.01, seed=1)]
    good = json.dumps({"windows": windows})
    with pytest.raises(ValidationFailed) as caught:
        parse_jsonl([good, line.replace("GOOD", json.dumps(windows[0]))], name="x")
    assert caught.value.detail.startswith(named), caught.value.detail


def test_cli_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text('{"windows": [1]}\n')
    for args, named in [
        (["--simulate", "healthy"], "--simulate 'healthy'"),
        (["--simulate", "error_ratio:3"], "a regression needs one"),
        (["--simulate", "healthy:1", "--format", "pdf"], "--format must be one of"),
        ([str(tmp_path / "x.jsonl")], "x:1: windows.0"),
        ([], "give streams"),
    ]:
        result = CliRunner().invoke(cli_app, ["backtest", *args])
        assert result.exit_code != 0 and named in str(result.exception or result.output), args


# ---------------------------------------------------------------------------------------------------------
# The policy's rule settings


@pytest.mark.parametrize(
    ("replace", "field"),
    [
        ({"abort_rules: {rules: both,": "abort_rules: {rules: fast,"}, "policy.abort_rules.rules"),
        (
            {"sequential: {alpha: 0.05,": "sequential: {alpha: 1.5,"},
            "policy.abort_rules.sequential.alpha",
        ),
        (
            {"error_ratio: 1.1,": "error_ratio: 0.5,"},
            "policy.abort_rules.sequential.error_ratio",
        ),
        (
            {"sequential: {alpha: 0.05,": "sequential: {alpah: 0.1,"},
            "policy.abort_rules.sequential.alpah",
        ),
    ],
)
def test_bad_rule_settings_are_refused_naming_the_field(api, auth, target, replace, field) -> None:  # noqa: ANN001
    put = api.put("/v1/targets/intent_classifier/policy", json={"policy": policy_text(**replace)},
                  headers=auth("admin"))  # fmt: skip
    assert put.status_code == 422 and put.json()["field"] == field, put.text
