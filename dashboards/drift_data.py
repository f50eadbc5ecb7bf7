"""What the drift page reads and how it shapes it: the four kinds' window history against the thresholds
pinned in the champion's reference, live events with their triage, and the Evidently report.

Windows with fewer samples than the reference's ``min_samples`` (``min_labelled`` for the daily kinds)
never count toward an alert; they are kept, marked ``counts = False``, so a chart can fade them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from dashboards.data import Reader
from gatekeeper.client import plain

KINDS = ("input", "prediction", "label", "concept")
EVENT_STATUSES = ("live", "open", "acknowledged", "resolved")
ACTION_ORDER = {"none": 0, "review": 1, "retrain": 2, "retrain_now": 3}
# The policy defaults (gatekeeper.policy.schema.DriftPolicy), used only when a view has no reference.
DEFAULTS = {
    "psi": 0.2,
    "label_chi2_p": 0.01,
    "prediction_ks": 0.15,
    "kl_monitor": 0.012,
    "kl_alert": 0.02,
    "kl_retrain": 0.028,
    "concept_delta_f1": 0.03,
    "min_samples": 200,
    "min_labelled": 100,
}


# --- reads ---------------------------------------------------------------------------------------


def view(api: Reader, target: str, *, since: datetime | None = None, live: bool = False) -> dict[str, Any]:
    """``GET /v1/targets/{t}/drift``: reference, latest and history per kind, live events."""
    return plain(api.drift(target, since=since, live=live or None))


def events(api: Reader, target: str, status: str | None = None) -> list[dict[str, Any]]:
    return plain(api.drift_events(target, status=status))  # type: ignore[arg-type]


def report_html(api: Reader, target: str) -> str:
    """Evidently's HTML for the latest input window (built once by the API, a few MB)."""
    return api.drift_report(target)


# --- thresholds ----------------------------------------------------------------------------------


def thresholds(drift: Mapping[str, Any]) -> dict[str, float]:
    """The thresholds pinned in the reference (the ones the daemon judges with), policy defaults else."""
    pinned = ((drift.get("reference") or {}).get("thresholds")) or {}
    return {k: float(pinned.get(k, v)) for k, v in DEFAULTS.items()}


# --- history frames ------------------------------------------------------------------------------


def _stamp(value: Any) -> pd.Timestamp:
    return pd.Timestamp(value).tz_convert("UTC")


def _base(r: Mapping[str, Any], minimum: float) -> dict[str, Any]:
    return {
        "window_start": _stamp(r["window_start"]),
        "window_end": _stamp(r["window_end"]),
        "n": int(r["n"]),
        "counts": int(r["n"]) >= minimum,
        "breached": bool(r.get("breached")),
    }


def input_frame(history: Sequence[Mapping[str, Any]], thr: Mapping[str, float]) -> pd.DataFrame:
    """Long form: one row per window and feature PSI, plus the window's max PSI as ``feature = max``."""
    rows = []
    for r in history:
        base = _base(r, thr["min_samples"])
        for feature, psi in ((r.get("figures") or {}).get("features") or {}).items():
            if psi is not None:
                rows.append({**base, "feature": feature, "psi": float(psi)})
        if r.get("value") is not None:
            rows.append({**base, "feature": "max", "psi": float(r["value"])})
    columns = ["window_start", "window_end", "n", "counts", "breached", "feature", "psi"]
    return pd.DataFrame(rows, columns=columns)


def prediction_frame(history: Sequence[Mapping[str, Any]], thr: Mapping[str, float]) -> pd.DataFrame:
    """KS of the confidence distribution and KL of the predicted-class mix per window."""
    rows = []
    for r in history:
        figures = r.get("figures") or {}
        rows.append(
            {
                **_base(r, thr["min_samples"]),
                "ks": r.get("value"),
                "kl": figures.get("kl"),
                "kl status": figures.get("kl_status"),
            }
        )
    columns = ["window_start", "window_end", "n", "counts", "breached", "ks", "kl", "kl status"]
    return pd.DataFrame(rows, columns=columns)


def label_frame(history: Sequence[Mapping[str, Any]], thr: Mapping[str, float]) -> pd.DataFrame:
    rows = [
        {**_base(r, thr["min_labelled"]), "p": r.get("value"), "chi2": (r.get("figures") or {}).get("chi2")}
        for r in history
    ]
    return pd.DataFrame(rows, columns=["window_start", "window_end", "n", "counts", "breached", "p", "chi2"])


def concept_frame(history: Sequence[Mapping[str, Any]], thr: Mapping[str, float]) -> pd.DataFrame:
    rows = []
    for r in history:
        figures = r.get("figures") or {}
        rows.append(
            {
                **_base(r, thr["min_labelled"]),
                "delta_f1": r.get("value"),
                "f1": figures.get("f1"),
                "reference_f1": figures.get("reference_f1"),
            }
        )
    columns = ["window_start", "window_end", "n", "counts", "breached", "delta_f1", "f1", "reference_f1"]
    return pd.DataFrame(rows, columns=columns)


def kl_bands(thr: Mapping[str, float], top: float) -> pd.DataFrame:
    """The KL monitor's levels as bands: ok, monitor, alert, retrain."""
    edges = [0.0, thr["kl_monitor"], thr["kl_alert"], thr["kl_retrain"], max(top, thr["kl_retrain"] * 1.5)]
    names = ["ok", "monitor", "alert", "retrain"]
    return pd.DataFrame(
        [{"level": n, "from": edges[i], "to": edges[i + 1]} for i, n in enumerate(names)],
        columns=["level", "from", "to"],
    )


# --- latest and events ---------------------------------------------------------------------------

HEADLINES = {
    "input": ("max PSI", "psi", "above"),
    "prediction": ("KS", "prediction_ks", "above"),
    "label": ("χ² p-value", "label_chi2_p", "below"),
    "concept": ("ΔF1", "concept_delta_f1", "above"),
}


def latest_table(drift: Mapping[str, Any]) -> pd.DataFrame:
    """Per kind: the newest window's value against its threshold, and whether it breaches."""
    thr = thresholds(drift)
    rows = []
    for kind in KINDS:
        r = (drift.get("latest") or {}).get(kind)
        name, key, side = HEADLINES[kind]
        rows.append(
            {
                "kind": kind,
                "statistic": name,
                "value": None if r is None else r.get("value"),
                "threshold": thr[key],
                "alerts when": side,
                "breached": None if r is None else bool(r.get("breached")),
                "n": None if r is None else r.get("n"),
                "window start": None if r is None else _stamp(r["window_start"]),
            }
        )
    columns = ["kind", "statistic", "value", "threshold", "alerts when", "breached", "n", "window start"]
    return pd.DataFrame(rows, columns=columns)


EVENT_COLUMNS = (
    "kind",
    "status",
    "action",
    "signals",
    "value",
    "threshold",
    "since",
    "sustained h",
    "why",
    "retrain run",
    "retrain note",
    "paged",
    "acknowledged by",
    "seasonal until",
    "id",
)


def _event_row(e: Mapping[str, Any]) -> dict[str, Any]:
    """One drift event with its figures, triage and acknowledgement."""
    ack = e.get("ack") or {}
    figures = e.get("figures") or {}
    run = e.get("training_run_id")
    return {
        "kind": e["kind"],
        "status": e["status"],
        "action": e["action"],
        "signals": ", ".join(figures.get("signals") or []),
        "value": figures.get("value"),
        "threshold": figures.get("threshold"),
        "since": _stamp(e["since"]),
        "sustained h": (e.get("triage") or {}).get("sustained_hours"),
        "why": "; ".join(e.get("reasons") or []),
        "retrain run": f"training?run={run}" if run else None,
        "retrain note": e.get("retrain_note"),
        "paged": _stamp(e["paged_at"]) if e.get("paged_at") else None,
        "acknowledged by": ack.get("by"),
        "seasonal until": _stamp(ack["until"]) if ack.get("until") else None,
        "id": str(e["id"]),
    }


def event_table(items: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Events with their triage: suggested action, why, the retrain run (or why none) and the page."""
    frame = pd.DataFrame([_event_row(e) for e in items], columns=list(EVENT_COLUMNS))
    rank = frame["action"].map(ACTION_ORDER).fillna(0)
    return frame.assign(_rank=-rank).sort_values(["_rank", "since"], kind="stable").drop(columns="_rank")


def event_label(e: Mapping[str, Any]) -> str:
    return f"{e['kind']} · {e['status']} · {e['action']} · since {str(e['since'])[:16]} · {str(e['id'])[:8]}"
