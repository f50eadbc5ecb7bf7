"""End-to-end trainer runs on a tiny random DistilBERT: output folder, logs, label QA, determinism."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from evalsets.manifest import write_jsonl
from gatekeeper.errors import ValidationFailed
from gatekeeper.registry.artifacts import artifact_sha256, file_sha256, pickled_files
from tests.trainers.conftest import make_rows, qa_rows
from trainers.common.label_qa import LabelQARejected
from trainers.common.output import write_model_folder
from trainers.intent import train as train_module
from trainers.intent.config import INTENT_LABELS, IntentTrainConfig
from trainers.intent.predict import IntentPredictor
from trainers.intent.train import TrainResult, fit, train_intent

TAGS = {
    "model_target": "intent_classifier",
    "code_revision": "abc123",
    "data_snapshot_id": "snap-7",
    "label_version": "lv-3",
    "feature_schema_version": "fs-1",
    "seed": "3",
}
# 64 training rows: one optimiser step at batch 64
TRAIN_COUNTS = {label: 7 if i < 4 else 6 for i, label in enumerate(INTENT_LABELS)}
PASS_PAIRS = (
    [("faq", "faq")] * 9 + [("chitchat", "chitchat")] * 9 + [("faq", "chitchat"), ("chitchat", "faq")]
)
FLAG_PAIRS = (
    [("faq", "faq")] * 17 + [("chitchat", "chitchat")] * 17 + [("faq", "chitchat"), ("chitchat", "faq")] * 3
)
REJECT_PAIRS = (
    [("faq", "faq")] * 4 + [("chitchat", "chitchat")] * 4 + [("faq", "chitchat"), ("chitchat", "faq")]
)


def tiny_config(folder: Path, base: Path, **overrides: Any) -> IntentTrainConfig:
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "train.jsonl", make_rows(TRAIN_COUNTS, seed=1, prefix="tr"))
    write_jsonl(folder / "val.jsonl", make_rows(2, seed=2, prefix="va"))
    options: dict[str, Any] = {
        "train_path": folder / "train.jsonl",
        "val_path": folder / "val.jsonl",
        "output_dir": folder / "out",
        "base_model": str(base),
        "batch_size": 64,
        "epochs": 1,
        "max_length": 32,
        "progress": False,
        "run_id": "run-tiny",
        "tags": TAGS,
        "log_every": 1,
        **overrides,
    }
    return IntentTrainConfig(**options)


@pytest.fixture(scope="module")
def tiny_run(
    tmp_path_factory: pytest.TempPathFactory, tiny_distilbert_dir: Path
) -> tuple[TrainResult, list[str]]:
    folder = tmp_path_factory.mktemp("tiny_run")
    write_jsonl(folder / "qa.jsonl", qa_rows("en", PASS_PAIRS) + qa_rows("ja", FLAG_PAIRS))
    lines: list[str] = []
    result = train_intent(
        tiny_config(folder, tiny_distilbert_dir, label_qa_path=folder / "qa.jsonl"), log=lines.append
    )
    return result, lines


def test_one_step_writes_a_loadable_safetensors_folder(tiny_run: tuple[TrainResult, list[str]]) -> None:
    result, _ = tiny_run
    out = result.output_dir
    names = {p.name for p in out.iterdir()}
    assert {
        "model.safetensors",
        "config.json",
        "label_map.json",
        "metrics.json",
        "model_card.md",
        "tokenizer.json",
        "tokenizer_config.json",
    } <= names
    assert pickled_files(out) == []
    assert result.artifact_sha256 == artifact_sha256(out)
    assert json.loads((out / "config.json").read_text())["architectures"] == [
        "DistilBertForSequenceClassification"
    ]
    assert (
        json.loads((out / "label_map.json").read_text())["labels"] == sorted(INTENT_LABELS) == result.labels
    )
    assert result.train_examples == 64 and result.val_examples == 20 and result.best_epoch == 1

    predictor = IntentPredictor.load(out)
    texts = ["where is my order 1234", "show me horror manga", "let me talk to a human agent now"]
    probs = predictor.predict_proba(texts, batch_size=2)
    assert probs.shape == (3, 10)
    # batched by length (the 2nd and 1st text together), answered in the order given
    alone = np.vstack([predictor.predict_proba([t]) for t in texts])
    assert np.allclose(probs, alone, atol=1e-5)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert predictor.labels == result.labels
    assert predictor.max_length == 32
    assert predictor.predict_proba([]).shape == (0, 10)


def test_the_step_moved_the_encoder(
    tiny_run: tuple[TrainResult, list[str]], tiny_distilbert_dir: Path
) -> None:
    result, _ = tiny_run
    before = load_file(str(tiny_distilbert_dir / "model.safetensors"))
    after = load_file(str(result.output_dir / "model.safetensors"))
    for name in (
        "distilbert.embeddings.word_embeddings.weight",
        "distilbert.transformer.layer.0.ffn.lin1.weight",
    ):
        assert not torch.equal(before[name], after[name]), name
    assert after["classifier.weight"].shape == (10, 32)  # re-headed from the base's 2 labels


def test_logs_follow_the_seed_format(tiny_run: tuple[TrainResult, list[str]]) -> None:
    _, lines = tiny_run
    assert re.fullmatch(
        r"\[LABEL_QA\] en_kappa=0\.800 en_n=20 ja_kappa=0\.700 ja_n=40 verdict=flag", lines[0]
    )
    assert lines[1].startswith("[DATA_AUDIT] run_id=run-tiny total_examples=84 train=64 val=20 ")
    assert "label_distribution={order_tracking:10.9, product_discovery:10.9, " in lines[1]
    train_line = next(line for line in lines if line.startswith("[TRAIN]"))
    assert re.fullmatch(
        r"\[TRAIN\] run_id=run-tiny epoch=1 step=1/1 lr_head=2\.00e-05 lr_bottom=1\.28e-05 "
        r"loss=\d+\.\d{3} grad_norm=\d+\.\d{2} ex_per_sec=\d+",
        train_line,
    )
    val_line = next(line for line in lines if line.startswith("[VAL]"))
    assert re.fullmatch(
        r"\[VAL\] run_id=run-tiny epoch=1 loss=\d+\.\d{3} acc=\d+\.\d macro_f1=\d+\.\d "
        r"rare_recall=\d+\.\d ece=\d\.\d{3}",
        val_line,
    )
    assert any(line.startswith("[CHECKPOINT] run_id=run-tiny best_epoch=1 ") for line in lines)


def test_flagged_label_qa_trains_and_is_recorded(tiny_run: tuple[TrainResult, list[str]]) -> None:
    result, _ = tiny_run
    assert result.flagged
    assert result.label_qa is not None and result.label_qa.kappa("ja") == pytest.approx(0.7)
    metrics = json.loads((result.output_dir / "metrics.json").read_text())
    assert metrics["flagged"] is True
    assert metrics["label_qa"]["pools"]["ja"]["verdict"] == "flag"
    card = (result.output_dir / "model_card.md").read_text()
    assert "| data_snapshot_id | snap-7 |" in card and "| label_version | lv-3 |" in card
    assert "**flagged**: yes" in card
    assert "| ja | 0.7 | 40 | flag |" in card


def test_metrics_json_records_epochs_tags_and_recipe(tiny_run: tuple[TrainResult, list[str]]) -> None:
    result, _ = tiny_run
    metrics = json.loads((result.output_dir / "metrics.json").read_text())
    assert metrics["tags"] == TAGS
    (epoch,) = metrics["epochs"]
    for key in (
        "train_loss",
        "val_loss",
        "accuracy",
        "macro_f1",
        "rare_recall",
        "ece",
        "lr_head",
        "lr_bottom",
    ):
        assert isinstance(epoch[key], float), key
    assert metrics["config"]["focal_gamma"] == 2.0 and metrics["config"]["layer_decay"] == 0.8
    assert metrics["rare_classes"] == result.rare_classes and len(result.rare_classes) == 3
    assert metrics["final"]["macro_f1"] == pytest.approx(result.final_metrics["macro_f1"])


def test_predictor_reproduces_validation_accuracy(tiny_run: tuple[TrainResult, list[str]]) -> None:
    result, _ = tiny_run
    val_rows = [
        json.loads(line) for line in (result.output_dir.parent / "val.jsonl").read_text().splitlines()
    ]
    predicted = IntentPredictor.load(result.output_dir).predict([row["text"] for row in val_rows])
    accuracy = np.mean([p == row["label"] for p, row in zip(predicted, val_rows, strict=True)])
    assert accuracy == pytest.approx(result.final_metrics["accuracy"])


def test_thread_option_applies_to_the_run_only(
    tiny_distilbert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real_fit = train_module.fit

    def spy(loop: Any) -> Any:
        seen.append(torch.get_num_threads())
        return real_fit(loop)

    monkeypatch.setattr(train_module, "fit", spy)
    before = torch.get_num_threads()
    train_intent(tiny_config(tmp_path, tiny_distilbert_dir, num_threads=2), log=lambda _: None)
    assert seen == [2]
    assert torch.get_num_threads() == before


def test_same_seed_gives_the_same_weights(
    tiny_run: tuple[TrainResult, list[str]], tiny_distilbert_dir: Path, tmp_path: Path
) -> None:
    first, _ = tiny_run
    again = train_intent(tiny_config(tmp_path, tiny_distilbert_dir), log=lambda _: None)
    assert file_sha256(again.output_dir / "model.safetensors") == file_sha256(
        first.output_dir / "model.safetensors"
    )
    assert not again.flagged and again.label_qa is None


def _no_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("a model or tokenizer was loaded")

    monkeypatch.setattr(train_module.AutoModelForSequenceClassification, "from_pretrained", refuse)
    monkeypatch.setattr(train_module.AutoTokenizer, "from_pretrained", refuse)


def test_rejected_label_qa_stops_before_any_model_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_model_loads(monkeypatch)
    write_jsonl(tmp_path / "qa.jsonl", qa_rows("en", PASS_PAIRS) + qa_rows("ja", REJECT_PAIRS))
    config = tiny_config(tmp_path, tmp_path / "no-such-model", label_qa_path=tmp_path / "qa.jsonl")
    lines: list[str] = []
    with pytest.raises(
        LabelQARejected, match=r"JA pool kappa 0\.60 < 0\.65 \(n=10\); re-annotate before training"
    ):
        train_intent(config, log=lines.append)
    assert lines == ["[LABEL_QA] en_kappa=0.800 en_n=20 ja_kappa=0.600 ja_n=10 verdict=reject"]
    assert not config.output_dir.exists()


def test_non_empty_output_folder_is_refused_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_model_loads(monkeypatch)
    config = tiny_config(tmp_path, tmp_path / "no-such-model")
    config.output_dir.mkdir()
    (config.output_dir / "pytorch_model.bin").write_bytes(b"stale")
    with pytest.raises(FileExistsError):
        train_intent(config, log=lambda _: None)


def test_unknown_label_in_validation_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_model_loads(monkeypatch)
    config = tiny_config(tmp_path, tmp_path / "no-such-model", labels=list(INTENT_LABELS[:9]))
    with pytest.raises(ValueError, match="escalation"):
        train_intent(config, log=lambda _: None)


def test_predictor_refuses_pickle_files(tiny_run: tuple[TrainResult, list[str]], tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_run[0].output_dir, copy)
    (copy / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ValidationFailed, match="pickle"):
        IntentPredictor.load(copy)


def test_predictor_refuses_label_map_that_disagrees_with_the_head(
    tiny_run: tuple[TrainResult, list[str]], tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_run[0].output_dir, copy)
    label_map = json.loads((copy / "label_map.json").read_text())
    label_map["labels"] = list(reversed(label_map["labels"]))
    (copy / "label_map.json").write_text(json.dumps(label_map))
    with pytest.raises(ValidationFailed, match="differs"):
        IntentPredictor.load(copy)


class _PickleWriter:
    def save_pretrained(self, directory: Path, **_: Any) -> None:
        (Path(directory) / "model.safetensors").write_bytes(b"{}")
        (Path(directory) / "training_args.bin").write_bytes(b"\x80\x04K\x01.")


class _NoopTokenizer:
    def save_pretrained(self, directory: Path, **_: Any) -> None:
        (Path(directory) / "tokenizer.json").write_text("{}")


def test_output_folder_with_a_pickle_is_refused_and_not_left_behind(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ValidationFailed, match="training_args.bin"):
        write_model_folder(
            out, model=_PickleWriter(), tokenizer=_NoopTokenizer(), labels=["a"], metrics={}, model_card=""
        )
    assert list(tmp_path.iterdir()) == []


class _ScriptedLoop:
    """Stands in for the training loop: epoch e sets the weight to e and scores the scripted macro-F1."""

    def __init__(self, f1s: list[float], patience: int | None) -> None:
        self.config = IntentTrainConfig(
            train_path=Path("t"),
            output_dir=Path("o"),
            base_model="unused",
            epochs=len(f1s),
            early_stopping_patience=patience,
        )
        self.model = torch.nn.Linear(1, 1, bias=False)
        self.run_id, self.lines, self.f1s, self.epoch = "scripted", [], f1s, 0
        self.log = self.lines.append

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.epoch = epoch
        with torch.no_grad():
            self.model.weight.fill_(float(epoch))
        return {"train_loss": 1.0 / epoch}

    def validate(self) -> dict[str, Any]:
        return {
            "accuracy": 0.5,
            "macro_f1": self.f1s[self.epoch - 1],
            "rare_recall": 0.5,
            "ece": 0.1,
            "val_loss": 1.0,
            "per_class_recall": {},
        }


def test_early_stopping_keeps_the_best_epochs_weights() -> None:
    loop = _ScriptedLoop([0.5, 0.7, 0.6, 0.55, 0.9], patience=1)
    best_epoch, history, best, stopped = fit(loop)  # type: ignore[arg-type]
    assert (best_epoch, len(history), stopped) == (2, 4, True)
    assert best["macro_f1"] == 0.7
    assert loop.model.weight.item() == 2.0
    assert any(line.startswith("[EARLY_STOP]") for line in loop.lines)
    assert loop.lines[-1].startswith("[CHECKPOINT] run_id=scripted best_epoch=2 macro_f1=70.0")


def test_without_patience_all_epochs_run_and_the_best_is_kept() -> None:
    loop = _ScriptedLoop([0.5, 0.7, 0.6, 0.55, 0.65], patience=None)
    best_epoch, history, _, stopped = fit(loop)  # type: ignore[arg-type]
    assert (best_epoch, len(history), stopped) == (2, 5, False)
    assert loop.model.weight.item() == 2.0


def test_batches_without_buckets_cut_the_order_as_it_is() -> None:
    order = [5, 3, 0, 4, 1, 2, 6]
    assert train_module.batches_of(order, [1] * 7, 3, None, seed=0) == [[5, 3, 0], [4, 1, 2], [6]]


def test_length_buckets_batch_similar_lengths_and_keep_every_example_once() -> None:
    lengths = [(7 * i) % 23 + 1 for i in range(40)]
    order = list(np.random.default_rng(1).permutation(40))
    batches = train_module.batches_of(order, lengths, 4, 5, seed=3)
    assert sorted(i for batch in batches for i in batch) == list(range(40))
    assert [len(b) for b in batches] == [4] * 10
    for begin in range(0, 40, 20):  # each run of 5 batches is the sorted run of the shuffled order
        run = sorted(order[begin : begin + 20], key=lambda i: lengths[i])
        cuts = [run[s : s + 4] for s in range(0, 20, 4)]
        assert all(cut in batches for cut in cuts)

    def padded(cut: list[list[int]]) -> int:
        return sum(len(b) * max(lengths[i] for i in b) for b in cut)

    assert padded(batches) < padded(train_module.batches_of(order, lengths, 4, None, seed=0))


def test_kept_blocks_are_what_the_saved_model_has(tmp_path: Path, tiny_distilbert_dir: Path) -> None:
    result = train_intent(
        tiny_config(tmp_path, tiny_distilbert_dir, encoder_blocks=[1], length_buckets=2), log=lambda _: None
    )
    base = load_file(str(tiny_distilbert_dir / "model.safetensors"))
    after = load_file(str(result.output_dir / "model.safetensors"))
    assert not any(".layer.1." in name for name in after)
    assert after["distilbert.transformer.layer.0.ffn.lin1.weight"].shape == (
        base["distilbert.transformer.layer.1.ffn.lin1.weight"].shape
    )
    predictor = IntentPredictor.load(result.output_dir)
    assert predictor.model.config.n_layers == 1
    assert predictor.predict_proba(["where is my order"]).shape == (1, 10)


def test_a_block_the_base_lacks_is_refused(tmp_path: Path, tiny_distilbert_dir: Path) -> None:
    with pytest.raises(ValueError, match="has 2 blocks"):
        train_intent(tiny_config(tmp_path, tiny_distilbert_dir, encoder_blocks=[0, 2]), log=lambda _: None)


def test_frozen_blocks_keep_their_weights(tmp_path: Path, tiny_distilbert_dir: Path) -> None:
    result = train_intent(tiny_config(tmp_path, tiny_distilbert_dir, frozen_blocks=1), log=lambda _: None)
    before = load_file(str(tiny_distilbert_dir / "model.safetensors"))
    after = load_file(str(result.output_dir / "model.safetensors"))
    for name in (
        "distilbert.embeddings.word_embeddings.weight",
        "distilbert.transformer.layer.0.attention.q_lin.weight",
    ):
        assert torch.equal(before[name], after[name]), name
    assert not torch.equal(
        before["distilbert.transformer.layer.1.ffn.lin1.weight"],
        after["distilbert.transformer.layer.1.ffn.lin1.weight"],
    )
