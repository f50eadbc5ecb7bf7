"""Load a trained intent folder (safetensors only) and score texts; what the evaluation runner calls."""

from __future__ import annotations

import inspect
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

from gatekeeper.errors import ValidationFailed
from gatekeeper.registry.artifacts import pickled_files
from trainers.common.output import LABEL_MAP, WEIGHTS


@dataclass
class IntentPredictor:
    model: PreTrainedModel
    tokenizer: Any
    labels: list[str]
    max_length: int
    input_names: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        # A BERT tokenizer emits token_type_ids that DistilBERT's forward() does not accept.
        self.input_names = frozenset(inspect.signature(self.model.forward).parameters)

    @classmethod
    def load(cls, path: str | Path) -> IntentPredictor:
        """Load a trainer output folder; refuse pickles and a label map that disagrees with the head."""
        folder = Path(path)
        if not folder.is_dir():
            raise ValidationFailed(f"intent model folder not found: {folder}", field="artifact_uri")
        if found := pickled_files(folder):
            raise ValidationFailed(f"refusing to load pickle files: {', '.join(found)}", files=found)
        for required in (WEIGHTS, LABEL_MAP):
            if not (folder / required).is_file():
                raise ValidationFailed(f"no {required} in {folder}", field="artifact_uri")
        labels = json.loads((folder / LABEL_MAP).read_text(encoding="utf-8"))["labels"]
        model = AutoModelForSequenceClassification.from_pretrained(folder, use_safetensors=True)
        if model.config.num_labels != len(labels):
            raise ValidationFailed(
                f"{LABEL_MAP} has {len(labels)} labels but the head has {model.config.num_labels}"
            )
        config_labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        if config_labels != labels:
            raise ValidationFailed(
                f"{LABEL_MAP} order {labels} differs from config.json id2label {config_labels}"
            )
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model.eval()
        return cls(
            model=model, tokenizer=tokenizer, labels=list(labels), max_length=int(tokenizer.model_max_length)
        )

    def _inputs(self, texts: list[str]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return {k: v for k, v in batch.items() if k in self.input_names}

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Return an n x K matrix of class probabilities (columns follow ``labels``). The texts are
        tokenized once and batched by token count, so each batch pads to inputs like its own (on the
        mixed-language evalsets that is 2.6x fewer token positions than batching in the order given)."""
        self.model.eval()
        out = np.empty((len(texts), len(self.labels)))
        if not len(texts):
            return out
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        names = [k for k in encoded.keys() if k in self.input_names]
        order = np.argsort([len(ids) for ids in encoded["input_ids"]], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                rows = order[start : start + batch_size]
                batch = self.tokenizer.pad(
                    {k: [encoded[k][i] for i in rows] for k in names}, return_tensors="pt"
                )
                logits = self.model(**batch).logits
                out[rows] = torch.softmax(logits.float(), dim=-1).numpy()
        return out

    def predict(self, texts: list[str], batch_size: int = 64) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts, batch_size).argmax(axis=1)]

    def measure_latency(self, texts: list[str], n: int = 200, warmup: int = 10) -> dict[str, float]:
        """Time n single-example calls (cycling through texts) after a warmup; milliseconds."""
        if not texts:
            raise ValueError("measure_latency needs at least one text")
        for i in range(warmup):
            self.predict_proba([texts[i % len(texts)]])
        timings = np.empty(n)
        for i in range(n):
            started = time.perf_counter()
            self.predict_proba([texts[i % len(texts)]])
            timings[i] = (time.perf_counter() - started) * 1000.0
        return {
            "p50_ms": float(np.percentile(timings, 50)),
            "p95_ms": float(np.percentile(timings, 95)),
            "p99_ms": float(np.percentile(timings, 99)),
            "mean_ms": float(timings.mean()),
            "n": float(n),
        }
