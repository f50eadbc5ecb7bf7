"""QLoRA generator trainer options; defaults are seed 004's recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

LORA_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class QLoRATrainConfig(BaseModel):
    """Everything a run depends on; recorded in metrics.json and the model card.

    ``base_model`` is a local folder (e.g. a Llama-3.1-8B-Instruct snapshot): a configuration
    choice; nothing is downloaded. The 4-bit NF4 base is used when CUDA is present
    (``quantize_4bit=None``), full-precision LoRA on CPU otherwise.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_model: str
    train_file: Path
    output_dir: Path
    tokenizer: str | None = Field(None, description="tokenizer folder; defaults to base_model")
    eos_token: str | None = Field(None, description='override, e.g. "[SEP]" for a BERT-style vocabulary')
    run_id: str | None = None
    tags: dict[str, str] = Field(
        default_factory=dict, description="lineage tags, written to card and metrics"
    )

    r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: tuple[str, ...] = LORA_TARGETS

    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(0.3, gt=0)
    optim: str = "adamw_torch"
    epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, ge=1, description="overrides epochs when set")
    micro_batch_size: int = Field(4, ge=1)
    gradient_accumulation_steps: int = Field(16, ge=1, description="effective batch = micro x accumulation")
    max_seq_length: int = Field(4096, ge=16)
    gradient_checkpointing: bool = True
    quantize_4bit: bool | None = Field(None, description="None: NF4 when CUDA is available")
    seed: int = 42

    max_train_examples: int | None = Field(None, ge=1)
    loss_probe_examples: int = Field(
        32, ge=1, description="conversations whose loss is measured before/after"
    )
    logging_steps: int = Field(10, ge=1)
    save_steps: int | None = Field(
        None, ge=1, description="checkpoint every N steps (temp folder, not the output)"
    )
    num_threads: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> QLoRATrainConfig:
        if not self.target_modules:
            raise ValueError("target_modules must not be empty")
        return self

    def recipe(self) -> dict[str, Any]:
        """Options that shape the adapter (for the card), without paths and bookkeeping."""
        skip = {"train_file", "output_dir", "tags", "run_id", "logging_steps", "save_steps", "num_threads"}
        return {k: v for k, v in self.model_dump(mode="json").items() if k not in skip}
