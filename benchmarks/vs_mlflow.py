"""Gatekeeper's submitted-predictions gate against MLflow on the same predictions, end to end (issue 18.1).
Target: Gatekeeper >= 3x faster than MLflow, everything the gate checks still checked.

Both sides score the same deterministic predictions for the shipped intent evalset (evalsets/
intent_classifier: a noisy copy of the labels with softmax-like probabilities, one champion file and one
fresh candidate file per run, so nothing of a candidate is ever cached):

- Gatekeeper: a real `gatekeeper serve` and `gatekeeper worker` on a fresh database (Postgres by default,
  `--engine sqlite` for the one-machine setup). The champion was gated and promoted first, so its
  predictions are cached, as in production. Timed, per run, what a CI job sees: the sha256 of its
  predictions file (as `gatekeeper evaluate --predictions` computes it), `POST /v1/candidates/{id}/
  evaluations`, then `GET /v1/evaluations/{id}?wait=S` (a long-poll, answered at each change, as
  `gatekeeper evaluate --wait` reads it) until the decision is there. The gate checks the file (every id
  once, labels, probabilities) and runs all five modes on its 18,000 rows: golden floors and comparisons
  with paired-bootstrap CIs, critical-class recall, ECE, latency; 51 slices of the holdout with BH-FDR;
  adversarial; replay; correlation.
- MLflow (benchmarks/mlflow_peer.py, in its own venv var/bench-mlflow that this script creates on first
  run: MLflow stays out of the project's dependencies): read both prediction files, `mlflow.evaluate` each
  on the golden rows as a static dataset, logged to a local SQLite tracking store, then
  `mlflow.validate_evaluation_results` with not-worse thresholds and the macro-F1 floor. A warm process:
  its imports are not timed.

The two alternate, `--runs` times each (after one untimed warm-up each); the script prints both medians
with their spread, the ratio against the target, and where Gatekeeper's time went (the worker's timings).

    python benchmarks/vs_mlflow.py [--runs 7] [--engine postgres|sqlite] [--gatekeeper-only]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
import psycopg
from api import SERVER, TAGS, TARGET, free_port

from gatekeeper.config import PROJECT_ROOT
from gatekeeper.db import Database
from gatekeeper.migrate import upgrade
from gatekeeper.registry.artifacts import artifact_sha256, file_sha256
from gatekeeper.registry.auth import create_token

EVALSET = PROJECT_ROOT / "evalsets" / TARGET
POLICY = PROJECT_ROOT / "policies" / f"{TARGET}.yaml"
ROLES = ("golden", "holdout", "adversarial", "replay")
MLFLOW_VERSION = "3.17.2"
MLFLOW_VENV = PROJECT_ROOT / "var" / "bench-mlflow"
PEER = Path(__file__).with_name("mlflow_peer.py")
TARGET_RATIO = 3.0
ACCURACY = {"champion": 0.86, "candidate": 0.88}


# --- the predictions both sides score --------------------------------------------------------------


def evalset_rows() -> tuple[list[dict], list[str]]:
    import yaml

    manifest = yaml.safe_load((EVALSET / "manifest.yaml").read_text(encoding="utf-8"))
    rows = []
    for name, entry in sorted(manifest["files"].items()):
        if entry["role"] in ROLES:
            with (EVALSET / name).open(encoding="utf-8") as fh:
                rows += [json.loads(line) for line in fh if line.strip()]
    return rows, list(manifest["labels"])


def predictions(rows: list[dict], labels: list[str], *, seed: int, accuracy: float) -> list[dict]:
    """A noisy copy of the labels: right with probability ``accuracy``, else a random other label; the
    probabilities a softmax over random logits with the predicted label's raised."""
    rng = np.random.default_rng(seed)
    k, n = len(labels), len(rows)
    index = {label: i for i, label in enumerate(labels)}
    truth = np.array([index[r.get("label") or r.get("served_label") or labels[0]] for r in rows])
    wrong = (truth + rng.integers(1, k, n)) % k
    predicted = np.where(rng.random(n) < accuracy, truth, wrong)
    logits = rng.normal(0.0, 1.0, (n, k))
    logits[np.arange(n), predicted] += 2.0 + rng.exponential(1.5, n)
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    latency = rng.gamma(4.0, 1.6, n)
    return [
        {
            "id": row["id"],
            "prediction": labels[predicted[i]],
            "probabilities": {labels[j]: round(float(proba[i, j]), 6) for j in range(k)},
            "latency_ms": round(float(latency[i]), 3),
        }
        for i, row in enumerate(rows)
    ]


def write_jsonl(path: Path, lines: list[dict]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line, separators=(",", ":")) + "\n")
    return path


# --- MLflow, in its own venv ---------------------------------------------------------------------


def mlflow_python(venv: Path) -> Path:
    """The venv's interpreter, creating the venv and installing MLflow on first use."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", f"import mlflow, sys; sys.exit(mlflow.__version__ != '{MLFLOW_VERSION}')"]
    if python.is_file() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"creating {venv} with mlflow=={MLFLOW_VERSION} (first run only; a few minutes)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, f"mlflow=={MLFLOW_VERSION}"], check=True)
    print(f"installed mlflow {MLFLOW_VERSION} in {venv}", flush=True)
    return python


class MLflowSide:
    """The warm MLflow process (benchmarks/mlflow_peer.py): one JSON line per run."""

    def __init__(self, python: Path, work: Path, warm: dict) -> None:
        self.proc = subprocess.Popen(
            [str(python), str(PEER), str(work / "mlruns"), json.dumps(warm)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=work,
        )
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline().strip()
        if ready != "ready":
            raise SystemExit(f"the MLflow side did not start (said {ready!r})")

    def run(self, request: dict) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


# --- Gatekeeper: a real serve and worker ---------------------------------------------------------


@contextmanager
def database(engine: str, work: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite:///{work / 'gatekeeper.db'}"
        return
    name = f"gk_vs_mlflow_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def tokens(url: str) -> dict[str, str]:
    upgrade(url)
    db = Database.from_url(url)
    with db.transaction() as session:
        secrets = {
            role: create_token(session, name=role, role=role, actor="bench")[1] for role in ("admin", "ci")
        }
    db.dispose()
    return secrets


class GatekeeperSide:
    """`gatekeeper serve` and `gatekeeper worker` on ``url``; a champion gated and promoted first."""

    def __init__(self, url: str, work: Path, wait: float) -> None:
        self.work, self.wait, self.root = work, wait, work / "artifacts"
        self.root.mkdir()
        secrets = tokens(url)
        env = dict(
            os.environ,
            GATEKEEPER_DATABASE_URL=url,
            GATEKEEPER_ARTIFACT_ROOT=str(self.root),
            GATEKEEPER_REPORT_DIR=str(work / "reports"),
            GATEKEEPER_LOG_DIR=str(work / "logs"),
        )
        port = free_port()
        self.logs = (work / "serve.log").open("w"), (work / "worker.log").open("w")
        gk = [sys.executable, "-m", "gatekeeper"]
        self.procs = [
            subprocess.Popen(
                [*gk, "serve", "--port", str(port)], env=env, stdout=self.logs[0], stderr=subprocess.STDOUT
            ),
            subprocess.Popen([*gk, "worker"], env=env, stdout=self.logs[1], stderr=subprocess.STDOUT),
        ]
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
        self.ci = {"Authorization": f"Bearer {secrets['ci']}"}
        self.admin = {"Authorization": f"Bearer {secrets['admin']}"}
        self._wait_healthy()
        body = {"name": TARGET, "task": "classification", "policy": POLICY.read_text(encoding="utf-8")}
        self._ok(self.http.post("/v1/targets", json=body, headers=self.admin))

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if self.http.get("/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"gatekeeper serve did not come up (see {self.work / 'serve.log'})")

    @staticmethod
    def _ok(reply: httpx.Response) -> dict:
        if reply.status_code >= 300:
            raise SystemExit(
                f"{reply.request.method} {reply.request.url.path}: {reply.status_code} {reply.text}"
            )
        return reply.json()

    def register(self) -> str:
        folder = self.root / f"model-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(os.urandom(64))
        body = {
            "target": TARGET,
            "artifact_uri": folder.name,
            "artifact_sha256": artifact_sha256(folder),
            "tags": TAGS,
        }
        return self._ok(self.http.post("/v1/candidates", json=body, headers=self.ci))["id"]

    def gate(self, candidate_id: str, predictions_file: Path) -> dict:
        """The timed part: what `gatekeeper evaluate --predictions FILE --wait` does."""
        started = time.perf_counter()
        body = {"predictions_uri": predictions_file.name, "predictions_sha256": file_sha256(predictions_file)}
        queued = self._ok(
            self.http.post(f"/v1/candidates/{candidate_id}/evaluations", json=body, headers=self.ci)
        )
        posted, posted_at = time.perf_counter(), time.time()
        read = {"results": "false", "wait": self.wait}  # a long-poll, as `gatekeeper evaluate --wait`
        while True:
            state = self._ok(self.http.get(f"/v1/evaluations/{queued['id']}", params=read, headers=self.ci))
            if state["status"] in ("done", "error"):
                break
        done = time.perf_counter()
        if state["status"] != "done":
            raise SystemExit(f"the evaluation errored: {state['error']}")
        return {
            "seconds": done - started,
            "post_s": posted - started,
            "verdict": state["verdict"],
            "failed_checks": [f"{r['check']} {r['metric']}" for r in state["decision"]["hard_failures"]],
            **phases(state, posted_at),
        }

    def champion(self, predictions_file: Path) -> None:
        candidate_id = self.register()
        result = self.gate(candidate_id, predictions_file)
        if result["verdict"] != "pass":
            raise SystemExit(f"the champion did not pass its gate ({result['verdict']})")
        reply = self.http.post(
            f"/v1/candidates/{candidate_id}/promote", json={"reason": "bench"}, headers=self.admin
        )
        self._ok(reply)

    def close(self) -> None:
        self.http.close()
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=30)
        for log in self.logs:
            log.close()


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def phases(state: dict, posted_at: float) -> dict[str, float]:
    """Where the time went: the queue (POST answered -> worker started), the worker's own timings."""
    timings = state.get("timings") or {}
    out = {k: float(v) for k, v in timings.items() if isinstance(v, int | float)}
    out["queue_s"] = _epoch(state["started_at"]) - posted_at
    out["worker_s"] = _epoch(state["finished_at"]) - _epoch(state["started_at"])
    return out


# --- the comparison --------------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})"


def medians(runs: list[dict], keys: list[str]) -> str:
    return ", ".join(f"{k} {statistics.median(r.get(k, 0.0) for r in runs):.3f}" for k in keys)


GK_PHASES = ["post_s", "queue_s", "evalset_s", "candidate_predictions_s", "champion_predictions_s"]
GK_PHASES += ["statistics_s", "worker_s"]


def report(gk: list[dict], ml: list[dict], engine: str) -> None:
    gk_s, ml_s = [r["seconds"] for r in gk], [r["seconds"] for r in ml]
    ratio = statistics.median(ml_s) / statistics.median(gk_s)
    per_run = [m / g for m, g in zip(ml_s, gk_s, strict=True)]
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\nGatekeeper ({engine}) vs MLflow {MLFLOW_VERSION}, {len(gk)} alternating runs each (load {load}):"
    )
    print(f"  Gatekeeper, POST predictions -> decision: {spread(gk_s)}")
    print(f"  MLflow, evaluate x2 + validate:           {spread(ml_s)}")
    print(
        f"  ratio MLflow / Gatekeeper: {ratio:.2f}x (per run {min(per_run):.2f}-{max(per_run):.2f}); ", end=""
    )
    print(f"target >= {TARGET_RATIO:.0f}x: {verdict}")
    print(f"  Gatekeeper phases (median s): {medians(gk, GK_PHASES)}")
    print(f"  MLflow phases (median s): {medians(ml, ['read_s', 'candidate_s', 'champion_s', 'validate_s'])}")
    fails = sorted({c for r in gk for c in r["failed_checks"]})
    print(
        f"  verdicts: Gatekeeper {sorted({r['verdict'] for r in gk})} (hard failures: {fails or 'none'}), ",
        end="",
    )
    print(f"MLflow not-worse {sorted({r['passed'] for r in ml})}")


def prepared(root: Path, runs: int) -> tuple[Path, list[Path]]:
    """The champion's file and one candidate file per run plus one for the warm-up, under ``root``."""
    rows, labels = evalset_rows()
    champion = write_jsonl(
        root / "champion.jsonl", predictions(rows, labels, seed=1, accuracy=ACCURACY["champion"])
    )
    candidates = [
        write_jsonl(
            root / f"candidate-{run}.jsonl",
            predictions(rows, labels, seed=100 + run, accuracy=ACCURACY["candidate"]),
        )
        for run in range(runs + 1)
    ]
    return champion, candidates


def alternate(
    gk: GatekeeperSide, ml: MLflowSide | None, champion: Path, files: list[Path]
) -> tuple[list, list]:
    """Both sides on each candidate file, in turns (who goes first alternates too)."""
    gk_runs: list[dict] = []
    ml_runs: list[dict] = []
    for run, f in enumerate(files, 1):
        candidate = gk.register()
        for side in ("gk", "ml") if run % 2 else ("ml", "gk"):
            if side == "gk":
                gk_runs.append(gk.gate(candidate, f))
                print(
                    f"run {run}: Gatekeeper {gk_runs[-1]['seconds']:.3f} s ({gk_runs[-1]['verdict']})",
                    flush=True,
                )
            elif ml is not None:
                ml_runs.append(ml.run(peer_request(f, champion)))
                print(f"run {run}: MLflow     {ml_runs[-1]['seconds']:.3f} s", flush=True)
    return gk_runs, ml_runs


def peer_request(candidate: Path, champion: Path) -> dict:
    return {"candidate": str(candidate), "champion": str(champion), "golden": str(EVALSET / "golden.jsonl")}


def compare(args: argparse.Namespace, python: Path | None, work: Path, url: str) -> None:
    gk = GatekeeperSide(url, work, args.wait)
    ml = None
    try:
        champion, candidates = prepared(gk.root, args.runs)
        gk.champion(champion)
        ml = MLflowSide(python, work, peer_request(candidates[0], champion)) if python else None
        gk.gate(gk.register(), candidates[0])  # warm-up, untimed
        gk_runs, ml_runs = alternate(gk, ml, champion, candidates[1:])
        if ml_runs:
            report(gk_runs, ml_runs, args.engine)
        else:
            print(f"\nGatekeeper ({args.engine}): {spread([r['seconds'] for r in gk_runs])}")
            print(f"  phases (median s): {medians(gk_runs, GK_PHASES)}")
    finally:
        if ml is not None:
            ml.close()
        gk.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per side (at least 5)")
    parser.add_argument("--engine", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument(
        "--wait", type=float, default=10.0, help="seconds each status read may wait for a change"
    )
    parser.add_argument(
        "--venv", type=Path, default=MLFLOW_VENV, help="MLflow's own venv (created if missing)"
    )
    parser.add_argument("--gatekeeper-only", action="store_true", help="skip MLflow (profiling)")
    args = parser.parse_args()
    if args.runs < 5:
        parser.error("--runs must be at least 5")
    python = None if args.gatekeeper_only else mlflow_python(args.venv)
    work = Path(tempfile.mkdtemp(prefix="gk-vs-mlflow-"))
    try:
        with database(args.engine, work) as url:
            compare(args, python, work, url)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
