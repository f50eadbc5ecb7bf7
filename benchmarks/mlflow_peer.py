"""MLflow's side of benchmarks/vs_mlflow.py. Runs inside the benchmark's own venv (var/bench-mlflow, where
MLflow is installed), never in the project's: it imports nothing from Gatekeeper.

One warm process: it imports MLflow, points it at a local SQLite tracking store, does one untimed warm-up
run, prints ``ready``, then answers one JSON line per request on stdin:

    {"candidate": "<predictions.jsonl>", "champion": "<predictions.jsonl>", "golden": "<golden.jsonl>"}

with ``{"seconds", "read_s", "candidate_s", "champion_s", "validate_s", "passed", "metrics"}``. What is
timed is what a CI job does with MLflow for the same gate: read both models' submitted predictions,
``mlflow.evaluate`` each on the golden rows as a static dataset (``predictions=``), logged as a run to the
tracking store, then ``mlflow.validate_evaluation_results`` with not-worse ``MetricThreshold``s and the
macro-F1 floor of the shipped policy.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.models import MetricThreshold  # noqa: E402

FLOOR_MACRO_F1 = 0.80  # policies/intent_classifier.yaml golden.floors.macro_f1
# MLflow takes only a positive min_absolute_change (candidate >= champion + change): the smallest one
# stands for the policy's tolerance of 0.0, "not worse than the champion".
NOT_WORSE = 1e-12


def golden_frame(golden: Path) -> pd.DataFrame:
    rows = [json.loads(line) for line in golden.read_text(encoding="utf-8").splitlines() if line.strip()]
    return pd.DataFrame({"id": [r["id"] for r in rows], "label": [r["label"] for r in rows]})


def predictions_on(path: Path, golden: pd.DataFrame) -> pd.DataFrame:
    """The golden rows with the model's submitted prediction (the file covers every evalset example)."""
    submitted = pd.read_json(path, lines=True, dtype=False)[["id", "prediction"]]
    return golden.merge(submitted, on="id", how="left", validate="one_to_one")


def evaluate(frame: pd.DataFrame, run_name: str):  # noqa: ANN201 - mlflow's EvaluationResult
    with mlflow.start_run(run_name=run_name):
        return mlflow.evaluate(
            data=frame,
            predictions="prediction",
            targets="label",
            model_type="classifier",
            evaluator_config={"log_model_explainability": False, "average": "macro"},
        )


def thresholds() -> dict[str, MetricThreshold]:
    """Not worse than the champion on accuracy and macro-F1; macro-F1 above the policy's floor."""
    return {
        "accuracy_score": MetricThreshold(min_absolute_change=NOT_WORSE, greater_is_better=True),
        "f1_score": MetricThreshold(
            threshold=FLOOR_MACRO_F1, min_absolute_change=NOT_WORSE, greater_is_better=True
        ),
    }


def not_worse(candidate, champion) -> bool:  # noqa: ANN001
    try:
        mlflow.validate_evaluation_results(
            validation_thresholds=thresholds(), candidate_result=candidate, baseline_result=champion
        )
    except mlflow.models.evaluation.validation.ModelValidationFailedException:
        return False
    return True


def run_once(request: dict) -> dict:
    started = time.perf_counter()
    golden = golden_frame(Path(request["golden"]))
    candidate = predictions_on(Path(request["candidate"]), golden)
    champion = predictions_on(Path(request["champion"]), golden)
    read = time.perf_counter()
    candidate_result = evaluate(candidate, "candidate")
    evaluated = time.perf_counter()
    champion_result = evaluate(champion, "champion")
    both = time.perf_counter()
    passed = not_worse(candidate_result, champion_result)
    done = time.perf_counter()
    return {
        "seconds": done - started,
        "read_s": read - started,
        "candidate_s": evaluated - read,
        "champion_s": both - evaluated,
        "validate_s": done - both,
        "passed": passed,
        "metrics": {k: candidate_result.metrics[k] for k in ("accuracy_score", "f1_score")},
    }


def main() -> None:
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # its INFO lines would interleave with ours
    store = Path(sys.argv[1])
    store.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    mlflow.set_experiment("gatekeeper-vs-mlflow")
    warm = json.loads(sys.argv[2])
    run_once(warm)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(run_once(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
