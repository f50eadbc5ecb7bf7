"""Run a trained generator adapter: base model + LoRA (safetensors only), greedy generation, tool calls
parsed from the text in the format ``trainers.qlora.chat`` documents.

This is what "run the artifact" evaluation uses: in the worker for a generator small enough for CPU, and
in a GPU actor of the Ray executor (NF4 base) for an 8B one; otherwise an 8B generator is evaluated from
submitted predictions (DESIGN sections 5 and 5.2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer

from gatekeeper.errors import ValidationFailed
from trainers.common.output import assert_no_pickle
from trainers.qlora.chat import encode, parse_tool_calls, render
from trainers.qlora.model import load_base
from trainers.qlora.train import ADAPTER_CONFIG, ADAPTER_WEIGHTS

Prompt = str | Sequence[Mapping[str, Any]]


class GeneratorPredictor:
    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = next(p for p in model.parameters()).device

    @classmethod
    def load(
        cls, adapter_dir: Path | str, base_model_path: str, *, quantize: bool | None = None
    ) -> GeneratorPredictor:
        """Load the base (NF4 on CUDA unless ``quantize=False``) and the adapter; pickles are refused."""
        from peft import PeftModel

        adapter_dir = Path(adapter_dir)
        assert_no_pickle(adapter_dir)
        for name in (ADAPTER_WEIGHTS, ADAPTER_CONFIG):
            if not (adapter_dir / name).is_file():
                raise ValidationFailed(f"{adapter_dir} has no {name}", field="artifact_uri")
        tok_dir = adapter_dir if (adapter_dir / "tokenizer_config.json").is_file() else Path(base_model_path)
        tokenizer = AutoTokenizer.from_pretrained(tok_dir)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        base, _ = load_base(base_model_path, quantize=quantize, gradient_checkpointing=False)
        model = PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=False)
        return cls(model, tokenizer)

    def _messages(self, prompt: Prompt) -> list[dict[str, Any]]:
        if isinstance(prompt, str):
            return [{"role": "user", "content": prompt}]
        return [dict(m) for m in prompt]

    def encode_prompts(self, prompts: Sequence[Prompt]) -> list[list[int]]:
        return [
            encode(self.tokenizer, render(self.tokenizer, self._messages(p), add_generation_prompt=True))[0]
            for p in prompts
        ]

    @torch.no_grad()
    def logits(self, prompt: Prompt) -> torch.Tensor:
        """Next-token logits over one rendered prompt (for reload checks)."""
        ids = torch.tensor([self.encode_prompts([prompt])[0]], device=self.device)
        return self.model(input_ids=ids).logits[0].float().cpu()

    @torch.no_grad()
    def generate(
        self, prompts: Sequence[Prompt], max_new_tokens: int = 256, *, batch_size: int = 8
    ) -> list[dict[str, Any]]:
        """Greedy answers: ``[{"output": text, "tool_calls": [{"name", "arguments": "<json>"}]}]``."""
        results: list[dict[str, Any]] = []
        encoded = self.encode_prompts(prompts)
        pad = self.tokenizer.pad_token_id
        for start in range(0, len(encoded), batch_size):
            batch = encoded[start : start + batch_size]
            width = max(len(x) for x in batch)
            ids = torch.tensor([[pad] * (width - len(x)) + x for x in batch], device=self.device)  # left-pad
            mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in batch], device=self.device)
            out = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=self.tokenizer.eos_token_id,
                pad_token_id=pad,
            )
            for row in out[:, width:]:
                text, calls = parse_tool_calls(self.tokenizer.decode(row, skip_special_tokens=True))
                results.append({"output": text, "tool_calls": calls})
        return results

    def predict_examples(
        self, examples: Sequence[Mapping[str, Any]], max_new_tokens: int = 256, *, batch_size: int = 8
    ) -> list[dict[str, Any]]:
        """Outputs for generator evalset examples, in the gate's prediction format."""
        from evalsets.generator import prompt_messages

        answers = self.generate(
            [prompt_messages(ex) for ex in examples], max_new_tokens, batch_size=batch_size
        )
        return [{"id": ex["id"], **a} for ex, a in zip(examples, answers, strict=True)]
