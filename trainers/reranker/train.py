"""Fine-tune a cross-encoder reranker from the packaged MiniLM on graded (query, product) pairs.

The model is ``AutoModelForSequenceClassification(num_labels=1)`` over ``[CLS] query [SEP] product``;
its logit is the relevance score. The recipe, and why:

1. **Identity pooler.** The packaged encoder was trained for mean-pooled sentence embeddings and its
   pretrained pooler output hardly varies between pairs; the pooler is reset to ``tanh(CLS)``.
2. **Linear probe first (LP-FT).** The fresh head is fitted on frozen features of ``probe_queries``
   training queries (full-batch L-BFGS, same loss); this is "epoch 0" and is validated like the
   others. Fine-tuning then starts from a model that already ranks.
3. **Fine-tune** every weight with AdamW, linear warmup and decay, clip 1.0, no dropout and a small
   learning rate (the probed head has large weights, so noise or big steps in the encoder would
   swing the logits). Each epoch draws a fresh group of ``candidates_per_query`` candidates per
   query (one of the best grade among them, see ``data.sample_groups``).

Loss ``listnet`` (default) is a softmax cross-entropy per query group against the distribution of
exponential gains ``2**rel - 1``, which is what NDCG rewards; ``bce`` treats relevance/3 as a soft
label (pointwise). The epoch with the best validation NDCG@10 (epoch 0 included) is written. No
database access: the caller records the TrainingRun from the returned ``TrainResult``.
"""

from __future__ import annotations

import math
import random
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, set_seed
from transformers.optimization import get_linear_schedule_with_warmup

from gatekeeper.evaluation.metrics.ranking import ranking_report
from trainers.common.output import render_model_card, write_model_folder
from trainers.common.pooler import reset_pooler
from trainers.reranker.config import RerankerTrainConfig
from trainers.reranker.data import Query, check_products, load_products, load_queries, sample_groups
from trainers.reranker.predict import pair_batches, resolve_device, score_pairs

Log = Callable[[str], None]
EPOCH_COLUMNS = ("epoch", "train_loss", "ndcg@10", "mrr", "recall@10", "ndcg@1", "ex_per_sec", "seconds")


@dataclass
class TrainResult:
    run_id: str
    output_dir: Path
    best_epoch: int
    epochs: list[dict[str, Any]]
    final_metrics: dict[str, Any]
    artifact_sha256: str
    wall_seconds: float
    train_queries: int
    val_queries: int
    extra: dict[str, Any] = field(default_factory=dict)


def validate(
    model: PreTrainedModel,
    tokenizer: Any,
    queries: Sequence[Query],
    products: Mapping[str, str],
    *,
    max_length: int,
    batch_size: int,
) -> dict[str, float]:
    """Score every validation candidate and return the mean ranking metrics."""
    pairs = [(q.text, products[d]) for q in queries for d, _ in q.candidates]
    flat = score_pairs(model, tokenizer, pairs, max_length=max_length, batch_size=batch_size)
    scores: dict[str, dict[str, float]] = {}
    pos = 0
    for q in queries:
        scores[q.id] = {d: float(flat[pos + j]) for j, (d, _) in enumerate(q.candidates)}
        pos += len(q.candidates)
    rows = [{"id": q.id, "candidates": dict(q.candidates)} for q in queries]
    return ranking_report(rows, scores)["means"]


def _group_loss(logits: torch.Tensor, rel: torch.Tensor, sizes: list[int], kind: str) -> torch.Tensor:
    if kind == "bce":
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, rel / 3.0)
    losses = []
    for lg, rl in zip(torch.split(logits, sizes), torch.split(rel, sizes), strict=True):
        gains = torch.exp2(rl) - 1.0
        if gains.sum() <= 0:
            continue
        losses.append(-(gains / gains.sum() * torch.log_softmax(lg, dim=0)).sum())
    return torch.stack(losses).mean() if losses else logits.sum() * 0.0


@dataclass
class _Run:
    config: RerankerTrainConfig
    run_id: str
    model: PreTrainedModel
    tokenizer: Any
    train: list[Query]
    products: dict[str, str]
    log: Log
    device: torch.device
    rng: random.Random = field(init=False)
    optimizer: torch.optim.Optimizer = field(init=False)
    scheduler: torch.optim.lr_scheduler.LambdaLR = field(init=False)
    steps_per_epoch: int = field(init=False)
    step: int = 0

    def __post_init__(self) -> None:
        cfg = self.config
        self.rng = random.Random(cfg.seed)
        pairs_per_epoch = sum(min(cfg.candidates_per_query, len(q.candidates)) for q in self.train)
        self.steps_per_epoch = math.ceil(pairs_per_epoch / cfg.batch_size)
        total = self.steps_per_epoch * cfg.epochs
        head = [p for n, p in self.model.named_parameters() if n.startswith("classifier")]
        body = [p for n, p in self.model.named_parameters() if not n.startswith("classifier")]
        self.optimizer = torch.optim.AdamW(
            [{"params": body, "lr": cfg.lr}, {"params": head, "lr": cfg.head_lr or cfg.lr}],
            weight_decay=cfg.weight_decay,
        )
        self.scheduler = get_linear_schedule_with_warmup(
            self.optimizer, math.ceil(cfg.warmup_ratio * total), total
        )

    def _batches(self) -> list[list[tuple[str, str, int]]]:
        """Pack whole query groups into batches of about ``batch_size`` pairs (listnet needs whole groups)."""
        batches: list[list[tuple[str, str, int]]] = []
        current: list[tuple[str, str, int]] = []
        for group in sample_groups(self.train, self.config.candidates_per_query, self.rng):
            if current and len(current) + len(group) > self.config.batch_size:
                batches.append(current)
                current = []
            current = current + group
        if current:
            batches.append(current)
        return batches

    def train_epoch(self, epoch: int) -> dict[str, float]:
        cfg = self.config
        batches = self._batches()
        total = self.steps_per_epoch * cfg.epochs
        bar = tqdm(
            total=len(batches),
            desc=f"epoch {epoch}/{cfg.epochs}",
            file=sys.stderr,
            disable=not cfg.progress,
            leave=False,
            dynamic_ncols=True,
        )
        self.model.train()
        loss_sum, seen, started = 0.0, 0, time.perf_counter()
        win_loss, win_norm, win_steps, win_pairs, win_start = 0.0, 0.0, 0, 0, time.perf_counter()
        for n_batch, batch in enumerate(batches, start=1):
            sizes = _group_sizes(batch)
            enc = self.tokenizer(
                [b[0] for b in batch],
                [self.products[b[1]] for b in batch],
                padding=True,
                truncation=True,
                max_length=cfg.max_length,
                return_tensors="pt",
            ).to(self.device)
            rel = torch.tensor([float(b[2]) for b in batch], device=self.device)
            logits = self.model(**enc).logits.reshape(-1).float()
            loss = _group_loss(logits, rel, sizes, cfg.loss)
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm))
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            value = loss.detach().item()
            loss_sum, seen = loss_sum + value, seen + len(batch)
            win_loss, win_norm, win_steps, win_pairs = (
                win_loss + value,
                win_norm + grad_norm,
                win_steps + 1,
                win_pairs + len(batch),
            )
            bar.update(1)
            if self.step % cfg.log_every == 0 or n_batch == len(batches):
                rate = win_pairs / max(time.perf_counter() - win_start, 1e-9)
                self.log(
                    f"[TRAIN] run_id={self.run_id} epoch={epoch} step={self.step}/{total} "
                    f"lr={self.optimizer.param_groups[0]['lr']:.2e} "
                    f"lr_head={self.optimizer.param_groups[1]['lr']:.2e} loss={win_loss / win_steps:.4f} "
                    f"grad_norm={win_norm / win_steps:.2f} ex_per_sec={rate:.0f}"
                )
                bar.set_postfix(loss=f"{win_loss / win_steps:.4f}")
                win_loss, win_norm, win_steps, win_pairs, win_start = 0.0, 0.0, 0, 0, time.perf_counter()
            self.scheduler.step()
        bar.close()
        seconds = time.perf_counter() - started
        return {
            "train_loss": loss_sum / max(len(batches), 1),
            "ex_per_sec": seen / max(seconds, 1e-9),
            "train_pairs": seen,
        }


def _group_sizes(batch: Sequence[tuple[str, str, int]]) -> list[int]:
    """Lengths of consecutive runs of the same query text: the groups packed into a batch."""
    sizes: list[int] = []
    for i, row in enumerate(batch):
        if i and row[0] == batch[i - 1][0]:
            sizes[-1] += 1
        else:
            sizes.append(1)
    return sizes


def load_base(config: RerankerTrainConfig) -> tuple[PreTrainedModel, Any]:
    """Load the encoder with a fresh one-output head (safetensors only) and its tokenizer."""
    tokenizer = AutoTokenizer.from_pretrained(config.base_model, local_files_only=True)
    # Dropout in front of a probed head multiplies its noise by the head's large weights (see linear_probe).
    dropout: dict[str, float] = {}
    if config.dropout is not None:
        dropout = {
            "hidden_dropout_prob": config.dropout,
            "attention_probs_dropout_prob": config.dropout,
            "classifier_dropout": config.dropout,
        }
    model = AutoModelForSequenceClassification.from_pretrained(
        config.base_model,
        num_labels=1,
        **dropout,
        id2label={0: "relevance"},
        label2id={"relevance": 0},
        ignore_mismatched_sizes=True,
        use_safetensors=True,
        local_files_only=True,
    )
    if config.pooler_init == "identity":
        reset_pooler(model, config.pooler_scale)
    tokenizer.model_max_length = config.max_length  # saved with the tokenizer: the predictor truncates alike
    return model, tokenizer


def _model_card(
    config: RerankerTrainConfig,
    run_id: str,
    epochs: list[dict[str, Any]],
    best: dict[str, Any],
    sizes: dict[str, int],
) -> str:
    recipe = {k: v for k, v in config.model_dump(mode="json").items() if k not in ("tags", "output_dir")}
    card = render_model_card(
        title=f"MangaAssist reranker (cross-encoder) - run {run_id}",
        tags={**config.tags, "run_id": run_id},
        recipe=recipe,
        epochs=epochs,
        epoch_columns=EPOCH_COLUMNS,
        label_qa=None,
        flagged=False,
        summary={
            "best_epoch": best["epoch"],
            "val ndcg@10": best["ndcg@10"],
            "val mrr": best["mrr"],
            **sizes,
        },
    )
    return card + (
        "\n## Ranking\n\nScores are raw logits of a one-output head over `[CLS] query [SEP] product text`; "
        "higher is more relevant. Graded relevance 0-3 (exact title and volume 3, same title 2, same genre "
        "or author 1); NDCG uses exponential gain 2^rel - 1 and breaks score ties by doc id.\n"
    )


def _pooled_features(
    model: PreTrainedModel, tokenizer: Any, pairs: list[tuple[str, str]], *, max_length: int, batch_size: int
) -> torch.Tensor:
    """The classifier head's input (pooler output) for each pair, in input order, without gradients."""
    encoder = getattr(model, model.base_model_prefix)
    device = next(model.parameters()).device
    out = torch.empty(len(pairs), model.config.hidden_size)
    model.eval()
    with torch.inference_mode():
        batches = pair_batches(tokenizer, pairs, max_length=max_length, batch_size=batch_size, device=device)
        for idx, enc in batches:
            out[idx] = encoder(**enc).pooler_output.float().cpu()
    return out


def linear_probe(
    model: PreTrainedModel,
    tokenizer: Any,
    queries: Sequence[Query],
    products: Mapping[str, str],
    config: RerankerTrainConfig,
) -> float:
    """Fit the fresh head on frozen features (full-batch L-BFGS, same loss); return the final loss.

    Linear-probe-then-fine-tune (LP-FT): a random head sends noisy gradients into the pretrained
    encoder for the first hundreds of steps; starting from the probe's head the encoder is adapted
    from a model that already ranks, which matters on short CPU runs.
    """
    pairs = [(q.text, products[d]) for q in queries for d, _ in q.candidates]
    feats = _pooled_features(
        model, tokenizer, pairs, max_length=config.max_length, batch_size=config.eval_batch_size
    )
    rel = torch.tensor([float(r) for q in queries for _, r in q.candidates])
    sizes = [len(q.candidates) for q in queries]
    weight = torch.zeros(feats.shape[1], requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], lr=1.0, max_iter=config.probe_max_iter, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = (
            _group_loss(feats @ weight + bias, rel, sizes, config.loss)
            + config.probe_l2 * weight.square().sum()
        )
        loss.backward()
        return loss

    optimizer.step(closure)
    head = model.classifier
    with torch.no_grad():
        head.weight.copy_(weight.detach().reshape(head.weight.shape))
        head.bias.copy_(bias.detach().reshape(head.bias.shape))
        return float(_group_loss(feats @ weight + bias, rel, sizes, config.loss))


def train_reranker(config: RerankerTrainConfig, *, log: Log = print) -> TrainResult:
    """Probe the head, fine-tune, validate each epoch, keep the best, and write the safetensors folder."""
    started = time.perf_counter()
    run_id = config.run_id or f"rr_{uuid.uuid4().hex[:12]}"
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    set_seed(config.seed)
    products = load_products(config.data_dir / "products.jsonl")
    train = load_queries(config.data_dir / "train.jsonl", config.max_train_queries)
    val = load_queries(config.data_dir / "validation.jsonl", config.max_val_queries)
    check_products(train, products, "train.jsonl")
    check_products(val, products, "validation.jsonl")
    log(
        f"[DATA] run_id={run_id} train_queries={len(train)} val_queries={len(val)} products={len(products)} "
        f"val_pairs={sum(len(q.candidates) for q in val)}"
    )
    device = resolve_device(config.device)
    model, tokenizer = load_base(config)
    model.to(device)
    epochs: list[dict[str, Any]] = []
    best_state: dict[str, torch.Tensor] | None = None

    def evaluate(row: dict[str, Any]) -> None:
        nonlocal best_state
        row.update(
            validate(
                model,
                tokenizer,
                val,
                products,
                max_length=config.max_length,
                batch_size=config.eval_batch_size,
            )
        )
        epochs.append(row)
        log(
            f"[VAL] run_id={run_id} epoch={row['epoch']} ndcg@10={row['ndcg@10']:.4f} mrr={row['mrr']:.4f} "
            f"recall@10={row['recall@10']:.4f} ndcg@1={row['ndcg@1']:.4f}"
        )
        if best_state is None or row["ndcg@10"] > max(e["ndcg@10"] for e in epochs[:-1]):
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}

    if config.probe_queries:
        probe_start = time.perf_counter()
        probe_loss = linear_probe(model, tokenizer, train[: config.probe_queries], products, config)
        log(f"[PROBE] run_id={run_id} queries={min(config.probe_queries, len(train))} loss={probe_loss:.4f}")
        evaluate({"epoch": 0, "train_loss": probe_loss, "seconds": time.perf_counter() - probe_start})
    run = _Run(config, run_id, model, tokenizer, train, products, log, device)
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        row: dict[str, Any] = {"epoch": epoch, **run.train_epoch(epoch)}
        evaluate(row)
        row["seconds"] = time.perf_counter() - epoch_start
    best = max(epochs, key=lambda e: (e["ndcg@10"], -e["epoch"]))
    log(f'[CHECKPOINT] run_id={run_id} best_epoch={best["epoch"]} criterion="max validation ndcg@10"')
    assert best_state is not None
    model.load_state_dict(best_state)
    model.to("cpu")
    sizes = {"train_queries": len(train), "val_queries": len(val)}
    metrics = {
        "run_id": run_id,
        "target": "reranker",
        "tags": dict(config.tags),
        "best_epoch": best["epoch"],
        "best": best,
        "epochs": epochs,
        "config": config.model_dump(mode="json"),
        **sizes,
    }
    sha = write_model_folder(
        config.output_dir,
        model=model,
        tokenizer=tokenizer,
        labels=None,
        metrics=metrics,
        model_card=_model_card(config, run_id, epochs, best, sizes),
    )
    wall = time.perf_counter() - started
    log(f"[DONE] run_id={run_id} output={config.output_dir} sha256={sha} wall_s={wall:.1f}")
    return TrainResult(
        run_id=run_id,
        output_dir=Path(config.output_dir),
        best_epoch=int(best["epoch"]),
        epochs=epochs,
        final_metrics=best,
        artifact_sha256=sha,
        wall_seconds=wall,
        train_queries=len(train),
        val_queries=len(val),
    )
