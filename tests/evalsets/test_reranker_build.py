"""The reranker evalset builder: deterministic, graded by its one rule, and the replay log estimable."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evalsets import reranker
from evalsets.manifest import load_manifest, read_jsonl, tampered_files
from gatekeeper.evaluation.metrics.ranking import counterfactual_report, top1

COMMITTED = Path(reranker.__file__).resolve().parent / "reranker"
GRADED = ("train.jsonl", "validation.jsonl", "golden.jsonl", "holdout.jsonl", "adversarial.jsonl")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("reranker")
    return out, reranker.build(out)


@pytest.fixture(scope="module")
def products(built: tuple[Path, dict[str, Any]]) -> dict[str, reranker.Product]:
    rows = read_jsonl(built[0] / "products.jsonl")
    return {
        r["doc_id"]: reranker.Product(
            r["doc_id"],
            r["title_key"],
            r["volume"],
            r["format"],
            r["lang"],
            r["genre"],
            r["author"],
            r["tier"],
            r["text"],
        )
        for r in rows
    }


def _shas(manifest: dict[str, Any]) -> dict[str, str]:
    return {name: entry["sha256"] for name, entry in manifest["files"].items()}


def test_rebuild_matches_the_committed_sets_byte_for_byte(built: tuple[Path, dict[str, Any]]) -> None:
    """Same seed, same bytes: the module fixture's fresh build equals the committed folder."""
    out, manifest = built
    committed = load_manifest(COMMITTED)
    assert tampered_files(COMMITTED) == {}
    assert committed["seed"] == reranker.DEFAULT_SEED
    assert _shas(committed) == _shas(manifest)
    assert (COMMITTED / "manifest.yaml").read_bytes() == (out / "manifest.yaml").read_bytes()


def test_seed_changes_the_sets() -> None:
    a = reranker.build_products(random.Random(1))
    b = reranker.build_products(random.Random(2))
    assert a == reranker.build_products(random.Random(1))
    assert [p.text for p in a] != [p.text for p in b]


def test_manifest_meta_roles_and_sizes(built: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = built
    assert manifest["name"] == "reranker" and manifest["task"] == "ranking"
    assert manifest["version"] == "2026.11.0"
    assert manifest["slice_fields"] == ["lang", "cohort", "device", "catalog_tier", "time_bucket"]
    assert manifest["k_values"] == [1, 5, 10] and manifest["relevance_scale"] == [0, 3]
    roles = {name: entry["role"] for name, entry in manifest["files"].items()}
    assert roles == {
        "products.jsonl": "products",
        "train.jsonl": "train",
        "validation.jsonl": "validation",
        "golden.jsonl": "golden",
        "holdout.jsonl": "holdout",
        "adversarial.jsonl": "adversarial",
        "clicks.jsonl": "replay",
    }
    rows = {name: entry["rows"] for name, entry in manifest["files"].items()}
    assert rows["train.jsonl"] == 3000 and rows["validation.jsonl"] == 200 and rows["golden.jsonl"] == 300
    assert rows["holdout.jsonl"] == 1000 and rows["adversarial.jsonl"] == 300 and rows["clicks.jsonl"] == 3000
    total = sum((built[0] / name).stat().st_size for name in manifest["files"])
    assert total < 10 * 2**20


def test_ids_unique_across_the_folder(built: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = built
    ids = [r["id"] for name in manifest["files"] if name != "products.jsonl" for r in read_jsonl(out / name)]
    assert len(ids) == len(set(ids))
    doc_ids = [r["doc_id"] for r in read_jsonl(out / "products.jsonl")]
    assert len(doc_ids) == len(set(doc_ids)) and not set(doc_ids) & set(ids)


def test_grades_follow_the_rule(
    built: tuple[Path, dict[str, Any]], products: dict[str, reranker.Product]
) -> None:
    out, _ = built
    for name in GRADED:
        for row in read_jsonl(out / name):
            cands = row["candidates"]
            assert 20 <= len(cands) <= 32
            assert len({c["doc_id"] for c in cands}) == len(cands)
            grades = [c["relevance"] for c in cands]
            assert grades == [reranker.relevance(row["target"], products[c["doc_id"]]) for c in cands]
            assert max(grades) >= 1, row["id"]
            assert row["query_type"] in reranker.QUERY_TYPES


def test_rule_by_hand(products: dict[str, reranker.Product]) -> None:
    berserk = next(p for p in products.values() if p.title_key == "berserk" and p.volume is not None)
    target = {
        "title_key": "berserk",
        "volume": berserk.volume,
        "format": None,
        "genre": "dark fantasy",
        "author": "Kentaro Miura",
    }
    assert reranker.relevance(target, berserk) == 3
    assert reranker.relevance({**target, "format": "omnibus"}, berserk) == (
        3 if berserk.format == "omnibus" else 2
    )
    assert reranker.relevance({**target, "volume": 10_000}, berserk) == 2
    aot = next(p for p in products.values() if p.title_key == "aot")  # dark fantasy, other author
    assert reranker.relevance(target, aot) == 1
    comedy = next(p for p in products.values() if p.genre == "comedy")
    assert reranker.relevance(target, comedy) == 0
    assert reranker.relevance({"title_key": None, "genre": None, "author": comedy.author}, comedy) == 1


def test_title_volume_queries_have_an_exact_match(built: tuple[Path, dict[str, Any]]) -> None:
    rows = read_jsonl(built[0] / "holdout.jsonl")
    exact = [r for r in rows if r["query_type"] == "title_volume"]
    assert exact and all(max(c["relevance"] for c in r["candidates"]) == 3 for r in exact)


def test_holdout_slices_have_support(built: tuple[Path, dict[str, Any]]) -> None:
    rows = read_jsonl(built[0] / "holdout.jsonl")
    expected = {
        "lang": {"en", "ja", "mixed"},
        "cohort": {"new", "returning", "power"},
        "device": {"web", "ios", "android"},
        "catalog_tier": {"long", "mid", "head"},
        "time_bucket": {"peak", "off_peak"},
    }
    for field, values in expected.items():
        counts = Counter(r[field] for r in rows)
        assert set(counts) == values
        assert min(counts.values()) >= 30, (field, counts)


def test_adversarial_rows_point_at_real_sources(built: tuple[Path, dict[str, Any]]) -> None:
    out, _ = built
    sources = {r["id"]: r for name in ("golden.jsonl", "holdout.jsonl") for r in read_jsonl(out / name)}
    rows = read_jsonl(out / "adversarial.jsonl")
    assert Counter(r["perturbation"] for r in rows) == {p: 50 for p in reranker.PERTURBATIONS}
    for row in rows:
        source = sources[row["source_id"]]
        assert row["query"] != source["query"]
        assert row["candidates"] == source["candidates"]
        assert all(row[f] == source[f] for f in reranker.SLICE_FIELDS)
    assert len({(r["source_id"], r["perturbation"]) for r in rows}) == len(rows)


def test_click_log_is_consistent(built: tuple[Path, dict[str, Any]]) -> None:
    rows = read_jsonl(built[0] / "clicks.jsonl")
    for row in rows:
        shown = row["logged_ranking"]
        assert len(shown) == reranker.SHOWN_SLOTS and len(set(shown)) == len(shown)
        assert set(shown) <= set(row["candidates"])
        assert reranker.LOGGING_EPSILON / len(row["candidates"]) <= row["propensity"] <= 1.0
        if row["clicked_doc_id"] is None:
            assert row["position_clicked"] is None
        else:
            assert row["clicked_doc_id"] == shown[0] and row["position_clicked"] == 1


def test_replay_estimates_an_oracle_policy_within_its_interval(
    built: tuple[Path, dict[str, Any]], products: dict[str, reranker.Product]
) -> None:
    """The click log and the estimators agree: IPS/SNIPS of a known policy cover its analytic value."""
    rows = read_jsonl(built[0] / "clicks.jsonl")
    grades = {
        r["id"]: {d: reranker.relevance(r["target"], products[d]) for d in r["candidates"]} for r in rows
    }
    oracle = top1({qid: {d: float(g) for d, g in by_doc.items()} for qid, by_doc in grades.items()})
    truth = sum(reranker.CTR_BY_GRADE[grades[q][d]] for q, d in oracle.items()) / len(rows)
    report = counterfactual_report(rows, oracle, n_resamples=500, seed=0)
    for name in ("ips", "snips"):
        low, high = report[name]["ci"]
        assert low <= truth <= high, (name, truth, report[name])
    # the logging policy's own CTR is its analytic expectation's neighbour, and the oracle beats it
    assert report["logging_ctr"]["value"] < truth
    assert report["ips"]["matched"] > 100
