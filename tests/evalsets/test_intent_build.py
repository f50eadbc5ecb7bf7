"""The intent evalsets: deterministic, at the seed's class shares, sliced, and shipped as built."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from statistics import mean
from typing import Any

import pytest
import yaml
from sklearn.metrics import cohen_kappa_score

from evalsets import _intent_templates as T
from evalsets import build as builder
from evalsets import intent
from evalsets._intent_perturb import perturb
from evalsets.catalog import TITLES
from evalsets.manifest import load_manifest, read_jsonl, tampered_files

COMMITTED = Path(intent.__file__).resolve().parent / "intent_classifier"
ROOT = COMMITTED.parent.parent
LABELLED_SPLITS = ("train", "validation", "golden", "holdout", "adversarial", "replay")
SMALL = 0.05


@pytest.fixture(scope="module")
def committed() -> dict[str, list[dict[str, Any]]]:
    return {split: read_jsonl(COMMITTED / name) for split, (name, _) in intent.FILES.items()}


@pytest.fixture(scope="module")
def small_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("intent-small")
    intent.build(out, seed=7, scale=SMALL)
    return out


@pytest.fixture(scope="module")
def small_sets() -> intent.IntentSets:
    return intent.generate(seed=11, scale=0.2)


def _shas(folder: Path) -> dict[str, str]:
    return {name: entry["sha256"] for name, entry in load_manifest(folder)["files"].items()}


def _slice_rows(rows: dict[str, list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    for split in LABELLED_SPLITS:
        yield from rows[split]


# Determinism ------------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files(small_build: Path, tmp_path: Path) -> None:
    again = intent.build(tmp_path, seed=7, scale=SMALL)
    assert {n: e["sha256"] for n, e in again["files"].items()} == _shas(small_build)
    assert (tmp_path / "manifest.yaml").read_bytes() == (small_build / "manifest.yaml").read_bytes()
    assert tampered_files(tmp_path) == {}


def test_different_seed_changes_every_file(small_build: Path, tmp_path: Path) -> None:
    other = intent.build(tmp_path, seed=8, scale=SMALL)
    before = _shas(small_build)
    assert all(entry["sha256"] != before[name] for name, entry in other["files"].items())


def test_output_does_not_depend_on_the_hash_seed(small_build: Path, tmp_path: Path) -> None:
    # This process runs under a random hash seed (or the caller's); the child under a fixed other one.
    hash_seed = "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"
    code = (
        f"import sys; from pathlib import Path; from evalsets.intent import build; "
        f"build(Path(sys.argv[1]), 7, {SMALL})"
    )
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, env=env, cwd=ROOT)
    assert _shas(tmp_path) == _shas(small_build)


# The committed files -----------------------------------------------------------------------------


def test_committed_manifest_matches_committed_files() -> None:
    assert tampered_files(COMMITTED) == {}


def test_committed_manifest_describes_the_sets(committed: dict[str, list[dict[str, Any]]]) -> None:
    meta = load_manifest(COMMITTED)
    assert meta["name"] == "intent_classifier" and meta["task"] == "classification"
    assert meta["version"] == intent.VERSION and meta["seed"] == intent.DEFAULT_SEED
    assert meta["labels"] == list(T.INTENT_SHARES)
    assert meta["critical_classes"] == ["escalation", "return_request", "checkout_help"]
    assert meta["slice_fields"] == ["lang", "cohort", "device", "catalog_tier", "time_bucket"]
    assert set(meta["route_costs"]) == set(meta["labels"])
    assert meta["route_costs"]["escalation"] > 100 * meta["route_costs"]["faq"]
    assert 0.02 <= meta["label_noise_rate"] <= 0.04
    roles = {name: entry["role"] for name, entry in meta["files"].items()}
    assert roles == {name: split for split, (name, _) in intent.FILES.items()}
    for split, (name, _) in intent.FILES.items():
        assert meta["files"][name]["rows"] == len(committed[split])


def test_committed_sizes(committed: dict[str, list[dict[str, Any]]]) -> None:
    sizes = {split: len(rows) for split, rows in committed.items()}
    assert sizes == {
        "train": 20000,
        "validation": 2000,
        "golden": 2000,
        "holdout": 10000,
        "adversarial": 1000,
        "replay": 5000,
        "label_qa": 800,
    }


def test_check_regenerates_the_committed_sets_byte_for_byte() -> None:
    assert builder.check("intent_classifier", COMMITTED) == {}


@pytest.mark.parametrize("split", LABELLED_SPLITS)
def test_class_shares_within_half_a_point(committed: dict[str, list[dict[str, Any]]], split: str) -> None:
    labels = [r["label"] for r in committed[split] if r["label"] is not None]
    counts = Counter(labels)
    assert set(counts) == set(T.INTENT_SHARES)
    for label, share in T.INTENT_SHARES.items():
        assert abs(100 * counts[label] / len(labels) - share) <= 0.5, (split, label)


def test_every_example_carries_valid_slice_fields(committed: dict[str, list[dict[str, Any]]]) -> None:
    for row in _slice_rows(committed):
        for field, values in intent.SLICE_VALUES.items():
            assert row[field] in values, (row["id"], field)
        assert isinstance(row["text"], str) and row["text"].strip()
    for row in committed["label_qa"]:
        assert row["lang"] in intent.SLICE_VALUES["lang"] and row["pool"] in ("en", "ja")


def test_ids_unique_across_the_folder_and_prefixed_by_set(committed: dict[str, list[dict[str, Any]]]) -> None:
    ids = [row["id"] for rows in committed.values() for row in rows]
    assert len(ids) == len(set(ids))
    for split, (_, prefix) in intent.FILES.items():
        assert all(row["id"].startswith(prefix + "-") for row in committed[split])


def test_slices_large_enough_for_the_slice_gate(committed: dict[str, list[dict[str, Any]]]) -> None:
    holdout = committed["holdout"]
    for field, values in intent.SLICE_VALUES.items():
        counts = Counter(r[field] for r in holdout)
        assert all(counts[v] >= 100 for v in values), (field, counts)
    triples = Counter((r["lang"], r["cohort"], r["catalog_tier"]) for r in holdout)
    assert triples[("ja", "power", "long")] >= 150
    assert all(c >= 100 for c in Counter(r["label"] for r in holdout).values())


def test_language_mix_and_slice_correlations(committed: dict[str, list[dict[str, Any]]]) -> None:
    rows = committed["holdout"] + committed["train"]
    langs = Counter(r["lang"] for r in rows)
    assert abs(langs["en"] / len(rows) - 0.60) < 0.03
    assert abs(langs["ja"] / len(rows) - 0.30) < 0.03
    assert abs(langs["mixed"] / len(rows) - 0.10) < 0.02

    def share(subset: list[dict[str, Any]], test: Any) -> float:
        return sum(1 for r in subset if test(r)) / len(subset)

    peak = [r for r in rows if r["time_bucket"] == "peak"]
    off = [r for r in rows if r["time_bucket"] == "off_peak"]
    assert share(off, lambda r: r["lang"] == "ja") > share(peak, lambda r: r["lang"] == "ja") + 0.1
    power = [r for r in rows if r["cohort"] == "power"]
    new = [r for r in rows if r["cohort"] == "new"]

    def long_tail(r: dict[str, Any]) -> bool:
        return r["catalog_tier"] == "long"

    def onboarding(r: dict[str, Any]) -> bool:
        return r["label"] in ("faq", "checkout_help")

    assert share(power, long_tail) > 2 * share(new, long_tail)
    assert share(new, onboarding) > 2 * share(power, onboarding)
    mobile = mean(len(r["text"]) for r in rows if r["device"] != "web")
    web = mean(len(r["text"]) for r in rows if r["device"] == "web")
    assert mobile < web - 2


def test_text_has_the_forms_real_traffic_has(committed: dict[str, list[dict[str, Any]]]) -> None:
    texts = [r["text"] for r in committed["holdout"]]
    ja = [t for t in texts if any("\u3040" <= ch <= "\u30ff" for ch in t)]
    for polite in ("です", "ます", "ください", "いただけますか"):
        assert any(polite in t for t in ja), polite
    for casual in ("てる", "じゃん", "かな"):
        assert any(casual in t for t in ja), casual
    for name in ("en", "ja", "romaji"):
        assert sum(1 for t in texts if any(getattr(title, name) in t for title in TITLES)) > 100, name
    assert sum(1 for t in texts if any(ch in t for ch in T.EMOJI)) > 50
    assert sum(1 for t in texts if "MA-" in t or "114-" in t or "#" in t) > 100


def test_enough_templates_per_intent_and_language() -> None:
    for label in T.INTENT_SHARES:
        assert len(set(T.EN[label])) >= 40, label
        assert len(set(T.JA[label])) >= 25, label
        assert len(set(T.MIXED[label])) >= 15, label
    for templates in T.AMBIGUOUS.values():
        for _, dist in templates:
            assert abs(sum(dist.values()) - 1.0) < 1e-9 and len(dist) >= 2


def test_adversarial_rows_are_perturbed_copies_of_sources(committed: dict[str, list[dict[str, Any]]]) -> None:
    sources = {r["id"]: r for r in committed["golden"] + committed["holdout"]}
    kinds: Counter[str] = Counter()
    for row in committed["adversarial"]:
        source = sources[row["source_id"]]
        assert row["label"] == source["label"]
        assert row["text"] != source["text"]
        assert all(row[f] == source[f] for f in intent.SLICE_FIELDS)
        kinds[row["perturbation"]] += 1
    assert set(kinds) == {"typo", "code_mix", "width", "homoglyph", "zero_width", "emoji"}
    assert min(kinds.values()) >= 150
    by_kind = {r["perturbation"]: r["text"] for r in committed["adversarial"]}
    assert any(ch in by_kind["zero_width"] for ch in "\u200b\u200c\u200d\u2060\ufeff")


def test_replay_logs(committed: dict[str, list[dict[str, Any]]]) -> None:
    rows = committed["replay"]
    costs = load_manifest(COMMITTED)["route_costs"]
    known = [r for r in rows if r["label"] is not None]
    assert 0.55 <= len(known) / len(rows) <= 0.65
    accuracy = sum(r["served_label"] == r["label"] for r in known) / len(known)
    assert 0.88 <= accuracy <= 0.92
    assert all(r["route_cost"] == costs[r["served_label"]] for r in rows)
    assert {r["outcome"] for r in rows} == {"resolved", "escalated", "abandoned"}
    right = [r for r in known if r["served_label"] == r["label"]]
    wrong = [r for r in known if r["served_label"] != r["label"]]
    resolved = {
        name: sum(r["outcome"] == "resolved" for r in group) / len(group)
        for name, group in (("right", right), ("wrong", wrong))
    }
    assert resolved["right"] > resolved["wrong"] + 0.3


def test_label_qa_pools_pass_the_kappa_floor(committed: dict[str, list[dict[str, Any]]]) -> None:
    rows = committed["label_qa"]
    for pool, target in intent.KAPPA_TARGETS.items():
        members = [r for r in rows if r["pool"] == pool]
        assert len(members) == 400
        assert {r["lang"] for r in members} == ({"en"} if pool == "en" else {"ja", "mixed"})
        first = [r["labels"][0]["label"] for r in members]
        second = [r["labels"][1]["label"] for r in members]
        kappa = cohen_kappa_score(first, second)
        assert 0.75 <= kappa <= target + 0.01
        assert target - kappa < 0.02
        assert {r["labels"][0]["annotator"] for r in members} == {intent.ANNOTATORS[pool][0]}


# Generation logic --------------------------------------------------------------------------------


def test_quotas_are_exact_and_sum_to_n() -> None:
    for n in (1, 37, 2000, 20001):
        q = intent.quotas(n)
        assert sum(q.values()) == n
        assert all(abs(q[k] - n * s / 100) < 1 for k, s in T.INTENT_SHARES.items())


def test_label_noise_only_in_train_and_only_to_neighbours(small_sets: intent.IntentSets) -> None:
    train = {r["id"]: r for r in small_sets.rows["train"]}
    assert small_sets.noisy_ids <= set(train)
    assert 0.02 <= len(small_sets.noisy_ids) / len(train) <= 0.04
    for row_id, row in train.items():
        clean = small_sets.clean_labels[row_id]
        if row_id in small_sets.noisy_ids:
            assert row["label"] != clean
            pairs = {(a, b) for a, b, _ in intent._NOISE_PAIRS}
            assert (clean, row["label"]) in pairs or (row["label"], clean) in pairs
        else:
            assert row["label"] == clean
    # Swaps go both ways, so the noisy train split keeps the exact quotas.
    assert Counter(r["label"] for r in train.values()) == Counter(intent.quotas(len(train)))


def test_golden_over_represents_edge_cases(small_sets: intent.IntentSets) -> None:
    def share(split: str, test: Any) -> float:
        rows = small_sets.rows[split]
        return sum(1 for r in rows if test(r)) / len(rows)

    multi = lambda r: small_sets.kinds[r["id"]] == "multi"  # noqa: E731
    mixed = lambda r: r["lang"] == "mixed"  # noqa: E731
    assert share("golden", multi) > share("holdout", multi) + 0.05
    assert share("golden", mixed) > share("holdout", mixed) + 0.05


def test_replay_errors_concentrate_on_hard_messages(small_sets: intent.IntentSets) -> None:
    known = [r for r in small_sets.rows["replay"] if r["label"] is not None]

    def error(kind: str) -> float:
        group = [r for r in known if small_sets.kinds[r["id"]] == kind]
        return sum(r["served_label"] != r["label"] for r in group) / len(group)

    assert error("ambiguous") > 2 * error("clean")


def test_perturbations_change_the_text_but_not_what_a_reader_sees() -> None:
    rng = random.Random(0)
    assert unicodedata.normalize("NFKC", perturb("width", "vol 3 please", "en", rng)) == "vol 3 please"
    zw = perturb("zero_width", "where is my order", "en", rng)
    assert zw != "where is my order" and "".join(ch for ch in zw if ch.isprintable()) == "where is my order"
    glyphs = perturb("homoglyph", "escape", "en", rng)
    assert glyphs != "escape" and len(glyphs) == len("escape") and not glyphs.isascii()


# build.py ----------------------------------------------------------------------------------------


def test_build_dispatches_and_refuses_unknown_targets(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown evalset target"):
        builder.build("spam_filter", tmp_path)
    assert builder.default_dir("intent_classifier") == COMMITTED


def test_check_reports_a_drifted_manifest(small_build: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(small_build, copy)
    assert builder.check("intent_classifier", copy) == {}
    manifest = yaml.safe_load((copy / "manifest.yaml").read_text(encoding="utf-8"))
    manifest["files"]["golden.jsonl"]["sha256"] = "0" * 64
    (copy / "manifest.yaml").write_text(
        yaml.safe_dump(manifest, sort_keys=True, allow_unicode=True), encoding="utf-8"
    )
    bad = builder.check("intent_classifier", copy)
    assert set(bad) == {"golden.jsonl", "manifest.yaml"}
    assert bad["golden.jsonl"][0] == "0" * 64


def test_cli_check_and_summary(small_build: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert builder.main(["intent_classifier", "--out", str(small_build), "--check"]) == 0
    assert "byte-identical" in capsys.readouterr().out
    lines = builder.summarize(small_build, load_manifest(small_build))
    train = next(line for line in lines if line.strip().startswith("train.jsonl"))
    assert "rows=1000" in train and "product_discovery=22.1%" in train and "escalation=3.0%" in train


def test_rows_are_canonical_json(small_build: Path) -> None:
    first = (small_build / "holdout.jsonl").read_text(encoding="utf-8").splitlines()[0]
    row = json.loads(first)
    assert first == json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert set(row) == {"id", "text", "label", "lang", "cohort", "device", "catalog_tier", "time_bucket"}
