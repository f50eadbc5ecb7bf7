"""Fine-tune a LoRA adapter for the MangaAssist generator (seed 004 QLoRA recipe) with TRL's SFTTrainer.

Data: seed-004 chat JSONL (system/user/assistant/tool messages, OpenAI tool calls), rendered by
``trainers.qlora.chat``; the loss covers assistant turns only. Checkpoints (which TRL writes with
pickled optimizer and RNG state) stay in a temp folder; the output folder gets the adapter as
safetensors, its config, the tokenizer, metrics.json and model_card.md, and is refused if anything
in it would unpickle. The run touches neither the database nor the registry.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer, PrinterCallback, TrainerCallback, set_seed

from evalsets.manifest import read_jsonl
from gatekeeper.errors import ValidationFailed
from gatekeeper.registry.artifacts import artifact_sha256
from gatekeeper.registry.lineage import LINEAGE_TAGS
from trainers.common.output import (
    METRICS,
    MODEL_CARD,
    cell,
    ensure_empty_output,
    staged_output,
    write_json,
)
from trainers.qlora.chat import encode, render, validate_conversation
from trainers.qlora.config import QLoRATrainConfig
from trainers.qlora.model import attach_lora, load_base, lora_config, trainable_parameters

Log = Callable[[str], None]
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
SAFE_SUFFIXES = frozenset({".safetensors", ".json", ".jinja", ".txt", ".model"})
LOSS_COLUMNS = ("step", "epoch", "loss", "learning_rate", "grad_norm")


@dataclass
class TrainResult:
    run_id: str
    output_dir: Path
    artifact_sha256: str
    metrics: dict[str, Any]
    loss_history: list[dict[str, Any]]
    quantized: bool
    wall_seconds: float
    train_examples: int
    # The trained PeftModel, for in-process checks; drop the result to free it.
    model: Any = field(default=None, repr=False)


@dataclass(frozen=True)
class Encoded:
    input_ids: list[list[int]]
    assistant_masks: list[list[int]]
    template: str
    truncated: int  # conversations longer than max_seq_length (their tail is cut)
    dropped: int  # conversations whose assistant tokens all fall past max_seq_length


def load_tokenizer(config: QLoRATrainConfig) -> Any:
    tok = AutoTokenizer.from_pretrained(config.tokenizer or config.base_model)
    if config.eos_token:
        tok.eos_token = config.eos_token
    if tok.eos_token is None:
        raise ValidationFailed(
            'the tokenizer has no eos token: set eos_token (e.g. "[SEP]" for a BERT-style '
            "vocabulary) so generation knows where an answer ends"
        )
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_conversations(path: Path, limit: int | None = None) -> list[list[dict[str, Any]]]:
    rows = read_jsonl(Path(path))
    if limit is not None:
        rows = rows[:limit]
    if not rows:
        raise ValidationFailed(f"no training conversations in {path}")
    return [validate_conversation(row) for row in rows]


def encode_all(conversations: Sequence[Sequence[dict[str, Any]]], tokenizer: Any, max_len: int) -> Encoded:
    ids, masks, truncated, dropped, template = [], [], 0, 0, "simple"
    for messages in conversations:
        rendered = render(tokenizer, messages)
        template = rendered.template
        tokens, mask = encode(tokenizer, rendered)
        if len(tokens) > max_len:
            truncated += 1
            tokens, mask = tokens[:max_len], mask[:max_len]
        if not any(mask):
            dropped += 1
            continue
        ids.append(tokens)
        masks.append(mask)
    if not ids:
        raise ValidationFailed(f"every conversation loses its assistant turns at max_seq_length={max_len}")
    return Encoded(ids, masks, template, truncated, dropped)


class _LogCallback(TrainerCallback):
    """Turn Trainer logs into ``[TRAIN]`` lines and a loss history."""

    def __init__(self, run_id: str, log: Log) -> None:
        self.run_id, self.log = run_id, log
        self.history: list[dict[str, Any]] = []

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kw: Any
    ) -> None:
        if not logs or "loss" not in logs:
            return
        row = {
            "step": state.global_step,
            "epoch": logs.get("epoch"),
            "loss": logs["loss"],
            "learning_rate": logs.get("learning_rate"),
            "grad_norm": logs.get("grad_norm"),
        }
        self.history.append(row)
        self.log(
            f"[TRAIN] run_id={self.run_id} step={state.global_step}/{state.max_steps} "
            f"epoch={row['epoch'] or 0:.2f} loss={row['loss']:.4f} lr={row['learning_rate'] or 0:.2e}"
        )


@torch.no_grad()
def masked_loss(model: Any, data: Encoded, limit: int) -> float:
    """Mean token loss over assistant tokens of the first ``limit`` conversations (eval mode)."""
    was_training = model.training
    model.eval()
    device = next(p for p in model.parameters()).device
    total, count = 0.0, 0
    for ids, mask in list(zip(data.input_ids, data.assistant_masks, strict=True))[:limit]:
        x = torch.tensor([ids], device=device)
        labels = x.masked_fill(torch.tensor([mask], device=device) == 0, -100)
        n = int(sum(mask[1:]))
        if n == 0:
            continue
        total += float(model(input_ids=x, labels=labels).loss) * n
        count += n
    model.train(was_training)
    return total / count if count else math.nan


def _sft_config(config: QLoRATrainConfig, out: Path) -> Any:
    from trl import SFTConfig

    cuda = torch.cuda.is_available()
    return SFTConfig(
        output_dir=str(out),
        use_cpu=not cuda,
        report_to=[],
        seed=config.seed,
        data_seed=config.seed,
        per_device_train_batch_size=config.micro_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        optim=config.optim,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        activation_checkpointing=config.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False},
        bf16=cuda and torch.cuda.is_bf16_supported(),
        max_length=config.max_seq_length,
        logging_steps=config.logging_steps,
        save_strategy="steps" if config.save_steps else "no",
        save_steps=config.save_steps or 500,
        dataloader_num_workers=0,
        disable_tqdm=True,
        dataset_num_proc=None,
        packing=False,
    )


def _fit(
    config: QLoRATrainConfig,
    model: Any,
    tokenizer: Any,
    data: Encoded,
    ckpt: Path,
    callback: _LogCallback,
) -> Any:
    from datasets import Dataset
    from trl import SFTTrainer

    dataset = Dataset.from_dict({"input_ids": data.input_ids, "assistant_masks": data.assistant_masks})
    trainer = SFTTrainer(
        model=model,
        args=_sft_config(config, ckpt),
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[callback],
    )
    trainer.remove_callback(PrinterCallback)  # progress goes through `log` as [TRAIN] lines instead
    return trainer.train()


def _write_output(
    config: QLoRATrainConfig, model: Any, tokenizer: Any, metrics: dict[str, Any], card: str, scratch: Path
) -> str:
    """Publish the adapter: only safe files from PEFT's save, plus metrics and the model card."""
    final = scratch / "final"
    model.save_pretrained(final, safe_serialization=True)
    tokenizer.save_pretrained(final)
    with staged_output(Path(config.output_dir)) as staging:
        for path in sorted(final.iterdir()):
            if path.is_file() and path.suffix in SAFE_SUFFIXES:
                shutil.copy2(path, staging / path.name)
        if not (staging / ADAPTER_WEIGHTS).is_file():
            raise ValidationFailed(f"PEFT did not write {ADAPTER_WEIGHTS}")
        write_json(staging / METRICS, metrics)
        (staging / MODEL_CARD).write_text(card, encoding="utf-8")
    return artifact_sha256(Path(config.output_dir))


def _card(
    config: QLoRATrainConfig, run_id: str, metrics: dict[str, Any], history: list[dict[str, Any]]
) -> str:
    """Markdown model card: lineage, summary, recipe, loss curve."""
    lines = [f"# Generator LoRA adapter {run_id}", "", "## Lineage", "", "| tag | value |", "|---|---|"]
    lines += [
        f"| {name} | {config.tags.get(name) or '(not given)'} |"
        for name in (*LINEAGE_TAGS, *sorted(set(config.tags) - set(LINEAGE_TAGS)))
    ]
    summary = {
        "base model": config.base_model,
        "base precision": metrics["base_precision"],
        "trainer": "trl.SFTTrainer (loss on assistant turns only)",
        "chat rendering": metrics["chat_rendering"],
        "conversations": metrics["train_conversations"],
        "steps": metrics["steps"],
        "probe loss before": metrics["probe_loss_before"],
        "probe loss after": metrics["probe_loss_after"],
        "trainable parameters": metrics["trainable_params"],
    }
    lines += ["", "## Summary", ""] + [f"- **{k}**: {cell(v)}" for k, v in summary.items()]
    lines += ["", "## Recipe", "", "| option | value |", "|---|---|"]
    lines += [f"| {k} | {cell(v)} |" for k, v in config.recipe().items()]
    lines += ["", "## Loss", "", "| " + " | ".join(LOSS_COLUMNS) + " |", "|" + "---|" * len(LOSS_COLUMNS)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in LOSS_COLUMNS) + " |" for row in history]
    lines += [
        "",
        "Load with `trainers.qlora.predict.GeneratorPredictor.load(adapter_dir, base_model_path)`. "
        "Weights are safetensors only; no pickle files are written or loaded.",
        "",
    ]
    return "\n".join(lines)


def train_qlora(config: QLoRATrainConfig, *, log: Log = print) -> TrainResult:
    """Train the adapter, write the output folder, and return what the TrainingRun records."""
    threads = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    try:
        return _train(config, log)
    finally:
        torch.set_num_threads(threads)


def _prepare_data(config: QLoRATrainConfig, run_id: str, log: Log) -> tuple[Any, Encoded]:
    tokenizer = load_tokenizer(config)
    conversations = load_conversations(config.train_file, config.max_train_examples)
    data = encode_all(conversations, tokenizer, config.max_seq_length)
    lengths = [len(x) for x in data.input_ids]
    log(
        f"[DATA] run_id={run_id} conversations={len(lengths)} dropped={data.dropped} "
        f"truncated={data.truncated} tokens_mean={sum(lengths) / len(lengths):.0f} "
        f"tokens_max={max(lengths)} rendering={data.template}"
    )
    return tokenizer, data


def _prepare_model(config: QLoRATrainConfig, run_id: str, log: Log) -> tuple[Any, bool, dict[str, int]]:
    base, quantized = load_base(
        config.base_model, quantize=config.quantize_4bit, gradient_checkpointing=config.gradient_checkpointing
    )
    lora = lora_config(
        r=config.r, alpha=config.lora_alpha, dropout=config.lora_dropout, targets=config.target_modules
    )
    model = attach_lora(base, lora)
    trainable, total = trainable_parameters(model)
    log(
        f"[MODEL] run_id={run_id} base={'nf4-4bit' if quantized else 'fp32'} trainable={trainable} "
        f"total={total} targets={','.join(config.target_modules)} r={config.r} alpha={config.lora_alpha}"
    )
    return model, quantized, {"trainable_params": trainable, "total_params": total}


def _train(config: QLoRATrainConfig, log: Log) -> TrainResult:
    started = time.perf_counter()
    run_id = config.run_id or time.strftime("qlora_%Y%m%d_%H%M%S", time.gmtime())
    ensure_empty_output(Path(config.output_dir))  # before any compute: a GPU hour lost to a typo is not cheap
    set_seed(config.seed)
    tokenizer, data = _prepare_data(config, run_id, log)
    model, quantized, params = _prepare_model(config, run_id, log)
    before = masked_loss(model, data, config.loss_probe_examples)
    callback = _LogCallback(run_id, log)
    with tempfile.TemporaryDirectory(prefix=f"{run_id}-") as scratch:
        output = _fit(config, model, tokenizer, data, Path(scratch) / "checkpoints", callback)
        after = masked_loss(model, data, config.loss_probe_examples)
        metrics = {
            "run_id": run_id,
            "tags": dict(config.tags),
            "config": config.model_dump(mode="json"),
            "base_precision": "nf4-4bit" if quantized else "fp32",
            "chat_rendering": data.template,
            "train_conversations": len(data.input_ids),
            "dropped_conversations": data.dropped,
            "truncated_conversations": data.truncated,
            **params,
            "steps": output.global_step,
            "train_loss": output.training_loss,
            "probe_loss_before": before,
            "probe_loss_after": after,
            "loss_history": callback.history,
            "train_seconds": output.metrics.get("train_runtime"),
        }
        card = _card(config, run_id, metrics, callback.history)
        sha = _write_output(config, model, tokenizer, metrics, card, Path(scratch))
    wall = time.perf_counter() - started
    log(
        f"[OUTPUT] run_id={run_id} dir={config.output_dir} sha256={sha} loss {before:.4f} -> {after:.4f} "
        f"wall={wall:.1f}s"
    )
    return TrainResult(
        run_id=run_id,
        output_dir=Path(config.output_dir),
        artifact_sha256=sha,
        metrics=metrics,
        loss_history=callback.history,
        quantized=quantized,
        wall_seconds=wall,
        train_examples=len(data.input_ids),
        model=model.eval(),
    )
