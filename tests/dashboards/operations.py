"""Operations data for the dashboard deployment, produced by the real services on anchored clocks:

* two canaries of the intent router, each with a passed shadow and a day of 5-minute windows judged by the
  real canary daemon on a manual clock: one aborted by a real error-rate regression (re-enable must be
  refused against the baseline), one by a holdout anomaly (re-enable must succeed);
* a week of drift on the intent router from the real drift daemon: a language-mix shift in the last 30 h
  and a safety-critical concept drift (escalation answered as faq) for seven days;
* a ``reranker`` target whose champion and candidate were evaluated from submitted scores on a small cut
  of the shipped reranker evalset.

Times are anchored on the real clock (canaries on UTC midnights, as in tests/promotion), so the served
app, which runs on the system clock, sees a canary that aborted earlier today and drift up to this hour.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from evalsets.manifest import load_manifest, read_jsonl, write_jsonl, write_manifest
from evalsets.reranker import Product, relevance
from gatekeeper.api.app import create_app
from gatekeeper.canary.daemon import CanaryDaemon
from gatekeeper.canary.simulate import Regression, healthy_stream
from gatekeeper.client import Client
from gatekeeper.clock import ManualClock, utcnow
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.drift import daemon as drift_daemon
from gatekeeper.drift import references as drift_references
from gatekeeper.jobs.worker import Worker
from gatekeeper.registry import service as registry
from gatekeeper.registry.artifacts import artifact_sha256, file_sha256
from tests.conftest import ROOT, TAGS, LiveServer
from tests.drift.world import HOUR, HOURLY, MIN_SAMPLES, ingest, labels_for, reference_frame, traffic
from tests.promotion.conftest import gate_pass, shadow_records

DAY = timedelta(days=1)
DAEMON = "canary-daemon@dashboard-seed"
RERANKER = "reranker"
SHIPPED_RERANKER = ROOT / "evalsets" / "reranker"
# A real regression: canary errors x4 for 40 min at the noon peak. A holdout anomaly: the holdout's errors
# nearly vanish for two hours while the canary runs as usual (a canary above its own baseline rate is a
# regression, and the sequential re-check keeps it aborted).
REGRESSION = Regression("error_rate", timedelta(hours=12), timedelta(minutes=40), 4.0)
ANOMALY = Regression("error_rate", timedelta(hours=12), timedelta(hours=2), 0.05)


def toy_artifact(root: Path, name: str) -> tuple[str, str]:
    """A folder that registers fine (its gate is passed by hand or by submitted predictions)."""
    folder = root / name
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(name.encode() * 64)
    (folder / "config.json").write_text('{"model_type": "bert"}')
    return name, artifact_sha256(folder)


# --- canaries ------------------------------------------------------------------------------------


def canary_start(now: datetime) -> datetime:
    """The first canary starts two UTC midnights ago, so the second one ends (aborted) at the last one."""
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - 2 * DAY


def _one_canary(
    ci: Client,
    serving: Client,
    db: Database,
    root: Path,
    clock: ManualClock,
    *,
    target: str,
    name: str,
    start: datetime,
    **stream: Any,
) -> tuple[str, str]:
    clock.set(start)
    uri, sha = toy_artifact(root, name)
    tags = {**TAGS, "model_target": target}
    body = {"target": target, "artifact_uri": uri, "artifact_sha256": sha, "tags": tags}
    cid = ci.post("/v1/candidates", body)["id"]
    gate_pass(db, cid)
    clock.set(start - timedelta(hours=25))  # the shadow runs its 25 h of server time before the canary
    ci.post(f"/v1/candidates/{cid}/shadow")
    clock.set(start)
    serving.post(
        f"/v1/candidates/{cid}/shadow/records", {"records": shadow_records(300, hours=25, start=start)}
    )
    canary = ci.post(f"/v1/candidates/{cid}/canary")
    clock.set(start + DAY)  # the serving layer posts windows once they have ended (the API refuses others)
    windows = [w.to_dict() for w in healthy_stream(start, days=1, seed=5, **stream)]
    for begin in range(0, len(windows), 5000):
        serving.post(f"/v1/canaries/{canary['id']}/metrics", {"windows": windows[begin : begin + 5000]})
    return cid, canary["id"]


def seed_canaries(db: Database, settings: Settings, tokens: dict[str, str], root: Path) -> dict[str, str]:
    """Two aborted canaries judged by the daemon: the intent router's (a real regression) and the
    reranker's (a holdout anomaly). One live canary per target, so each target has one; both targets
    need their champion already."""
    start = canary_start(utcnow())
    clock = ManualClock(start)
    daemon = CanaryDaemon(db, settings, clock=clock, name=DAEMON, echo=lambda _: None)
    ids: dict[str, str] = {}
    with LiveServer(create_app(settings, db, clock)) as server:
        ci, serving = Client(server.url, tokens["ci"]), Client(server.url, tokens["serving"])
        for name, target, begin, stream in [
            ("regression", "intent_classifier", start, {"regression": REGRESSION}),
            ("anomaly", RERANKER, start + DAY, {"holdout_anomaly": ANOMALY}),
        ]:
            ids[f"{name}_candidate"], ids[f"{name}_canary"] = _one_canary(
                ci, serving, db, root, clock, target=target, name=f"canary-{name}", start=begin, **stream
            )
            clock.set(begin + DAY)
            aborted = daemon.tick().aborted
            assert aborted == [ids[f"{name}_canary"]], (name, aborted)
    # One more tick on the real clock: the daemon is alive now and has nothing running to judge.
    CanaryDaemon(db, settings, name=DAEMON, echo=lambda _: None).tick()
    return ids


# --- drift ---------------------------------------------------------------------------------------

LANG_SHIFT = {"lang": [0.1, 0.8, 0.1]}
SAFETY_SHIFT = {"confuse": {"escalation": 0.7}}
DRIFT_DAYS = 8


def drift_end(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def seed_drift(db: Database, settings: Settings, champion_id: str) -> dict[str, Any]:
    """Hourly traffic from a UTC midnight a week ago up to this hour against a synthetic reference, the
    concept shift from the next midnight (seven full days: an event whatever the hour now) and the
    language shift for the last 30 hours, then one daemon pass at this hour."""
    end = drift_end(utcnow())
    begin = end.replace(hour=0) - DRIFT_DAYS * DAY
    with db.transaction() as session:
        candidate = registry.get_candidate(session, champion_id)
        ref = drift_references.store_reference(
            session,
            candidate=candidate,
            frame=reference_frame(),
            source={"synthetic": True, "note": "dashboard test world"},
            actor="ci",
            now=begin,
            overrides={"min_samples": MIN_SAMPLES},
        )
        ref_id = ref.id
    rng = np.random.default_rng(31)
    at = begin
    while at < end:
        shift = dict(SAFETY_SHIFT) if at >= begin + DAY else {}
        if at >= end - 30 * HOUR:
            shift |= LANG_SHIFT
        logs, truth = traffic(
            rng,
            start=at,
            hours=1,
            per_hour=120,
            candidate_id=champion_id,
            shift=shift or None,
            prefix=f"{at:%m%d%H}",
        )
        ingest(db, "intent_classifier", logs, labels_for(logs[::2], truth, timedelta(minutes=20)))
        at += HOUR
    [passed] = drift_daemon.run_pass(db, settings, now=end, cadence=HOURLY, targets=["intent_classifier"])
    assert passed.note is None, passed.note
    assert len(passed.opened) == 2, passed  # input (language mix) and concept (escalation answered as faq)
    return {"reference_id": ref_id, "opened": passed.opened, "end": end.isoformat()}


# --- reranker ------------------------------------------------------------------------------------

RERANKER_TAGS = {**TAGS, "model_target": RERANKER}


def build_reranker_evalset(folder: Path, *, golden: int = 60, holdout: int = 240, clicks: int = 300) -> Path:
    """A small cut of the shipped reranker evalset (every role, with the products catalogue)."""
    folder.mkdir(parents=True, exist_ok=True)
    gold = read_jsonl(SHIPPED_RERANKER / "golden.jsonl")[:golden]
    hold = read_jsonl(SHIPPED_RERANKER / "holdout.jsonl")[:holdout]
    sources = {r["id"] for r in gold + hold}
    adversarial = [r for r in read_jsonl(SHIPPED_RERANKER / "adversarial.jsonl") if r["source_id"] in sources]
    parts = {
        "golden.jsonl": gold,
        "holdout.jsonl": hold,
        "adversarial.jsonl": adversarial,
        "clicks.jsonl": read_jsonl(SHIPPED_RERANKER / "clicks.jsonl")[:clicks],
        "products.jsonl": read_jsonl(SHIPPED_RERANKER / "products.jsonl"),
    }
    for name, rows in parts.items():
        write_jsonl(folder / name, rows)
    manifest = load_manifest(SHIPPED_RERANKER)
    roles = {name: manifest["files"][name]["role"] for name in parts}
    meta = {k: v for k, v in manifest.items() if k != "files"} | {"version": "dash-1"}
    write_manifest(folder, meta=meta, roles=roles)
    return folder


def _grades(row: dict[str, Any], products: dict[str, Product]) -> dict[str, float]:
    """Judged grades, or (for logged impressions) the evalset's own relevance rule on the catalogue."""
    cands = row["candidates"]
    if cands and isinstance(cands[0], dict):
        return {c["doc_id"]: float(c["relevance"]) for c in cands}
    return {d: float(relevance(row["target"], products[d])) for d in cands}


def ranker_scores(
    folder: Path,
    *,
    noise: float,
    seed: int,
    fragile: Sequence[str] = (),
    weak_lang: str | None = None,
    latency_ms: float = 40.0,
) -> list[dict[str, Any]]:
    """A ranker that sees the grade through Gaussian noise: ``{"id", "scores", "latency_ms"}`` per query.

    A perturbed query reuses its source query's noise (the ranker is robust to it) unless its
    perturbation is in ``fragile``, where it draws fresh noise (the top result can change); queries in
    ``weak_lang`` get three times the noise (a slice the ranker is bad at).
    """
    products = {p["doc_id"]: Product(**p) for p in read_jsonl(folder / "products.jsonl")}
    out = []
    for name in ("golden.jsonl", "holdout.jsonl", "adversarial.jsonl", "clicks.jsonl"):
        for row in read_jsonl(folder / name):
            key = row["id"] if row.get("perturbation") in fragile else row.get("source_id", row["id"])
            rng = random.Random(f"{seed}:{key}")
            grades = _grades(row, products)
            sd = noise * (3.0 if row.get("lang") == weak_lang else 1.0)
            scores = {d: round(g + rng.gauss(0.0, sd), 4) for d, g in sorted(grades.items())}
            out.append(
                {"id": row["id"], "scores": scores, "latency_ms": round(latency_ms + rng.random() * 8, 2)}
            )
    return out


def _submit(ci: Client, worker: Worker, root: Path, name: str, rows: list[dict[str, Any]]) -> dict[str, str]:
    uri, sha = toy_artifact(root, name)
    cid = ci.post(
        "/v1/candidates",
        {"target": RERANKER, "artifact_uri": uri, "artifact_sha256": sha, "tags": RERANKER_TAGS},
    )["id"]
    path = root / f"{name}.predictions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    queued = ci.post(
        f"/v1/candidates/{cid}/evaluations",
        {"predictions_uri": path.name, "predictions_sha256": file_sha256(path)},
    )
    assert worker.run_once()
    return {"candidate": cid, "evaluation": queued["id"]}


def seed_reranker(
    url: str, tokens: dict[str, str], worker: Worker, root: Path, folder: Path
) -> dict[str, str]:
    """Target, champion (promoted, with an online CTR) and a candidate evaluated against it."""
    evalset = build_reranker_evalset(folder)
    policy = (ROOT / "policies" / "reranker.yaml").read_text()
    policy = policy.replace("evalset_dir: evalsets/reranker", f"evalset_dir: {evalset}")
    admin, ci = Client(url, tokens["admin"]), Client(url, tokens["ci"])
    admin.post("/v1/targets", {"name": RERANKER, "task": "ranking", "policy": policy})
    champion = _submit(ci, worker, root, "reranker-v1", ranker_scores(evalset, noise=1.1, seed=1))
    admin.post(f"/v1/candidates/{champion['candidate']}/promote", {"reason": "first reranker"})
    Client(url, tokens["serving"]).post(
        f"/v1/candidates/{champion['candidate']}/online-metrics", {"metric": "ctr_28d", "value": 0.21}
    )
    candidate = _submit(
        ci,
        worker,
        root,
        "reranker-v2",
        ranker_scores(evalset, noise=0.7, seed=2, fragile=("romaji",), weak_lang="mixed"),
    )
    return {
        "reranker_champion": champion["candidate"],
        "reranker_champion_eval": champion["evaluation"],
        "reranker_candidate": candidate["candidate"],
        "reranker_candidate_eval": candidate["evaluation"],
    }


def seed_operations(
    db: Database, settings: Settings, tokens: dict[str, str], champion_id: str
) -> dict[str, Any]:
    """Drift on the intent router, then the canaries; the reranker (``seed_reranker``) must exist already:
    its promotion is an upstream change for the drift triage and it gets the second canary."""
    drift_seed = seed_drift(db, settings, champion_id)
    return {"ids": seed_canaries(db, settings, tokens, settings.artifact_root), "drift": drift_seed}
