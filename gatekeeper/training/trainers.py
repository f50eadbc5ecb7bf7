"""The trainers Gatekeeper runs: how each one's config is completed from an evalset folder and how its
result is summarised. Trainer code itself lives in ``trainers/``; imports are lazy (torch is heavy)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from evalsets.manifest import load_manifest
from gatekeeper.errors import ValidationFailed


def _role_file(folder: Path, role: str) -> Path | None:
    files = load_manifest(folder)["files"]
    return next((folder / name for name, entry in files.items() if entry["role"] == role), None)


def _intent_data(folder: Path) -> dict[str, Any]:
    fields = {
        "train_path": _role_file(folder, "train"),
        "val_path": _role_file(folder, "validation"),
        "label_qa_path": _role_file(folder, "label_qa"),
    }
    return {k: v for k, v in fields.items() if v is not None}


def _reranker_data(folder: Path) -> dict[str, Any]:
    return {"data_dir": folder}


def _qlora_data(folder: Path) -> dict[str, Any]:
    train = _role_file(folder, "train")
    return {"train_file": train} if train else {}


@dataclass(frozen=True)
class TrainerSpec:
    name: str
    target: str
    config_path: str
    train_path: str
    data_from_evalset: Callable[[Path], dict[str, Any]]

    def config_class(self) -> Any:
        module, _, attr = self.config_path.rpartition(".")
        return getattr(import_module(module), attr)

    def train_function(self) -> Callable[..., Any]:
        module, _, attr = self.train_path.rpartition(".")
        return getattr(import_module(module), attr)


TRAINERS: dict[str, TrainerSpec] = {
    spec.name: spec
    for spec in (
        TrainerSpec(
            "intent",
            "intent_classifier",
            "trainers.intent.config.IntentTrainConfig",
            "trainers.intent.train.train_intent",
            _intent_data,
        ),
        TrainerSpec(
            "reranker",
            "reranker",
            "trainers.reranker.config.RerankerTrainConfig",
            "trainers.reranker.train.train_reranker",
            _reranker_data,
        ),
        TrainerSpec(
            "qlora",
            "generator",
            "trainers.qlora.config.QLoRATrainConfig",
            "trainers.qlora.train.train_qlora",
            _qlora_data,
        ),
    )
}


def get(name: str) -> TrainerSpec:
    if name not in TRAINERS:
        raise ValidationFailed(f"unknown trainer {name!r}; one of {', '.join(TRAINERS)}", field="trainer")
    return TRAINERS[name]


def summary(result: Any) -> dict[str, Any]:
    """The metrics a training run records, whichever trainer produced the result."""
    for attr in ("final_metrics", "metrics"):
        value = getattr(result, attr, None)
        if isinstance(value, dict):
            break
    else:
        value = {}
    out = {"final": value, "wall_seconds": round(float(getattr(result, "wall_seconds", 0.0)), 2)}
    for attr in (
        "epochs",
        "best_epoch",
        "flagged",
        "train_examples",
        "val_examples",
        "train_ex_per_sec",
        "loss_history",
    ):
        if hasattr(result, attr):
            out[attr] = getattr(result, attr)
    label_qa = getattr(result, "label_qa", None)
    if label_qa is not None and hasattr(label_qa, "to_dict"):
        out["label_qa"] = label_qa.to_dict()
    return out
