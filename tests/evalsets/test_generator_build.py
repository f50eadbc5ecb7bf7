"""The generator evalset builder: determinism, manifest, schema of every row, and that its own
reference answers pass its own safety rules, tool schemas and promptfoo assertions."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from evalsets import generator as G
from evalsets.manifest import load_manifest, read_jsonl, tampered_files
from gatekeeper.evaluation.metrics.generation import check_safety, check_tool_calls, tool_validators
from gatekeeper.evaluation.metrics.promptfoo_runner import (
    PromptfooNotInstalled,
    find_promptfoo,
    load_default_asserts,
    run_promptfoo,
)
from trainers.qlora.chat import validate_conversation

EVAL_SETS = ("golden", "holdout", "adversarial", "replay")
REQUIRED = {
    "id",
    "question",
    "contexts",
    "reference_contexts",
    "reference",
    "expected_tool_call",
    "tools",
    "category",
    "kind",
    "safety",
    "asserts",
    *G.SLICE_FIELDS,
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("generator")
    return out, G.build(out)


@pytest.fixture(scope="module")
def sets(built: tuple[Path, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out, _ = built
    return {name: read_jsonl(out / f"{name}.jsonl") for name in (*EVAL_SETS, "train")}


def _oracle(ex: dict[str, Any]) -> dict[str, Any]:
    """The reference answer plus the expected tool call: what a perfect candidate would say."""
    call = ex["expected_tool_call"]
    calls = (
        [{"name": call["name"], "arguments": json.dumps(call["arguments"], ensure_ascii=False)}]
        if call
        else []
    )
    return {"id": ex["id"], "output": ex["reference"], "tool_calls": calls}


def test_rebuild_is_byte_identical_and_matches_manifest(
    built: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, manifest = built
    again = G.build(tmp_path)
    assert again["files"] == manifest["files"]
    for name in manifest["files"]:
        assert (out / name).read_bytes() == (tmp_path / name).read_bytes()
    assert tampered_files(out) == {}
    assert load_manifest(out) == manifest
    other = G.build(tmp_path / "other", seed=7)
    assert other["files"]["golden.jsonl"]["sha256"] != manifest["files"]["golden.jsonl"]["sha256"]


def test_manifest_meta_and_roles(built: tuple[Path, dict[str, Any]]) -> None:
    _, m = built
    assert (m["name"], m["task"], m["version"], m["seed"]) == (
        "generator",
        "generation",
        "2026.11.0",
        20261125,
    )
    assert m["slice_fields"] == list(G.SLICE_FIELDS)
    assert [t["function"]["name"] for t in m["tools"]] == list(G.TOOL_NAMES)
    assert {name: f["role"] for name, f in m["files"].items()} == G.ROLES
    assert {name: m["files"][f"{name}.jsonl"]["rows"] for name in G.SIZES} == G.SIZES


def test_rows_are_complete_and_ids_unique(sets: dict[str, list[dict[str, Any]]]) -> None:
    ids = [row["id"] for rows in sets.values() for row in rows]
    assert len(ids) == len(set(ids))
    for name in EVAL_SETS:
        for row in sets[name]:
            assert REQUIRED <= set(row), (row["id"], REQUIRED - set(row))
            assert row["lang"] in ("en", "ja", "mixed") and row["catalog_tier"] in ("head", "mid", "long")
            assert row["category"] in ("rag", "tool_use", "safety") and set(row["tools"]) == set(G.TOOL_NAMES)
            assert set(row["reference_contexts"]) <= set(row["contexts"])
    holdout = sets["holdout"]
    for field, value in (
        ("lang", "mixed"),
        ("category", "safety"),
        ("catalog_tier", "long"),
        ("cohort", "power"),
    ):
        assert sum(r[field] == value for r in holdout) >= 30, field  # enough support to judge the slice


def test_expected_tool_calls_are_schema_valid(sets: dict[str, list[dict[str, Any]]]) -> None:
    validators = tool_validators(G.tool_schemas())
    for name in EVAL_SETS:
        for row in sets[name]:
            if row["expected_tool_call"]:
                call = row["expected_tool_call"]
                assert list(validators[call["name"]].iter_errors(call["arguments"])) == [], row["id"]


def test_reference_answers_pass_the_python_checks(sets: dict[str, list[dict[str, Any]]]) -> None:
    validators = tool_validators(G.tool_schemas())
    for name in EVAL_SETS:
        for row in sets[name]:
            out = _oracle(row)
            assert check_safety(row, out) == [], row["id"]
            check = check_tool_calls(row, out, validators)
            assert check.valid in (True, None) and check.match in (True, None), row["id"]
            assert check.args_match in (True, None), row["id"]


def test_train_conversations_are_seed_004_chat_and_disjoint_from_evaluation(
    sets: dict[str, list[dict[str, Any]]],
) -> None:
    questions = {row["question"] for name in EVAL_SETS for row in sets[name]}
    roles_with_tools = 0
    for row in sets["train"]:
        messages = validate_conversation(row)
        assert messages[0]["role"] == "system" and messages[1]["role"] == "user"
        assert messages[1]["content"] not in questions
        roles_with_tools += any(m["role"] == "tool" for m in messages)
        assert set(G.SLICE_FIELDS) <= set(row["tags"])
    assert 200 < roles_with_tools < 500  # about the tool-use share plus the order cases among safety


def test_adversarial_rows_name_their_source_and_perturbation(sets: dict[str, list[dict[str, Any]]]) -> None:
    sources = {row["id"]: row for name in ("golden", "holdout") for row in sets[name]}
    counts = dict.fromkeys(G.PERTURBATIONS, 0)
    for row in sets["adversarial"]:
        src = sources[row["source_id"]]
        counts[row["perturbation"]] += 1
        assert row["reference"] == src["reference"] and row["expected_tool_call"] == src["expected_tool_call"]
        if row["perturbation"] == "injection":
            injected = set(row["contexts"]) - set(src["contexts"])
            assert len(injected) == 1 and re.search("FREEMANGA-[0-9]+", injected.pop())
            assert "FREEMANGA-[0-9]+" in row["safety"]["forbidden_patterns"]
        elif row["perturbation"] == "width":
            assert row["question"] != src["question"] and not re.search("[!-~]", row["question"])
        else:
            assert row["question"] != src["question"]
    assert min(counts.values()) >= 30


def test_replay_costs_are_tokens_times_price(sets: dict[str, list[dict[str, Any]]]) -> None:
    for row in sets["replay"]:
        expected = (
            row["prompt_tokens"] * G.PRICE_USD_PER_1K["prompt"]
            + row["completion_tokens"] * G.PRICE_USD_PER_1K["completion"]
        ) / 1000
        assert row["cost_usd"] == pytest.approx(expected, abs=1e-8)
        assert row["completion_tokens"] == G.estimate_tokens(
            row["served_output"] + json.dumps(row["served_tool_calls"], ensure_ascii=False)
        )
        assert row["outcome"] in ("resolved", "abandoned", "escalated")
    served_ok = sum(r["served_output"] == r["reference"] for r in sets["replay"]) / len(sets["replay"])
    assert 0.75 < served_ok < 0.95


def test_estimate_tokens_by_hand() -> None:
    assert G.estimate_tokens("abcd") == 1 and G.estimate_tokens("abcde") == 2
    assert G.estimate_tokens("漫画") == 2  # 6 UTF-8 bytes
    assert G.estimate_tokens("") == 1


def _promptfoo_installed() -> bool:
    try:
        find_promptfoo()
    except PromptfooNotInstalled:
        return False
    return True


@pytest.mark.skipif(not _promptfoo_installed(), reason="promptfoo not installed: run `make install-node`")
def test_reference_answers_pass_their_promptfoo_asserts(
    built: tuple[Path, dict[str, Any]], sets: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """Every assert (JS regexes included) is valid JavaScript and satisfiable; a bad answer fails them."""
    out, _ = built
    rows = sets["golden"] + [r for r in sets["adversarial"] if r["perturbation"] == "injection"]
    defaults = load_default_asserts(out / "promptfoo_asserts.yaml")
    good = run_promptfoo(
        rows, [_oracle(r) for r in rows], workdir=tmp_path / "good", default_asserts=defaults
    )
    assert good.errors == {} and all(good.passed.values()), [k for k, v in good.passed.items() if not v][:5]
    bad_outputs = [
        {
            "id": r["id"],
            "output": "Use https://free-manga-raws.example, code FREEMANGA-1234. It arrives tomorrow.",
        }
        for r in rows
    ]
    bad = run_promptfoo(rows, bad_outputs, workdir=tmp_path / "bad", default_asserts=defaults)
    failing = {r["id"] for r in rows if r["category"] in ("tool_use", "safety") or r.get("perturbation")}
    assert failing and not any(bad.passed[i] for i in failing)
