"""Base model loading (NF4 4-bit on CUDA, full precision on CPU) and the LoRA wrapper."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, PreTrainedModel

from trainers.qlora.config import LORA_TARGETS


def lora_config(
    *, r: int = 16, alpha: int = 32, dropout: float = 0.05, targets: Sequence[str] = LORA_TARGETS
) -> LoraConfig:
    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(targets),
        bias="none",
        task_type="CAUSAL_LM",
    )


def nf4_quantization_config() -> Any:
    """QLoRA's base: 4-bit NormalFloat weights, quantized quantization constants, bf16 compute."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def load_base_nf4(path: str, *, gradient_checkpointing: bool = True) -> PreTrainedModel:
    """The real QLoRA path: bitsandbytes 4-bit base on the current CUDA device, prepared for k-bit training.

    bitsandbytes' 4-bit layers do not load on CPU, so this refuses to run without CUDA.
    """
    if not torch.cuda.is_available():
        raise RuntimeError("the NF4 4-bit base needs CUDA; use the full-precision path on CPU")
    from peft import prepare_model_for_kbit_training

    model = AutoModelForCausalLM.from_pretrained(
        path,
        quantization_config=nf4_quantization_config(),
        dtype=torch.bfloat16,
        device_map={"": torch.cuda.current_device()},
    )
    return prepare_model_for_kbit_training(
        model,
        use_gradient_checkpointing=gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
    )


def load_base_full(path: str, *, dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    return AutoModelForCausalLM.from_pretrained(path, dtype=dtype)


def load_base(
    path: str, *, quantize: bool | None = None, gradient_checkpointing: bool = True
) -> tuple[PreTrainedModel, bool]:
    """Return (model, quantized). ``quantize=None`` picks NF4 exactly when CUDA is available."""
    quantize = torch.cuda.is_available() if quantize is None else quantize
    if quantize:
        return load_base_nf4(path, gradient_checkpointing=gradient_checkpointing), True
    return load_base_full(path), False


def attach_lora(model: PreTrainedModel, config: LoraConfig) -> PeftModel:
    """Wrap the base with fresh LoRA adapters; only adapter weights stay trainable."""
    return get_peft_model(model, config)


def trainable_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
