"""What the canary console reads and how it shapes it: canaries, their metric windows paired canary vs
holdout with the abort rules' thresholds, the stage timeline, and the trigger and re-check figures.

The thresholds drawn are the ones each canary window was judged against, as ``GET /v1/canaries/{id}/windows``
returns them (the rules' own functions computed them): nothing here recomputes a rule. The policy's
settings (``GET /v1/targets/{t}``, read by the daemon's own ``AbortRules.from_policy``) only label the charts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from dashboards import data
from dashboards.data import Reader
from gatekeeper.canary.rules import AbortRules, describe_sequential
from gatekeeper.client import plain

STATE_MARK = {"running": "▶", "aborted": "■", "failed": "✕", "passed": "✓", "baking": "◆", "rolled_back": "↶"}
STATE_COLOUR = {
    "running": "green",
    "aborted": "red",
    "failed": "gray",
    "passed": "blue",
    "baking": "orange",
    "rolled_back": "red",
}
WINDOW_LIMIT = 20_000


# --- reads ---------------------------------------------------------------------------------------


def canaries(api: Reader, target: str) -> list[dict[str, Any]]:
    """The target's canaries, newest first (the API's order)."""
    return plain(api.canaries_of(target))


def canary(api: Reader, canary_id: str) -> dict[str, Any]:
    return plain(api.get_canary(canary_id))


def windows(api: Reader, canary_id: str) -> list[dict[str, Any]]:
    return api.canary_windows(canary_id, limit=WINDOW_LIMIT)


def sequential(api: Reader, canary_id: str) -> dict[str, Any]:
    return api.canary_sequential(canary_id)


def sequential_frame(report: Mapping[str, Any]) -> pd.DataFrame:
    """One row per anytime-valid test (``GET /v1/canaries/{id}/sequential``): its estimate, confidence
    sequence, always-valid p-value and the tolerated effect it is tested against."""
    rows = [
        {
            "effect": effect,
            "estimate": r.get("estimate"),
            "ci low": (r.get("ci") or [None, None])[0],
            "ci high": (r.get("ci") or [None, None])[1],
            "level": r.get("level"),
            "p (always valid)": r.get("p_value"),
            "tolerated": r.get("null"),
            "windows": r.get("looks"),
        }
        for effect, r in (report.get("effects") or {}).items()
    ]
    return pd.DataFrame(rows)


def daemon(api: Reader) -> dict[str, Any]:
    return plain(api.daemon_status())


def shadows(api: Reader, target: str) -> list[dict[str, Any]]:
    """The target's candidates in shadow, each with its shadow summary (the verdict is pending until the
    server takes it: a passed shadow stays here, frozen, until its canary starts)."""
    return [
        api.shadow_summary(c["id"]) | {"version": c["version"]}
        for c in data.candidates(api, target=target, status="shadow")
    ]


SHADOW_COLUMNS = ("version", "started_at", "hours", "n", "agreement", "candidate_p99_ms", "verdict", "why")


def shadow_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per shadow: server hours since it started, records, agreement, and the verdict's reasons."""
    return pd.DataFrame(
        [
            {
                "version": r["version"],
                "started_at": _ts(r.get("started_at")),
                "hours": r.get("hours"),
                "n": r.get("n"),
                "agreement": r.get("agreement"),
                "candidate_p99_ms": r.get("candidate_p99_ms"),
                "verdict": r.get("verdict"),
                "why": "; ".join(r.get("reasons") or []),
            }
            for r in rows
        ],
        columns=list(SHADOW_COLUMNS),
    )


def target(api: Reader, name: str) -> dict[str, Any]:
    return plain(api.get_target(name))


def abort_decision(api: Reader, candidate_id: str, canary_id: str) -> dict[str, Any] | None:
    """The daemon's abort decision for this canary (its message is the trigger in one line)."""
    rows = plain(api.decisions(candidate_id))
    found = [
        d
        for d in rows
        if d.get("stage") == "canary"
        and d.get("verdict") == "abort"
        and str((d.get("details") or {}).get("canary_id")) == str(canary_id)
    ]
    return found[-1] if found else None


# --- labels --------------------------------------------------------------------------------------


def rules_of(policy: Mapping[str, Any] | None) -> AbortRules:
    policy = policy or {}
    return AbortRules.from_policy(
        dict(policy.get("abort_rules") or {}), (policy.get("canary") or {}).get("safety_metrics") or ()
    )


def label(c: Mapping[str, Any]) -> str:
    """A picker line: version, state with its mark, start date, short id."""
    mark = STATE_MARK.get(c["state"], "•")
    started = str(c["started_at"])[:16].replace("T", " ")
    return f"v{c['candidate_version']} · {mark} {c['state']} · started {started} · {str(c['id'])[:8]}"


def badge(state: str) -> str:
    return f":{STATE_COLOUR.get(state, 'gray')}-badge[{state}]"


def age_text(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "never"
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


def until_text(moment: Any, now: datetime) -> str:
    """'in 4.2 days' / '3.0 h ago': how far a moment is from now."""
    ts = _ts(moment)
    if ts is None:
        return "n/a"
    seconds = (ts - pd.Timestamp(now).tz_convert("UTC")).total_seconds()
    span = abs(seconds)
    text = f"{span / 86400:.1f} days" if span >= 2 * 86400 else f"{span / 3600:.1f} h"
    return f"in {text}" if seconds >= 0 else f"{text} ago"


def daemon_health(status: Mapping[str, Any], tick_minutes: float = 5.0) -> str:
    """ok: ticked within three ticks; stale: a leader exists but is late; none: nobody ever ticked."""
    age = status.get("age_seconds")
    if not status.get("leader") or age is None:
        return "none"
    return "ok" if age <= 3 * tick_minutes * 60 else "stale"


# --- stages --------------------------------------------------------------------------------------


def _ts(value: Any) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(value).tz_convert("UTC")


def stage_frame(c: Mapping[str, Any]) -> pd.DataFrame:
    """One row per planned stage with its window: past stages end where the current one started, the
    current one runs [stage_started_at, stage_ends_at) (pauses already added by the service), later ones
    follow. Status says done / current / paused / aborted / failed / passed / planned."""
    plan = list(c.get("plan") or [])
    current = int(c.get("stage") or 0)
    started, ends = _ts(c["stage_started_at"]), _ts(c["stage_ends_at"])
    assert started is not None and ends is not None
    starts: dict[int, pd.Timestamp] = {current: started}
    finish: dict[int, pd.Timestamp] = {current: ends}
    for i in range(current - 1, -1, -1):
        finish[i] = starts[i + 1]
        starts[i] = finish[i] - pd.Timedelta(days=float(plan[i]["days"]))
    for i in range(current + 1, len(plan)):
        starts[i] = finish[i - 1]
        finish[i] = starts[i] + pd.Timedelta(days=float(plan[i]["days"]))
    rows = []
    for i, stage in enumerate(plan):
        status = _stage_status(i, current, c["state"])
        rows.append(
            {
                "stage": f"{i + 1}/{len(plan)}",
                "share": float(stage["share"]),
                "days": float(stage["days"]),
                "start": starts[i],
                "end": finish[i],
                "status": status,
                "current": i == current,
            }
        )
    frame = pd.DataFrame(rows, columns=["stage", "share", "days", "start", "end", "status", "current"])
    frame["label"] = [f"{r.stage} · {r.share:.0%} · {r.days:g} d" for r in frame.itertuples()]
    return frame


def _stage_status(i: int, current: int, state: str) -> str:
    """done / current / paused / aborted / failed / passed / planned / not reached, for stage ``i``."""
    if i < current:
        return "done"
    if i > current:
        return "planned" if state in ("running", "aborted") else "not reached"
    return {"running": "current", "aborted": "paused (aborted)", "failed": "failed"}.get(state, state)


def stage_marks(c: Mapping[str, Any], now: datetime) -> pd.DataFrame:
    """Moments to draw on the timeline: start, abort, finish, now."""
    marks = [("started", c.get("started_at")), ("aborted", c.get("aborted_at"))]
    marks += [(c["state"] if c["state"] in ("passed", "failed") else "finished", c.get("finished_at"))]
    marks += [("now", now)]
    return pd.DataFrame(
        [{"mark": name, "at": _ts(at)} for name, at in marks if at is not None], columns=["mark", "at"]
    )


# --- windows -------------------------------------------------------------------------------------


def window_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (group, window) with error rate, p99 and one column per safety metric."""
    records = []
    for w in rows:
        requests = int(w["requests"])
        rec = {
            "group": w["group"],
            "start": pd.Timestamp(int(w["start_s"]), unit="s", tz="UTC"),
            "end": pd.Timestamp(int(w["end_s"]), unit="s", tz="UTC"),
            "requests": requests,
            "errors": int(w["errors"]),
            "error_rate": (int(w["errors"]) / requests) if requests else math.nan,
            "latency_p99_ms": float(w["latency_p99_ms"]),
        }
        rec.update({f"safety:{k}": float(v) for k, v in (w.get("safety") or {}).items()})
        rec.update(_thresholds(w.get("thresholds")))
        records.append(rec)
    base = ["group", "start", "end", "requests", "errors", "error_rate", "latency_p99_ms"]
    frame = pd.DataFrame(records)
    if frame.empty:
        return pd.DataFrame(columns=base)
    return frame.sort_values(["group", "start"], kind="stable").reset_index(drop=True)


def _thresholds(judged: Mapping[str, Any] | None) -> dict[str, Any]:
    """A canary window's ``thresholds`` block from the API as columns (NaN where it was not judged)."""
    if judged is None:
        return {}
    out = {
        "judged": bool(judged.get("judged")),
        "threshold:error_rate": _float(judged.get("error_rate")),
        "threshold:latency_p99_ms": _float(judged.get("latency_p99_ms")),
    }
    for metric, fig in (judged.get("safety") or {}).items():
        out[f"sigma:safety:{metric}"] = _float(fig.get("sigma"))
        out[f"threshold:safety:{metric}"] = _float(fig.get("threshold"))
    return out


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _column(frame: pd.DataFrame, name: str, default: Any = math.nan) -> pd.Series:
    return frame[name] if name in frame.columns else pd.Series(default, index=frame.index)


def safety_metrics(frame: pd.DataFrame) -> list[str]:
    return sorted(c.split(":", 1)[1] for c in frame.columns if c.startswith("safety:"))


def _group(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return frame[frame["group"] == name].reset_index(drop=True)


def paired_frame(frame: pd.DataFrame, rules: AbortRules | None = None) -> pd.DataFrame:
    """Canary windows with their holdout window (same start) and the error and p99 thresholds each was
    judged against, as the API returned them. ``judged`` is false where either side has fewer than
    ``min_requests`` (the rules ignore those). ``rules`` is not read: the thresholds come with the rows."""
    canary, holdout = _group(frame, "canary"), _group(frame, "holdout")
    keep = ["start", "end", "requests", "errors", "error_rate", "latency_p99_ms"]
    merged = canary[keep].merge(holdout[keep], on="start", how="left", suffixes=("", "_holdout"))
    return pd.DataFrame(
        {
            "start": merged["start"],
            "end": merged["end"],
            "canary requests": merged["requests"],
            "holdout requests": merged["requests_holdout"],
            "canary error rate": merged["error_rate"],
            "holdout error rate": merged["error_rate_holdout"],
            "error threshold": _column(canary, "threshold:error_rate").to_numpy(),
            "canary p99 ms": merged["latency_p99_ms"],
            "holdout p99 ms": merged["latency_p99_ms_holdout"],
            "p99 threshold ms": _column(canary, "threshold:latency_p99_ms").to_numpy(),
            "judged": _column(canary, "judged", False).eq(True).to_numpy(),
        }
    )


def safety_frame(
    frame: pd.DataFrame, rules: AbortRules | None, metric: str, trigger: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Canary and holdout values of one safety metric with the rule's line, holdout - k·σ, and the σ, each
    as the API returned it for the window. Where the trigger that aborted the canary judged this metric,
    its own per-window threshold is added. ``rules`` is not read: the thresholds come with the rows."""
    column = f"safety:{metric}"
    canary, holdout = _group(frame, "canary"), _group(frame, "holdout")
    if column not in frame.columns or canary.empty:
        return pd.DataFrame(columns=["start", "end", "canary", "holdout", "sigma", "threshold", "judged"])
    merged = canary[["start", "end", column]].merge(
        holdout[["start", column]], on="start", how="left", suffixes=("", "_holdout")
    )
    out = pd.DataFrame(
        {
            "start": merged["start"],
            "end": merged["end"],
            "canary": merged[column],
            "holdout": merged[f"{column}_holdout"],
            "sigma": _column(canary, f"sigma:{column}").to_numpy(),
            "threshold": _column(canary, f"threshold:{column}").to_numpy(),
            "judged": _column(canary, "judged", False).eq(True).to_numpy(),
        }
    )
    if trigger and trigger.get("rule") == "safety" and trigger.get("metric") == metric:
        judged = {
            pd.Timestamp(w["start"]).tz_convert("UTC"): w.get("threshold")
            for w in (trigger.get("figures") or {}).get("windows") or []
        }
        out["trigger threshold"] = [judged.get(s) for s in out["start"]]
    return out


def baseline_series(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """The pre-canary hour of champion traffic for one column (drawn before the canary's first window)."""
    base = _group(frame, "baseline")
    if column not in base.columns:
        return pd.DataFrame(columns=["start", "value"])
    return pd.DataFrame({"start": base["start"], "value": base[column]}).dropna()


def window_span(
    starts: Sequence[Any], length: timedelta = timedelta(minutes=5)
) -> tuple[pd.Timestamp, pd.Timestamp]:
    stamps = sorted(pd.Timestamp(s).tz_convert("UTC") for s in starts)
    return stamps[0], stamps[-1] + pd.Timedelta(length)


def trigger_spans(trigger: Mapping[str, Any] | None) -> pd.DataFrame:
    """The trigger's windows as one shaded span (they are contiguous by the rule's definition)."""
    if not trigger or not trigger.get("window_starts"):
        return pd.DataFrame(columns=["from", "to", "rule"])
    first, last = window_span(trigger["window_starts"])
    return pd.DataFrame([{"from": first, "to": last, "rule": trigger["rule"]}])


def focus(frame: pd.DataFrame, trigger: Mapping[str, Any] | None, hours: float = 3.0) -> pd.DataFrame:
    """The rows within ``hours`` of the trigger's windows (the whole frame without a trigger)."""
    if not trigger or not trigger.get("window_starts") or frame.empty:
        return frame
    first, last = window_span(trigger["window_starts"])
    pad = pd.Timedelta(hours=hours)
    return frame[(frame["start"] >= first - pad) & (frame["start"] <= last + pad)]


# --- the trigger in plain words --------------------------------------------------------------------

RULE_WORDS = {
    "insufficient_evidence": "evidence",
    "error_rate": "error rate",
    "latency_p99": "p99 latency",
    "safety": "safety metric",
    "exception": "exception rate",
    "sequential": "anytime-valid test",
}


def _pct(value: Any, digits: int = 2) -> str:
    return f"{float(value):.{digits}%}" if isinstance(value, int | float) else "n/a"


def rule_sentence(trigger: Mapping[str, Any]) -> str:
    """The rule that fired with the thresholds it was judged by, in words."""
    rule, t = trigger["rule"], (trigger.get("figures") or {}).get("threshold") or {}
    alpha = f"α={t.get('evidence_alpha', 0.05):g}"
    if rule == "insufficient_evidence":
        have = evidence_have_need(trigger.get("figures") or {})
        return (
            f"the stage reached its progress deadline short of evidence: {have['windows']} evaluable "
            f"windows, {have['requests']} canary requests"
        )
    if rule == "sequential":
        return describe_sequential(trigger.get("metric") or "", trigger.get("figures") or {})
    if rule == "error_rate":
        return (
            f"canary error rate above {t.get('error_ratio', 2):g}× the holdout's for more than "
            f"{t.get('error_minutes', 5):g} min, each window significant at {alpha}"
        )
    if rule == "latency_p99":
        return (
            f"canary p99 above {t.get('p99_ratio', 1.5):g}× the holdout's for more than "
            f"{t.get('p99_minutes', 15):g} min"
        )
    if rule == "safety":
        return (
            f"{trigger.get('metric')} more than {t.get('safety_sigma', 2):g}σ below the holdout "
            f"for more than {t.get('safety_minutes', 60):g} min"
        )
    excess = _pct(t.get("exception_excess_rate"), 2)
    return (
        f"exception {trigger.get('metric')}: canary rate above the holdout's by more than {excess} "
        f"over the trailing hour ({alpha})"
    )


def trigger_summary(trigger: Mapping[str, Any]) -> dict[str, Any]:
    figures = trigger.get("figures") or {}
    starts = trigger.get("window_starts") or []
    first, last = window_span(starts) if starts else (None, None)
    return {
        "rule": trigger["rule"],
        "metric": trigger.get("metric") or RULE_WORDS.get(trigger["rule"], trigger["rule"]),
        "fired_at": _ts(trigger.get("fired_at")),
        "from": first,
        "to": last,
        "span_minutes": figures.get("span_minutes"),
        "windows": len(starts),
        "sentence": rule_sentence(trigger),
    }


def trigger_table(trigger: Mapping[str, Any]) -> pd.DataFrame:
    """Per-window figures the rule judged (the exception rule pools an hour: one row)."""
    figures = dict(trigger.get("figures") or {})
    rows = figures.get("windows")
    if rows:
        frame = pd.DataFrame(rows)
        frame["start"] = pd.to_datetime(frame["start"], utc=True)
        return frame
    pooled = {k: v for k, v in figures.items() if k not in ("threshold", "windows")}
    return pd.DataFrame([pooled]) if pooled else pd.DataFrame()


def recheck_tables(body: Mapping[str, Any]) -> tuple[dict[str, Any], pd.DataFrame]:
    """The 409 of a refused re-enable: (the baseline's reference figures, the re-judged windows)."""
    figures = dict(body.get("figures") or {})
    baseline = dict(figures.get("baseline") or {})
    rows = figures.get("windows") or []
    frame = pd.DataFrame(rows)
    if not frame.empty and "start" in frame:
        frame["start"] = pd.to_datetime(frame["start"], utc=True)
    extra = {k: v for k, v in figures.items() if k not in ("baseline", "windows")}
    return baseline | {k: v for k, v in extra.items() if not isinstance(v, dict | list)}, frame


def exceptions_table(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Exception counts and rates per type, canary vs holdout, over all windows."""
    totals: dict[str, dict[str, int]] = {}
    requests = {"canary": 0, "holdout": 0}
    for w in rows:
        if w["group"] not in requests:
            continue
        requests[w["group"]] += int(w["requests"])
        for kind, n in (w.get("exceptions") or {}).items():
            totals.setdefault(kind, {"canary": 0, "holdout": 0})[w["group"]] += int(n)
    out = [
        {
            "exception": kind,
            "canary": n["canary"],
            "canary rate": n["canary"] / requests["canary"] if requests["canary"] else None,
            "holdout": n["holdout"],
            "holdout rate": n["holdout"] / requests["holdout"] if requests["holdout"] else None,
        }
        for kind, n in sorted(totals.items())
    ]
    return pd.DataFrame(out, columns=["exception", "canary", "canary rate", "holdout", "holdout rate"])


# --- evidence: what the stage has and what it needs (from the API, computed nowhere here) ----------


def evidence_have_need(evidence: Mapping[str, Any]) -> dict[str, str]:
    """'have of need' for the stage's evaluable windows and canary requests, as the API reported them."""
    need_r = evidence.get("need_requests")
    need = f"{need_r:,}" if need_r is not None else "? (no holdout evidence yet)"
    return {
        "windows": f"{evidence.get('windows_evaluable', 0):,} of {evidence.get('need_windows', 0):,}",
        "requests": f"{evidence.get('canary_requests', 0):,} of {need}",
        "received": f"{evidence.get('windows_received', 0):,}",
    }
