"""Mode 4, replay, on sessions small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from gatekeeper.evaluation.modes.replay import ReplayColumns, counterfactual_replay, paired_replay


def columns(labelled: list[bool]) -> ReplayColumns:
    return ReplayColumns(
        candidate_ok=np.array([1.0, 1.0, 0.0, 0.0]),
        served_ok=np.array([0.0, 1.0, 1.0, 0.0]),
        labelled=np.array(labelled),
        candidate_cost=np.array([2.0, 2.0, 2.0, 2.0]),
        served_cost=np.array([1.0, 1.0, 1.0, 1.0]),
        changed=np.array([True, False, True, False]),
        unhappy=np.array([True, False, False, True]),
        quality_metric="routing_accuracy",
    )


def test_paired_replay_by_hand() -> None:
    replay = paired_replay(columns([True, True, True, False]), n_resamples=100, quality_seed=1, cost_seed=0)
    assert replay["n_sessions"] == 4 and replay["n_labelled"] == 3
    assert replay["changed_rate"] == 0.5
    quality = replay["quality"]  # on the 3 labelled sessions: 2/3 against 2/3
    assert quality["metric"] == "routing_accuracy" and quality["n"] == 3
    assert quality["candidate"] == pytest.approx(2 / 3) and quality["delta"] == pytest.approx(0.0)
    cost = replay["cost"]  # every session costs 1 more: a constant difference has a zero-width interval
    assert cost["delta"] == 1.0 and cost["ci_low"] == cost["ci_high"] == 1.0
    assert cost["p_value"] == pytest.approx(1 / 101)
    assert replay["cost_change_relative"] == 1.0
    # s0: unhappy, served wrong, candidate right -> rescued; s2: served right, candidate wrong -> broken
    assert replay["rescued"] == 1 and replay["broken"] == 1


def test_unlabelled_sessions_give_no_quality_and_rescue_nothing() -> None:
    replay = paired_replay(columns([False] * 4), n_resamples=10, quality_seed=0, cost_seed=0)
    assert replay["quality"] is None and replay["n_labelled"] == 0
    assert replay["rescued"] == 0 and replay["broken"] == 0


def test_free_served_policy_has_no_relative_cost() -> None:
    c = columns([True] * 4)
    free = ReplayColumns(**{**c.__dict__, "served_cost": np.zeros(4)})
    assert paired_replay(free, n_resamples=10, quality_seed=0, cost_seed=0)["cost_change_relative"] is None


def test_counterfactual_replay_reports_snips_against_the_logging_ctr() -> None:
    report = {
        "snips": {"value": 0.30, "ci": [0.2, 0.4]},
        "logging_ctr": {"value": 0.25, "ci": [0.2, 0.3]},
        "ips": {"n": 10, "matched": 4},
        "match_rate": 0.4,
    }
    replay = counterfactual_replay(report, 10)
    assert replay["quality"]["delta"] == pytest.approx(0.05) and replay["quality"]["n"] == 10
    assert replay["n_sessions"] == 10 and replay["n_labelled"] == 4
    assert replay["changed_rate"] == pytest.approx(0.6) and replay["cost"] is None
    unmatched = {**report, "snips": {"value": None, "ci": None}}
    assert counterfactual_replay(unmatched, 10)["quality"] is None
