"""Everything the pages read, as plain data: API calls that take a client, and pure shaping functions
that turn API JSON into DataFrames. Pages stay thin; this module is what the tests exercise.

The dashboard talks to the HTTP API only, through the typed ``gatekeeper.client.Client`` (the pages
pass ``common.reader()``, the same client with its GETs cached), so it runs wherever the API is
reachable. Typed replies become plain JSON here (``plain``), the shape the tables are built from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from gatekeeper.client import ApiError, Client, plain
from gatekeeper.evaluation.progress import progress_fraction, progress_line
from gatekeeper.evaluation.verdicts import need_text
from gatekeeper.registry.states import Status

LINEAGE_TAGS = (
    "model_target",
    "code_revision",
    "data_snapshot_id",
    "label_version",
    "feature_schema_version",
    "seed",
)
STATUSES = tuple(s.value for s in Status)
EXAMPLE_ROLES = ("golden", "holdout", "adversarial", "replay")
REPORT_FORMATS = {"md": "text/markdown", "html": "text/html", "json": "application/json"}
# Candidate pages are capped so a target with thousands of versions still loads in one request or two.
MAX_CANDIDATES = 1000


Reader = Client


# --- registry ------------------------------------------------------------------------------------


def targets(api: Reader) -> list[dict[str, Any]]:
    return plain(api.list_targets())


def champion(api: Reader, target: str) -> dict[str, Any] | None:
    """The target's champion, or None before its first promotion (the API answers 404 then)."""
    try:
        return plain(api.champion(target))
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


def routing(api: Reader, target: str) -> dict[str, Any]:
    return plain(api.routing(target))


def candidates(
    api: Reader,
    *,
    target: str | None = None,
    status: str | None = None,
    limit: int = MAX_CANDIDATES,
    page_size: int = 500,
) -> list[dict[str, Any]]:
    """Newest first, following the API's cursor until ``limit`` rows."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(items) < limit:
        size = min(page_size, limit - len(items))
        page = api.list_candidates(target=target, status=status, limit=size, cursor=cursor)
        items += plain(page.items)
        cursor = page.next_cursor
        if not cursor:
            break
    return items


def candidate(api: Reader, candidate_id: str) -> dict[str, Any]:
    return plain(api.get_candidate(candidate_id))


def champions_of(target_rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any] | None]:
    """Target name -> its champion ``{id, version}`` as ``GET /v1/targets`` reports it (one request)."""
    return {t["name"]: t.get("champion") for t in target_rows}


def target_table(
    target_rows: Sequence[Mapping[str, Any]], champions: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """One row per target with its task, pinned policy version and current champion."""
    champions = champions_of(target_rows) if champions is None else champions
    rows = []
    for t in target_rows:
        champ = champions.get(t["name"])
        rows.append(
            {
                "target": t["name"],
                "task": t["task"],
                "policy version": t["policy_version"],
                "champion": f"v{champ['version']}" if champ else "none yet",
                "champion id": champ["id"] if champ else None,
                "routing generation": t.get("routing_generation"),
                "always extended canary": t.get("always_extended_canary"),
                "created": pd.to_datetime(t.get("created_at"), utc=True),
            }
        )
    return pd.DataFrame(rows)


def candidate_table(items: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Candidates with status, version, the six lineage tags and the training run, newest first."""
    columns = ["target", "version", "status", *LINEAGE_TAGS[1:], "training run", "submitter", "created", "id"]
    rows = [
        {
            "target": c["target"],
            "version": c["version"],
            "status": c["status"],
            **{tag: (c.get("tags") or {}).get(tag) for tag in LINEAGE_TAGS[1:]},
            "training run": c.get("training_run_id"),
            "submitter": c.get("submitter"),
            "created": pd.to_datetime(c.get("created_at"), utc=True),
            "id": c["id"],
        }
        for c in items
    ]
    return pd.DataFrame(rows, columns=columns)


def routing_table(table: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "version": f"v{r['version']}",
                "role": r["role"],
                "weight": r["weight"],
                "candidate": r["candidate_id"],
            }
            for r in table.get("routes", [])
        ],
        columns=["version", "role", "weight", "candidate"],
    )


# --- evaluations ---------------------------------------------------------------------------------

EVALUATION_STATUSES = ("queued", "running", "done", "error")


def recent_evaluations(
    api: Reader, *, target: str | None = None, status: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """The newest evaluations of every candidate (without results): what the worker is doing."""
    return plain(api.list_evaluations(target=target, status=status, limit=limit))


def evaluation_table(items: Sequence[Mapping[str, Any]], versions: Mapping[str, int]) -> pd.DataFrame:
    """Recent evaluations with their verdict, progress and a link to the report."""
    rows = []
    for e in items:
        decision = e.get("decision") or {}
        progress = e.get("progress") or {}
        fraction = progress_fraction(progress)
        version = versions.get(str(e["candidate_id"]))
        rows.append(
            {
                "target": e["target"],
                "candidate": f"v{version}" if version is not None else str(e["candidate_id"])[:8],
                "status": e["status"],
                "verdict": decision.get("verdict"),
                "stage": progress_line(progress) if e["status"] in ("queued", "running") else None,
                "progress": fraction,
                "mode": e.get("mode"),
                "requested by": e.get("requested_by"),
                "created": pd.to_datetime(e.get("created_at"), utc=True),
                "finished": pd.to_datetime(e.get("finished_at"), utc=True),
                "report": f"evaluation?evaluation={e['id']}",
                "id": str(e["id"]),
            }
        )
    columns = [
        "target",
        "candidate",
        "status",
        "verdict",
        "report",
        "stage",
        "progress",
        "requested by",
        "created",
        "finished",
        "mode",
        "id",
    ]
    return pd.DataFrame(rows, columns=columns)


def evaluations_of(api: Reader, candidate_id: str) -> list[dict[str, Any]]:
    """Evaluations of a candidate, newest first, without their (large) results."""
    return plain(api.evaluations_of(candidate_id))


def evaluation(api: Reader, evaluation_id: str) -> dict[str, Any]:
    return plain(api.get_evaluation(evaluation_id))


def report(api: Reader, evaluation_id: str, fmt: str) -> str:
    """The rendered report as text (JSON is re-serialised so it downloads as a file)."""
    body = api.evaluation_report(evaluation_id, format=fmt)  # type: ignore[arg-type]
    return body if isinstance(body, str) else json.dumps(body, indent=2, ensure_ascii=False)


def _ci_text(ci: Sequence[float] | None) -> str:
    return "" if not ci or ci[0] is None else f"[{ci[0]:+.4f}, {ci[1]:+.4f}]"


def reasons_table(reasons: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Decision reasons in plain words with every figure the gate used."""
    return pd.DataFrame(
        [
            {
                "severity": r.get("severity"),
                "check": r.get("check"),
                "slice": r.get("slice"),
                "metric": r.get("metric"),
                "why": r.get("message"),
                "value": r.get("value"),
                "champion": r.get("baseline"),
                "threshold": r.get("threshold"),
                "95% CI": _ci_text(r.get("ci")),
                "p": r.get("p_value"),
                "significant": r.get("significant"),
                "outcome": r.get("outcome"),
                "need": need_text(r["need_n"]) if r.get("outcome") == "inconclusive" else "",
            }
            for r in reasons
        ],
        columns=[
            "severity",
            "check",
            "slice",
            "metric",
            "why",
            "value",
            "champion",
            "threshold",
            "95% CI",
            "p",
            "significant",
            "outcome",
            "need",
        ],
    )


def slice_needs(decision: Mapping[str, Any] | None) -> dict[str, str]:
    """Slice key -> "need ≈ N more examples" for every slice the decision could not decide."""
    checks = (decision or {}).get("checks") or []
    return {
        r["slice"]: need_text(r.get("need_n"))
        for r in checks
        if r.get("check") == "slice" and r.get("outcome") == "inconclusive"
    }


def flagged_slices(decision: Mapping[str, Any] | None) -> dict[str, str]:
    """Slice key -> severity for every decision reason that names a slice (hard wins over soft)."""
    out: dict[str, str] = {}
    if not decision:
        return out
    for reason in list(decision.get("hard_failures") or []) + list(decision.get("soft_flags") or []):
        key = reason.get("slice")
        if key and reason.get("check") == "slice" and out.get(key) != "hard":
            out[key] = reason.get("severity") or "soft"
    for reason in decision.get("inconclusive") or []:
        if reason.get("slice") and reason.get("check") == "slice":
            out.setdefault(reason["slice"], "inconclusive")
    return out


def comparisons_table(golden: Mapping[str, Any]) -> pd.DataFrame:
    """Golden metrics: candidate vs champion with delta, paired 95% CI and p; or the candidate's CI alone
    for a target's first model."""
    columns = ["metric", "candidate", "champion", "delta", "ci low", "ci high", "p", "significant", "n"]
    if golden.get("comparisons"):
        rows = [
            {
                "metric": name,
                "candidate": c["candidate"],
                "champion": c["champion"],
                "delta": c["delta"],
                "ci low": c.get("ci_low"),
                "ci high": c.get("ci_high"),
                "p": c.get("p_value"),
                "significant": None if c.get("p_value") is None else c["p_value"] < 0.05,
                "n": c.get("n"),
            }
            for name, c in golden["comparisons"].items()
        ]
    else:
        rows = [
            {
                "metric": name,
                "candidate": i["value"],
                "champion": None,
                "delta": None,
                "ci low": i.get("ci_low"),
                "ci high": i.get("ci_high"),
                "p": None,
                "significant": None,
                "n": i.get("n"),
            }
            for name, i in (golden.get("intervals") or {}).items()
        ]
    return pd.DataFrame(rows, columns=columns)


def per_class_table(golden: Mapping[str, Any]) -> pd.DataFrame:
    """Precision/recall/F1/support per class, with the champion's F1 and recall beside the candidate's."""
    cand = (golden.get("candidate") or {}).get("per_class") or {}
    champ = ((golden.get("champion") or {}).get("per_class")) or {}
    critical = set((golden.get("candidate") or {}).get("rare_recall") or {})
    rows = []
    for label, m in cand.items():
        c = champ.get(label) or {}
        rows.append(
            {
                "class": label,
                "critical": label in critical,
                "precision": m["precision"],
                "recall": m["recall"],
                "f1": m["f1"],
                "support": m["support"],
                "champion recall": c.get("recall"),
                "champion f1": c.get("f1"),
                "delta f1": (m["f1"] - c["f1"]) if c else None,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "class",
            "critical",
            "precision",
            "recall",
            "f1",
            "support",
            "champion recall",
            "champion f1",
            "delta f1",
        ],
    )


def confusion_frame(report: Mapping[str, Any]) -> pd.DataFrame:
    """Long form (true, predicted, count, share of the true row) for a heatmap."""
    labels = list(report.get("labels") or [])
    matrix = report.get("confusion_matrix") or []
    rows = []
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        for j, count in enumerate(row):
            rows.append(
                {"true": labels[i], "predicted": labels[j], "count": int(count), "share": count / total}
            )
    return pd.DataFrame(rows, columns=["true", "predicted", "count", "share"])


def reliability_frame(report: Mapping[str, Any]) -> pd.DataFrame:
    """Non-empty bins of the reliability curve (mean confidence vs accuracy, with counts)."""
    bins = [b for b in report.get("reliability") or [] if b.get("count")]
    return pd.DataFrame(
        [
            {
                "bin": f"({b['bin_lower']:.2f}, {b['bin_upper']:.2f}]",
                "mean confidence": b["mean_confidence"],
                "accuracy": b["accuracy"],
                "count": b["count"],
            }
            for b in bins
        ],
        columns=["bin", "mean confidence", "accuracy", "count"],
    )


def slice_frame(slices: Mapping[str, Any], decision: Mapping[str, Any] | None) -> pd.DataFrame:
    """Judged slices by worst delta first (then worst score), then the insufficient-data ones, with
    significance, support and the flag the decision raised on them."""
    flags, needs = flagged_slices(decision), slice_needs(decision)
    rows = [_slice_row(r, flags, needs) for r in slices.get("rows") or []]
    frame = pd.DataFrame(rows, columns=SLICE_COLUMNS)
    # Judged slices first (worst delta on top); slices too small to judge follow, in the same order.
    rank = frame.assign(_small=frame["support"] != "judged")
    ordered = rank.sort_values(["_small", "delta", "candidate"], na_position="last", kind="stable")
    return ordered.drop(columns="_small").reset_index(drop=True)


SLICE_COLUMNS = [
    "slice",
    "flag",
    "n",
    "candidate",
    "champion",
    "delta",
    "ci low",
    "ci high",
    "p",
    "significant",
    "support",
    "need",
]


def _slice_row(r: Mapping[str, Any], flags: dict[str, str], needs: dict[str, str]) -> dict[str, Any]:
    return {
        "slice": r["slice"],
        "flag": flags.get(r["slice"], ""),
        "n": r["n"],
        "candidate": r["candidate"],
        "champion": r.get("champion"),
        "delta": r.get("delta"),
        "ci low": r.get("ci_low"),
        "ci high": r.get("ci_high"),
        "p": r.get("p_value"),
        "significant": None if r.get("p_value") is None else r["p_value"] < 0.05,
        "support": "insufficient data" if r.get("insufficient_data") else "judged",
        "need": needs.get(r["slice"], ""),
    }


# column shown -> field of a classification flip in the evaluation results
FLIP_FIELDS = {
    "perturbation": "perturbation",
    "text": "text",
    "source text": "source_text",
    "label": "label",
    "candidate on source": "candidate_on_source",
    "candidate": "candidate",
    "champion": "champion",
    "id": "id",
}


def adversarial_frames(adversarial: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(error and flip rate per perturbation type, the example flips)."""
    parts = [{"perturbation": "overall", **adversarial["overall"]}] + list(adversarial.get("by_type") or [])
    by_type = pd.DataFrame(
        [
            {
                "perturbation": p["perturbation"],
                "n": p["n"],
                "candidate error": p["candidate_error"],
                "champion error": p.get("champion_error"),
                "delta error": p.get("delta_error"),
                "ci low": p.get("ci_low"),
                "ci high": p.get("ci_high"),
                "p": p.get("p_value"),
                "candidate flip rate": p["candidate_flip_rate"],
                "champion flip rate": p.get("champion_flip_rate"),
            }
            for p in parts
        ]
    )
    flips = pd.DataFrame(
        [{column: f.get(key) for column, key in FLIP_FIELDS.items()} for f in adversarial.get("flips") or []],
        columns=list(FLIP_FIELDS),
    )
    return by_type, flips


def correlation_frame(correlation: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "version": f"v{p['version']}",
                "offline": p["offline"],
                "online": p["online"],
                "promoted": p.get("promoted_at"),
                "candidate": p.get("candidate_id"),
            }
            for p in correlation.get("pairs") or []
        ],
        columns=["version", "offline", "online", "promoted", "candidate"],
    )


# --- example browser -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExampleQuery:
    role: str = "golden"
    label: str | None = None
    predicted: str | None = None
    lang: str | None = None
    slice: str | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    disagree: bool = False
    limit: int = 50
    offset: int = 0

    def params(self) -> dict[str, Any]:
        """Query parameters for the examples endpoint (unset filters are left out)."""
        params: dict[str, Any] = {
            "role": self.role,
            "label": self.label,
            "predicted": self.predicted,
            "lang": self.lang,
            "slice": self.slice,
            "min_confidence": self.min_confidence,
            "max_confidence": self.max_confidence,
            "limit": self.limit,
            "offset": self.offset,
        }
        if self.disagree:
            params["disagree"] = True
        return params


def examples(
    api: Reader, evaluation_id: str, query: ExampleQuery, task: str | None = "classification"
) -> tuple[int, pd.DataFrame]:
    """(total matching, one page of examples with candidate and champion side by side, in the columns
    of the task: a label per example, a ranking per query, an answer per question)."""
    from dashboards import task_data

    body = api.browse_examples(evaluation_id, **query.params())
    shape = {
        "ranking": task_data.ranking_example_frame,
        "generation": task_data.generation_example_frame,
    }.get(str(task), example_frame)
    return int(body["total"]), shape(body["items"])


def examples_raw(api: Reader, evaluation_id: str, query: ExampleQuery) -> list[dict[str, Any]]:
    """One page of examples as the API returns them (rows with both models' outputs)."""
    return list(api.browse_examples(evaluation_id, **query.params())["items"])


def _answer(view: Mapping[str, Any] | None, key: str) -> Any:
    return None if view is None else view.get(key)


def example_frame(items: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    rows = []
    for item in items:
        cand, champ = item.get("candidate"), item.get("champion")
        label = item.get("label")
        rows.append(
            {
                "id": item["id"],
                "text": item.get("text"),
                "label": label,
                "lang": item.get("lang"),
                "candidate": _answer(cand, "prediction"),
                "candidate conf": _answer(cand, "confidence"),
                "champion": _answer(champ, "prediction"),
                "champion conf": _answer(champ, "confidence"),
                "candidate right": None if label is None else _answer(cand, "prediction") == label,
                "champion right": None if label is None or champ is None else champ["prediction"] == label,
                "disagree": None if champ is None else champ["prediction"] != _answer(cand, "prediction"),
                "candidate top-k": ", ".join(f"{k} {p:.2f}" for k, p in (_answer(cand, "topk") or [])),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "id",
            "text",
            "label",
            "lang",
            "candidate",
            "candidate conf",
            "champion",
            "champion conf",
            "candidate right",
            "champion right",
            "disagree",
            "candidate top-k",
        ],
    )


# --- training runs -------------------------------------------------------------------------------


def training_runs(api: Reader, *, target: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    return plain(api.list_training_runs(target=target, limit=limit))


def registered_candidates(items: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Training run id -> the candidate registered from it."""
    return {str(c["training_run_id"]): dict(c) for c in items if c.get("training_run_id")}


RUN_COLUMNS = (
    "target",
    "trainer",
    "status",
    "macro_f1",
    "accuracy",
    "epochs",
    "candidate",
    "candidate id",
    "tags",
    "log path",
    "created",
    "finished",
    "id",
)


def _run_row(r: Mapping[str, Any], cand: Mapping[str, Any] | None) -> dict[str, Any]:
    """One training run with its final figures and the candidate it registered (if any)."""
    metrics = r.get("metrics") or {}
    final = metrics.get("final") if isinstance(metrics.get("final"), dict) else metrics
    listed = [str(c) for c in r.get("candidate_ids") or []]  # TrainingRunRead says what it became
    cand_id = (cand or {}).get("id") or (listed[0] if listed else metrics.get("registered_candidate_id"))
    version = (cand or {}).get("version") or metrics.get("registered_version")
    return {
        "target": r["target"],
        "trainer": r["trainer"],
        "status": r["status"],
        "macro_f1": _number(final.get("macro_f1")),
        "accuracy": _number(final.get("accuracy")),
        "epochs": len(metrics.get("epochs") or []) or None,
        "candidate": f"v{version}" if version else None,
        "candidate id": cand_id,
        "tags": ", ".join(f"{k}={v}" for k, v in (r.get("tags") or {}).items() if k != "model_target"),
        "log path": r.get("log_path"),
        "created": pd.to_datetime(r.get("created_at"), utc=True),
        "finished": pd.to_datetime(r.get("finished_at"), utc=True),
        "id": r["id"],
    }


def run_table(runs: Sequence[Mapping[str, Any]], by_run: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    rows = [_run_row(r, by_run.get(str(r["id"]))) for r in runs]
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


EPOCH_SERIES = ("macro_f1", "accuracy", "train_loss", "val_loss", "ece", "rare_recall")


def epoch_frame(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Per-epoch curves in long form (epoch, metric, value) from ``metrics.epochs``."""
    rows = [
        {"epoch": int(e["epoch"]), "metric": name, "value": float(e[name])}
        for e in metrics.get("epochs") or []
        if "epoch" in e
        for name in EPOCH_SERIES
        if _number(e.get(name)) is not None
    ]
    return pd.DataFrame(rows, columns=["epoch", "metric", "value"])


# --- audit ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditQuery:
    entity: str | None = None
    entity_type: str | None = None
    actor: str | None = None
    action: str | None = None
    before_id: int | None = None
    limit: int = 50


def audit(api: Reader, query: AuditQuery) -> list[dict[str, Any]]:
    """One page of the audit log, newest first; the next page starts before the last id shown."""
    rows = api.audit(
        entity=query.entity or None,
        entity_type=query.entity_type or None,
        actor=query.actor or None,
        action=query.action or None,
        before_id=query.before_id,
        limit=query.limit,
    )
    return plain(rows)


def audit_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    def short(value: Any) -> str:
        return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)

    return pd.DataFrame(
        [
            {
                "id": e["id"],
                "at": pd.to_datetime(e["at"], utc=True),
                "actor": e["actor"],
                "action": e["action"],
                "entity type": e["entity_type"],
                "entity": e["entity_id"],
                "before": short(e.get("before")),
                "after": short(e.get("after")),
                "note": e.get("note") or "",
            }
            for e in rows
        ],
        columns=["id", "at", "actor", "action", "entity type", "entity", "before", "after", "note"],
    )


def next_before_id(rows: Sequence[Mapping[str, Any]], limit: int) -> int | None:
    """The keyset cursor of the next (older) page, or None on the last page."""
    return min(int(e["id"]) for e in rows) if len(rows) >= limit and rows else None
