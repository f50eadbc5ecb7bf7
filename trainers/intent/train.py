"""Fine-tune a Hugging Face encoder as the MangaAssist intent router (seed 003 recipe).

Label QA runs first and can refuse the batch before any model is loaded. The run touches neither
the database nor the registry: the caller records the TrainingRun from the returned TrainResult.
"""

from __future__ import annotations

import inspect
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    set_seed,
)

from evalsets.manifest import read_jsonl
from trainers.common.label_qa import LabelQAResult, check_label_quality, require_label_quality
from trainers.common.output import ensure_empty_output, render_model_card, write_model_folder
from trainers.common.pooler import has_square_pooler, reset_pooler
from trainers.intent.config import IntentTrainConfig
from trainers.intent.data import Examples, audit_line, load_examples, stratified_split, stratified_subset
from trainers.intent.losses import focal_loss, inverse_frequency_weights
from trainers.intent.metrics import classification_metrics, rarest_classes
from trainers.intent.optim import encoder_depth, layer_of, param_groups, warmup_linear_schedule

Log = Callable[[str], None]
EPOCH_COLUMNS = (
    "epoch",
    "train_loss",
    "val_loss",
    "accuracy",
    "macro_f1",
    "rare_recall",
    "ece",
    "lr_head",
    "lr_bottom",
    "ex_per_sec",
)


@dataclass
class TrainResult:
    run_id: str
    output_dir: Path
    best_epoch: int
    epochs: list[dict[str, Any]]
    final_metrics: dict[str, Any]
    label_qa: LabelQAResult | None
    flagged: bool
    artifact_sha256: str
    wall_seconds: float
    labels: list[str]
    rare_classes: list[str]
    stopped_early: bool
    train_examples: int
    val_examples: int
    train_ex_per_sec: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Data:
    train: Examples
    val: Examples
    labels: list[str]
    y_train: torch.Tensor
    y_val: np.ndarray


def run_label_qa(config: IntentTrainConfig, log: Log) -> LabelQAResult | None:
    """Judge the double-labelled sample; raise LabelQARejected on a rejected batch."""
    if config.label_qa_path is None:
        log("[LABEL_QA] skipped: no label_qa file configured")
        return None
    result = check_label_quality(
        read_jsonl(config.label_qa_path),
        reject_below=config.kappa_reject_below,
        flag_below=config.kappa_flag_below,
    )
    log(result.log_line())
    return require_label_quality(result)


def prepare_data(config: IntentTrainConfig, run_id: str, log: Log) -> _Data:
    """Load, split or subset deterministically, fix the class order, and log the data audit."""
    train = load_examples(config.train_path)
    if config.val_path is not None:
        val = load_examples(config.val_path)
    else:
        train_idx, val_idx = stratified_split(train.labels, config.val_fraction, config.seed)
        train, val = train.take(train_idx), train.take(val_idx)
    if config.max_train_examples is not None:
        train = train.take(stratified_subset(train.labels, config.max_train_examples, config.seed))
    if config.max_val_examples is not None:
        val = val.take(stratified_subset(val.labels, config.max_val_examples, config.seed))
    labels = list(config.labels) if config.labels is not None else sorted(set(train.labels))
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted((set(train.labels) | set(val.labels)) - set(index))
    if unknown:
        raise ValueError(f"labels not in the label set {labels}: {unknown}")
    log(audit_line(run_id, train, val))
    return _Data(
        train,
        val,
        labels,
        torch.tensor([index[y] for y in train.labels], dtype=torch.long),
        np.array([index[y] for y in val.labels], dtype=int),
    )


def load_base(config: IntentTrainConfig, labels: list[str]) -> tuple[PreTrainedModel, Any]:
    """Load the encoder with a fresh K-way head (safetensors only) and its tokenizer."""
    tokenizer = AutoTokenizer.from_pretrained(config.tokenizer or config.base_model)
    model = AutoModelForSequenceClassification.from_pretrained(
        config.base_model,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        problem_type="single_label_classification",
        ignore_mismatched_sizes=True,
        use_safetensors=True,
    )
    if config.encoder_blocks is not None:
        keep_blocks(model, config.encoder_blocks)
    if config.pooler_init == "identity" or (config.pooler_init == "auto" and has_square_pooler(model)):
        reset_pooler(model)
    if config.frozen_blocks is not None:
        depth = encoder_depth(model)
        for name, param in model.named_parameters():
            param.requires_grad_(layer_of(name, depth) > config.frozen_blocks)
    return model, tokenizer


def keep_blocks(model: PreTrainedModel, blocks: list[int]) -> None:
    """Drop every encoder block but ``blocks`` (layer dropping). Keeping the last block matters for a
    sentence encoder such as all-MiniLM-L6-v2: its CLS state only varies between inputs after it, and
    the classification head reads the CLS state."""
    base = getattr(model, model.base_model_prefix)
    encoder = getattr(base, "encoder", None) or getattr(base, "transformer", None)
    layers = getattr(encoder, "layer", None)
    if not isinstance(layers, torch.nn.ModuleList):
        raise ValueError("encoder_blocks needs a BERT- or DistilBERT-style encoder (encoder.layer)")
    if max(blocks) >= len(layers):
        raise ValueError(f"encoder_blocks {blocks} but the base model has {len(layers)} blocks")
    encoder.layer = torch.nn.ModuleList(layers[i] for i in blocks)
    model.config.num_hidden_layers = len(blocks)


def batches_of(
    order: Sequence[int], lengths: Sequence[int], batch_size: int, buckets: int | None, seed: int
) -> list[list[int]]:
    """Cut a shuffled order into batches; with ``buckets``, each run of that many batches is sorted by
    length first and the batches are shuffled again, so a batch pads to similar lengths."""
    if not buckets:
        return [list(order[s : s + batch_size]) for s in range(0, len(order), batch_size)]
    span, out = batch_size * buckets, []
    for begin in range(0, len(order), span):
        run = sorted(order[begin : begin + span], key=lambda i: lengths[i])
        out.extend(run[s : s + batch_size] for s in range(0, len(run), batch_size))
    shuffled = np.random.default_rng(seed).permutation(len(out))
    return [out[i] for i in shuffled]


def _encoder(
    model: PreTrainedModel, tokenizer: Any, max_length: int
) -> Callable[[list[str]], dict[str, Any]]:
    # A BERT tokenizer emits token_type_ids that DistilBERT's forward() does not accept.
    accepted = set(inspect.signature(model.forward).parameters)

    def encode(texts: list[str]) -> dict[str, Any]:
        batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        return {k: v for k, v in batch.items() if k in accepted}

    return encode


def predict_logits(
    model: PreTrainedModel, encode: Callable[[list[str]], dict[str, Any]], texts: list[str], batch_size: int
) -> torch.Tensor:
    model.eval()
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            chunks.append(model(**encode(texts[start : start + batch_size])).logits.float())
    return torch.cat(chunks) if chunks else torch.empty(0, int(model.config.num_labels or 0))


def _lr_of(optimizer: torch.optim.Optimizer, which: str) -> float:
    groups = optimizer.param_groups
    return float((max if which == "head" else min)(groups, key=lambda g: g["layer"])["lr"])


@dataclass
class _Window:
    """Running figures between two [TRAIN] log lines."""

    loss: float = 0.0
    grad_norm: float = 0.0
    steps: int = 0
    examples: int = 0
    started: float = field(default_factory=time.perf_counter)

    def line(self, run_id: str, epoch: int, step: int, total: int, optimizer: torch.optim.Optimizer) -> str:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        return (
            f"[TRAIN] run_id={run_id} epoch={epoch} step={step}/{total} "
            f"lr_head={_lr_of(optimizer, 'head'):.2e} lr_bottom={_lr_of(optimizer, 'bottom'):.2e} "
            f"loss={self.loss / self.steps:.3f} grad_norm={self.grad_norm / self.steps:.2f} "
            f"ex_per_sec={self.examples / elapsed:.0f}"
        )


@dataclass
class _Loop:
    config: IntentTrainConfig
    run_id: str
    model: PreTrainedModel
    encode: Callable[[list[str]], dict[str, Any]]
    data: _Data
    alpha: torch.Tensor | None
    rare: list[int]
    log: Log
    optimizer: torch.optim.Optimizer = field(init=False)
    scheduler: torch.optim.lr_scheduler.LambdaLR = field(init=False)
    steps_per_epoch: int = field(init=False)
    generator: torch.Generator = field(init=False)
    lengths: list[int] = field(default_factory=list)  # training texts' token counts, for length buckets
    step: int = 0
    train_seconds: float = 0.0
    train_seen: int = 0

    def __post_init__(self) -> None:
        cfg = self.config
        self.steps_per_epoch = math.ceil(len(self.data.train) / cfg.batch_size)
        total = self.steps_per_epoch * cfg.epochs
        groups = param_groups(self.model, cfg.base_lr, cfg.layer_decay, weight_decay=cfg.weight_decay)
        # fused: one pass over each tensor (5x faster on CPU for the 30K x 384 word embeddings), same update
        self.optimizer = torch.optim.AdamW(groups, lr=cfg.base_lr, fused=True)
        self.scheduler = warmup_linear_schedule(self.optimizer, math.ceil(cfg.warmup_ratio * total), total)
        self.generator = torch.Generator().manual_seed(cfg.seed)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        cfg, texts = self.config, self.data.train.texts
        order = torch.randperm(len(texts), generator=self.generator).tolist()
        total = self.steps_per_epoch * cfg.epochs
        window, loss_sum, started = _Window(), 0.0, time.perf_counter()
        bar = tqdm(
            total=self.steps_per_epoch,
            desc=f"epoch {epoch}/{cfg.epochs}",
            file=sys.stderr,
            disable=not cfg.progress,
            leave=False,
            dynamic_ncols=True,
        )
        self.model.train()
        batches = batches_of(order, self.lengths, cfg.batch_size, cfg.length_buckets, cfg.seed + epoch)
        for number, idx in enumerate(batches, 1):
            logits = self.model(**self.encode([texts[i] for i in idx])).logits
            loss = focal_loss(logits, self.data.y_train[idx], gamma=cfg.focal_gamma, alpha=self.alpha)
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm))
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            loss_value = loss.detach().item()
            loss_sum += loss_value
            window.loss, window.grad_norm = window.loss + loss_value, window.grad_norm + grad_norm
            window.steps, window.examples = window.steps + 1, window.examples + len(idx)
            bar.update(1)
            if self.step % cfg.log_every == 0 or number == len(batches):
                self.log(window.line(self.run_id, epoch, self.step, total, self.optimizer))
                bar.set_postfix(loss=f"{window.loss / window.steps:.3f}")
                window = _Window()
            self.scheduler.step()  # after logging, so the line shows the lr this step used
        bar.close()
        seconds = time.perf_counter() - started
        self.train_seconds += seconds
        self.train_seen += len(order)
        return {
            "train_loss": loss_sum / self.steps_per_epoch,
            "ex_per_sec": len(order) / max(seconds, 1e-9),
            "lr_head": _lr_of(self.optimizer, "head"),
            "lr_bottom": _lr_of(self.optimizer, "bottom"),
        }

    def validate(self) -> dict[str, Any]:
        cfg = self.config
        logits = predict_logits(self.model, self.encode, self.data.val.texts, cfg.eval_batch_size)
        y = torch.as_tensor(self.data.y_val, dtype=torch.long)
        probs = torch.softmax(logits, dim=-1).numpy()
        metrics = classification_metrics(self.data.y_val, probs, labels=self.data.labels, rare=self.rare)
        metrics["val_loss"] = float(focal_loss(logits, y, gamma=cfg.focal_gamma, alpha=self.alpha))
        metrics["val_nll"] = float(torch.nn.functional.cross_entropy(logits, y))
        return metrics


def _val_line(run_id: str, epoch: int, m: dict[str, Any]) -> str:
    rare = "nan" if math.isnan(m["rare_recall"]) else f"{100 * m['rare_recall']:.1f}"
    return (
        f"[VAL] run_id={run_id} epoch={epoch} loss={m['val_loss']:.3f} acc={100 * m['accuracy']:.1f} "
        f"macro_f1={100 * m['macro_f1']:.1f} rare_recall={rare} ece={m['ece']:.3f}"
    )


def fit(loop: _Loop) -> tuple[int, list[dict[str, Any]], dict[str, Any], bool]:
    """Train epoch by epoch, keep the weights of the best validation macro-F1, stop on patience."""
    cfg = loop.config
    best_epoch, best_f1, best_state, best_metrics, stale = 0, -math.inf, None, {}, 0
    history: list[dict[str, Any]] = []
    for epoch in range(1, cfg.epochs + 1):
        row: dict[str, Any] = {"epoch": epoch, **loop.train_epoch(epoch)}
        metrics = loop.validate()
        row.update({k: v for k, v in metrics.items() if k != "per_class_recall"})
        history.append(row)
        loop.log(_val_line(loop.run_id, epoch, metrics))
        if metrics["macro_f1"] > best_f1:
            best_epoch, best_f1, best_metrics, stale = epoch, metrics["macro_f1"], metrics, 0
            best_state = {k: v.detach().clone() for k, v in loop.model.state_dict().items()}
        else:
            stale += 1
        if (
            cfg.early_stopping_patience is not None
            and stale > cfg.early_stopping_patience
            and epoch < cfg.epochs
        ):
            loop.log(f"[EARLY_STOP] run_id={loop.run_id} epoch={epoch} no macro_f1 gain for {stale} epoch(s)")
            break
    assert best_state is not None
    loop.model.load_state_dict(best_state)
    stopped_early = len(history) < cfg.epochs
    loop.log(
        f"[CHECKPOINT] run_id={loop.run_id} best_epoch={best_epoch} macro_f1={100 * best_f1:.1f} "
        f'criterion="max val macro_f1"'
    )
    return best_epoch, history, best_metrics, stopped_early


def _card(config: IntentTrainConfig, result: TrainResult) -> str:
    summary = {
        "run_id": result.run_id,
        "base_model": config.base_model,
        "labels": ", ".join(result.labels),
        "rare classes (rare_recall)": ", ".join(result.rare_classes),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "train_examples": result.train_examples,
        "val_examples": result.val_examples,
        "val_accuracy": result.final_metrics["accuracy"],
        "val_macro_f1": result.final_metrics["macro_f1"],
        "val_rare_recall": result.final_metrics["rare_recall"],
        "val_ece": result.final_metrics["ece"],
        "train_ex_per_sec": result.train_ex_per_sec,
    }
    return render_model_card(
        title=f"Intent classifier {result.run_id}",
        tags=config.tags,
        recipe=config.recipe(),
        epochs=result.epochs,
        epoch_columns=EPOCH_COLUMNS,
        label_qa=result.label_qa.to_dict() if result.label_qa else None,
        flagged=result.flagged,
        summary=summary,
    )


def _metrics_payload(config: IntentTrainConfig, result: TrainResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "tags": dict(config.tags),
        "config": config.model_dump(mode="json"),
        "labels": result.labels,
        "rare_classes": result.rare_classes,
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "final": result.final_metrics,
        "label_qa": result.label_qa.to_dict() if result.label_qa else None,
        "flagged": result.flagged,
        "train_examples": result.train_examples,
        "val_examples": result.val_examples,
        "train_ex_per_sec": result.train_ex_per_sec,
    }


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Use n intra-op threads for the run only (torch's setting is process-wide); None keeps the default."""
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def build_loop(config: IntentTrainConfig, run_id: str, data: _Data, log: Log) -> tuple[_Loop, Any]:
    """Seed everything, load the base model, and wire loss weights, rare classes and the optimiser."""
    set_seed(config.seed)
    model, tokenizer = load_base(config, data.labels)
    tokenizer.model_max_length = config.max_length  # the predictor truncates exactly as training did
    index = {label: i for i, label in enumerate(data.labels)}
    rare = (
        [index[c] for c in config.rare_classes]
        if config.rare_classes
        else rarest_classes(data.y_train.tolist(), len(data.labels), config.rare_k)
    )
    alpha = inverse_frequency_weights(data.y_train, len(data.labels)) if config.class_weights else None
    encode = _encoder(model, tokenizer, config.max_length)
    lengths = _token_counts(tokenizer, data.train.texts, config) if config.length_buckets else []
    return _Loop(config, run_id, model, encode, data, alpha, rare, log, lengths), tokenizer


def _token_counts(tokenizer: Any, texts: list[str], config: IntentTrainConfig) -> list[int]:
    encoded = tokenizer(texts, truncation=True, max_length=config.max_length)["input_ids"]
    return [len(ids) for ids in encoded]


def train_intent(config: IntentTrainConfig, *, log: Log = print) -> TrainResult:
    """Run label QA, fine-tune, keep the best epoch and write a safetensors-only output folder."""
    started = time.perf_counter()
    run_id = config.run_id or time.strftime("intent_%Y%m%d_%H%M%S", time.gmtime())
    label_qa = run_label_qa(config, log)
    ensure_empty_output(Path(config.output_dir))
    data = prepare_data(config, run_id, log)
    with _torch_threads(config.num_threads):
        loop, tokenizer = build_loop(config, run_id, data, log)
        best_epoch, history, best_metrics, stopped_early = fit(loop)
    result = TrainResult(
        run_id=run_id,
        output_dir=Path(config.output_dir),
        best_epoch=best_epoch,
        epochs=history,
        final_metrics=best_metrics,
        label_qa=label_qa,
        flagged=bool(label_qa and label_qa.flagged),
        artifact_sha256="",
        wall_seconds=0.0,
        labels=data.labels,
        rare_classes=[data.labels[c] for c in loop.rare],
        stopped_early=stopped_early,
        train_examples=len(data.train),
        val_examples=len(data.val),
        train_ex_per_sec=loop.train_seen / max(loop.train_seconds, 1e-9),
    )
    result.artifact_sha256 = write_model_folder(
        result.output_dir,
        model=loop.model,
        tokenizer=tokenizer,
        labels=data.labels,
        metrics=_metrics_payload(config, result),
        model_card=_card(config, result),
    )
    result.wall_seconds = time.perf_counter() - started
    log(
        f"[OUTPUT] run_id={run_id} dir={result.output_dir} sha256={result.artifact_sha256} "
        f"flagged={str(result.flagged).lower()} wall_s={result.wall_seconds:.1f}"
    )
    return result
