"""The canary, drift and task shaping functions on their own: the thresholds the console draws are the
ones the daemon judged with (compared on seeded streams that trip each rule), stages, drift frames and
events, and the ranking and generation rows (NDCG checked against scikit-learn)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import ndcg_score

from dashboards import canary_data as cd
from dashboards import drift_data as dd
from dashboards import task_data as td
from gatekeeper.canary.rules import AbortRules, Window, WindowArrays, evaluate, window_thresholds
from gatekeeper.canary.simulate import SAFETY_METRIC, Regression, healthy_stream
from gatekeeper.evaluation.metrics.generation import check_safety

T0 = datetime(2026, 11, 2, tzinfo=UTC)
RULES = AbortRules(safety_metrics=(SAFETY_METRIC,), rules="seed")


def api_rows(windows: list[Window]) -> list[dict[str, Any]]:
    """Windows as ``GET /v1/canaries/{id}/windows`` returns them (canary windows with their thresholds)."""
    judged = window_thresholds(WindowArrays.from_windows(windows), RULES)
    return [
        {
            "group": w.group,
            "start_s": int(w.start.timestamp()),
            "end_s": int(w.end.timestamp()),
            "requests": w.requests,
            "errors": w.errors,
            "latency_p99_ms": w.latency_p99_ms,
            "safety": dict(w.safety),
            "exceptions": dict(w.exceptions),
            **({"thresholds": judged[int(w.start.timestamp())]} if w.group == "canary" else {}),
        }
        for w in windows
    ]


def _stream(
    kind: str, offset_h: float, hours: float, magnitude: float, start: datetime = T0
) -> tuple[pd.DataFrame, Any]:
    windows = healthy_stream(
        start,
        days=1.5,
        seed=7,
        regression=Regression(kind, timedelta(hours=offset_h), timedelta(hours=hours), magnitude),
    )
    [first, *_] = evaluate(windows, RULES)
    return cd.window_frame(api_rows(windows)), first.to_dict()


@pytest.mark.parametrize("offset_h", [30, 0], ids=["holdout-sigma", "baseline-sigma"])
def test_safety_line_is_the_daemons_threshold(offset_h: float) -> None:
    """holdout - 2σ per window equals the threshold the rule recorded, whichever σ it used (a regression
    from the first window of a canary started at 08:00 is judged with the baseline hour's σ at first)."""
    frame, trigger = _stream("safety", offset_h, 3, -0.06, T0 if offset_h else T0 + timedelta(hours=8))
    assert trigger["rule"] == "safety"
    sources = {w["sigma_source"] for w in trigger["figures"]["windows"]}
    assert sources == ({"holdout"} if offset_h else {"baseline", "holdout"})
    line = cd.safety_frame(frame, RULES, SAFETY_METRIC, trigger).set_index("start")
    for w in trigger["figures"]["windows"]:
        at = pd.Timestamp(w["start"])
        assert line.loc[at, "threshold"] == pytest.approx(w["threshold"], rel=1e-9)
        assert line.loc[at, "trigger threshold"] == pytest.approx(w["threshold"], rel=1e-12)
        assert line.loc[at, "canary"] == pytest.approx(w["canary"]) and bool(line.loc[at, "judged"])
    assert line["trigger threshold"].notna().sum() == len(trigger["figures"]["windows"])


def test_error_and_latency_lines_are_the_daemons_thresholds() -> None:
    for kind, magnitude in (("error_rate", 4.0), ("latency_p99", 3.0)):
        frame, trigger = _stream(kind, 30, 1, magnitude)
        assert trigger["rule"] == kind
        paired = cd.paired_frame(frame, RULES).set_index("start")
        for w in trigger["figures"]["windows"]:
            row = paired.loc[pd.Timestamp(w["start"])]
            if kind == "error_rate":
                assert row["error threshold"] == pytest.approx(RULES.error_ratio * w["reference_rate"])
                assert row["canary error rate"] == pytest.approx(w["canary_rate"])
                assert row["canary error rate"] > row["error threshold"]
            else:
                assert row["p99 threshold ms"] == pytest.approx(RULES.p99_ratio * w["reference_p99_ms"])
                assert row["canary p99 ms"] > row["p99 threshold ms"]
        spans = cd.trigger_spans(trigger)
        starts = [pd.Timestamp(s) for s in trigger["window_starts"]]
        assert spans.loc[0, "from"] == min(starts) and spans.loc[0, "to"] == max(starts) + pd.Timedelta(
            minutes=5
        )
        table = cd.trigger_table(trigger)
        assert len(table) == len(trigger["figures"]["windows"]) and "start" in table


def test_paired_frame_floors_and_skips_small_windows() -> None:
    start = T0
    rows = []
    for group, requests, errors, p99 in [("canary", 400, 2, 120.0), ("holdout", 40_000, 0, 0.2)]:
        rows.append((group, start, requests, errors, p99))
    rows.append(("canary", start + timedelta(minutes=5), 20, 1, 100.0))  # too small to judge
    rows.append(("holdout", start + timedelta(minutes=5), 30_000, 30, 90.0))
    windows = [Window(s, s + timedelta(minutes=5), g, r, e, p) for g, s, r, e, p in rows]
    paired = cd.paired_frame(cd.window_frame(api_rows(windows)), RULES)
    first, second = paired.iloc[0], paired.iloc[1]
    assert first["error threshold"] == pytest.approx(2 * (1 / 40_000))  # zero holdout errors: 1 / requests
    assert first["p99 threshold ms"] == pytest.approx(1.5 * RULES.p99_floor_ms)  # a bogus p99 is floored
    assert bool(first["judged"]) and not bool(second["judged"])
    assert second["error threshold"] == pytest.approx(2 * 30 / 30_000)


def test_stage_frame_of_a_paused_second_stage() -> None:
    canary = {
        "state": "aborted",
        "plan": [{"share": 0.01, "days": 7}, {"share": 0.05, "days": 3}, {"share": 0.25, "days": 7}],
        "stage": 1,
        "stage_started_at": "2026-11-09T06:00:00Z",  # 7 days after the start plus a 6 h pause
        "stage_ends_at": "2026-11-12T06:00:00Z",
        "started_at": "2026-11-02T00:00:00Z",
        "aborted_at": "2026-11-10T00:00:00Z",
        "finished_at": None,
    }
    now = datetime(2026, 11, 10, 3, tzinfo=UTC)
    stages = cd.stage_frame(canary)
    assert list(stages["status"]) == ["done", "paused (aborted)", "planned"]
    assert list(stages["start"].dt.strftime("%m-%d %H")) == ["11-02 06", "11-09 06", "11-12 06"]
    assert list(stages["end"].dt.strftime("%m-%d %H")) == ["11-09 06", "11-12 06", "11-19 06"]
    assert list(stages["current"]) == [False, True, False] and stages.loc[1, "label"] == "2/3 · 5% · 3 d"
    marks = cd.stage_marks(canary, now)
    assert list(marks["mark"]) == ["started", "aborted", "now"]
    assert cd.until_text(canary["stage_ends_at"], now) == "in 2.1 days"


def test_trigger_words_recheck_tables_and_daemon_health() -> None:
    trigger = {
        "rule": "safety",
        "metric": SAFETY_METRIC,
        "fired_at": "2026-11-03T07:05:00+00:00",
        "window_starts": ["2026-11-03T06:00:00+00:00", "2026-11-03T06:05:00+00:00"],
        "figures": {
            "span_minutes": 10.0,
            "threshold": {"safety_sigma": 2.0, "safety_minutes": 60},
            "windows": [],
        },
    }
    summary = cd.trigger_summary(trigger)
    assert summary["sentence"] == f"{SAFETY_METRIC} more than 2σ below the holdout for more than 60 min"
    assert summary["windows"] == 2 and summary["to"] - summary["from"] == pd.Timedelta(minutes=10)
    body = {
        "detail": "the error_rate rule still fires",
        "rule": "error_rate",
        "figures": {
            "baseline": {"rate": 0.004, "threshold_rate": 0.008, "windows": 12},
            "windows": [{"start": "2026-11-03T06:00:00+00:00", "canary_rate": 0.02, "breach": True}],
            "breaching_windows": 1,
            "windows_checked": 1,
        },
    }
    baseline, windows = cd.recheck_tables(body)
    assert baseline == {
        "rate": 0.004,
        "threshold_rate": 0.008,
        "windows": 12,
        "breaching_windows": 1,
        "windows_checked": 1,
    }
    assert windows.loc[0, "breach"] and str(windows["start"].dtype).startswith("datetime64")
    assert cd.daemon_health({"leader": "d", "age_seconds": 40}) == "ok"
    assert cd.daemon_health({"leader": "d", "age_seconds": 3600}) == "stale"
    assert cd.daemon_health({"leader": None, "age_seconds": None}) == "none"
    assert cd.age_text(40) == "40 s ago" and cd.age_text(7200) == "2.0 h ago"


# --- drift ---------------------------------------------------------------------------------------


def _result(kind: str, hour: int, value: float, n: int, figures: dict[str, Any]) -> dict[str, Any]:
    start = T0 + timedelta(hours=hour)
    return {
        "kind": kind,
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=1)).isoformat(),
        "n": n,
        "value": value,
        "threshold": 0.2,
        "breached": value > 0.2 and n >= 100,
        "figures": figures,
    }


def test_drift_frames_use_the_pinned_thresholds() -> None:
    pinned = {**dd.DEFAULTS, "psi": 0.25, "min_samples": 100}
    view = {
        "reference": {"thresholds": pinned},
        "latest": {
            "input": _result("input", 1, 0.4, 150, {"features": {"lang": 0.4, "device": 0.01}}),
            "prediction": None,
            "label": None,
            "concept": None,
        },
    }
    thr = dd.thresholds(view)
    assert thr["psi"] == 0.25 and thr["kl_alert"] == 0.02
    history = [
        _result("input", 0, 0.3, 40, {"features": {"lang": 0.3, "device": 0.02}}),
        view["latest"]["input"],
    ]
    frame = dd.input_frame(history, thr)
    assert len(frame) == 6 and list(frame[frame["feature"] == "max"]["psi"]) == [0.3, 0.4]
    assert list(frame.drop_duplicates("window_start")["counts"]) == [False, True]  # 40 < min_samples
    latest = dd.latest_table(view).set_index("kind")
    assert latest.loc["input", "threshold"] == 0.25 and latest.loc["input", "breached"]
    assert latest.loc["label", "alerts when"] == "below" and pd.isna(latest.loc["concept", "value"])
    bands = dd.kl_bands(thr, top=0.05)
    assert list(bands["level"]) == ["ok", "monitor", "alert", "retrain"]
    assert list(bands["to"])[:3] == [0.012, 0.02, 0.028] and bands["to"].iloc[-1] == 0.05


def test_event_table_puts_the_most_urgent_first() -> None:
    def event(kind: str, action: str, since: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": f"{kind}-id",
            "kind": kind,
            "status": "open",
            "action": action,
            "since": since,
            "reasons": [f"{kind} reason"],
            "figures": {"signals": [kind], "value": 0.5, "threshold": 0.2},
            "triage": {"sustained_hours": 30},
            **extra,
        }

    items = [
        event("input", "review", "2026-11-01T00:00:00Z"),
        event(
            "concept",
            "retrain_now",
            "2026-11-03T00:00:00Z",
            paged_at="2026-11-03T01:00:00Z",
            training_run_id="abc12345-0000",
        ),
        event("label", "retrain", "2026-11-02T00:00:00Z", retrain_note="no config"),
    ]
    table = dd.event_table(items)
    assert list(table["kind"]) == ["concept", "label", "input"]
    assert table.iloc[0]["retrain run"] == "training?run=abc12345-0000" and pd.notna(table.iloc[0]["paged"])
    assert table.iloc[1]["retrain note"] == "no config" and pd.isna(table.iloc[2]["paged"])


# --- ranking and generation ----------------------------------------------------------------------


def _query(qid: str, grades: dict[str, int], lang: str = "en") -> dict[str, Any]:
    return {
        "id": qid,
        "lang": lang,
        "query": f"q {qid}",
        "candidates": [{"doc_id": d, "relevance": g} for d, g in grades.items()],
    }


def test_ranking_examples_match_scikit_learn_ndcg() -> None:
    rng = np.random.default_rng(3)
    items = []
    for i in range(6):
        grades = {f"p{j:02d}": int(rng.integers(0, 4)) for j in range(15)}
        cand = {d: float(g + rng.normal(0, 0.8)) for d, g in grades.items()}
        champ = {d: float(g + rng.normal(0, 1.5)) for d, g in grades.items()}
        items.append(
            _query(f"q{i}", grades) | {"candidate": {"prediction": cand}, "champion": {"prediction": champ}}
        )
    frame = td.ranking_example_frame(items)
    for item, row in zip(items, frame.to_dict("records"), strict=True):
        docs = sorted(item["candidate"]["prediction"])
        gains = [
            [2 ** next(c["relevance"] for c in item["candidates"] if c["doc_id"] == d) - 1 for d in docs]
        ]
        for model in ("candidate", "champion"):
            scores = [[item[model]["prediction"][d] for d in docs]]
            assert row[f"{model} ndcg@10"] == pytest.approx(ndcg_score(gains, scores, k=10))
            best = max(docs, key=lambda d, m=model: item[m]["prediction"][d])
            assert row[f"{model} top"] == best
        assert row["top changed"] == (row["candidate top"] != row["champion top"])
    assert "logged top" not in frame  # judged queries only: the logged columns are dropped


def test_per_query_histogram_and_counterfactual() -> None:
    golden = {
        "candidate": {"per_query": {"ids": ["a", "b", "c"], "ndcg@10": [1.0, 0.55, 0.2]}},
        "champion": {"per_query": {"ids": ["a", "b", "c"], "ndcg@10": [0.9, 0.75, 0.2]}},
    }
    per_query = td.per_query_frame(golden)
    assert list(per_query["delta"].round(6)) == [0.1, -0.2, 0.0]
    counts = td.histogram(td.per_query_long(per_query))
    assert counts["count"].sum() == 6 and len(counts) == 20
    assert counts.set_index(["bin", "model"]).loc[("0.9–1.0", "candidate"), "count"] == 1  # 1.0 is binned
    replay = {
        "counterfactual": {
            "ips": {"value": 0.5, "ci": [0.2, 0.9]},
            "snips": {"value": 0.6, "ci": [0.4, 0.8]},
            "logging_ctr": {"value": 0.22, "ci": [0.18, 0.27]},
        }
    }
    frame = td.counterfactual_frame(replay).set_index("estimate")
    assert (
        frame.loc["candidate (SNIPS)", "ci low"] == 0.4
        and frame.loc["logging policy (observed)", "ctr"] == 0.22
    )


def test_generation_rows_and_safety_reasons_come_from_the_gate() -> None:
    row = {
        "id": "g1",
        "question": "Where is my order 12345?",
        "lang": "en",
        "reference": "Let me check order 12345 for you.",
        "safety": {"no_invented_order_details": True},
    }
    invented = {
        "output": "Your order arrives on 2026-12-03, tracking number 1Z999AA10123456784.",
        "tool_calls": [],
    }
    served = {
        "output": row["reference"],
        "tool_calls": [{"name": "get_order_status", "arguments": {"order_id": "12345"}}],
    }
    items = [row | {"candidate": {"prediction": invented}, "champion": {"prediction": served}}]
    frame = td.generation_example_frame(items)
    assert frame.loc[0, "candidate output"] == invented["output"] and not frame.loc[0, "same answer"]
    assert frame.loc[0, "champion tool calls"] == 'get_order_status({"order_id": "12345"})'
    failures = td.safety_failures(["g1", "g404"], items)
    expected = check_safety(row, invented)
    assert expected and failures.loc[0, "reasons"] == "; ".join(expected)
    assert failures.loc[1, "reasons"] == "not found in the golden examples"


def test_shadow_frame_shows_server_hours_and_the_reasons() -> None:
    rows = [
        {
            "version": 3,
            "started_at": "2026-11-02T00:00:00+00:00",
            "hours": 12.5,
            "n": 80,
            "agreement": 0.95,
            "candidate_p99_ms": 9.0,
            "verdict": "pending",
            "reasons": ["12.5 h of shadow (judged from 24 h)", "80 record(s)"],
        }
    ]
    frame = cd.shadow_frame(rows)
    assert list(frame.columns) == list(cd.SHADOW_COLUMNS)
    row = frame.iloc[0]
    assert row["started_at"] == pd.Timestamp("2026-11-02", tz="UTC") and row["hours"] == 12.5
    assert row["why"] == "12.5 h of shadow (judged from 24 h); 80 record(s)"
    assert cd.shadow_frame([]).empty
