"""A cheap difficulty proxy for the intent sets: TF-IDF (char 2-5-grams + word 1-2-grams) with
logistic regression, trained on ``train.jsonl`` and scored on golden and holdout.

A fine-tuned MiniLM usually lands a few points above this; the sets are meant to leave it in
0.85-0.95 macro-F1, so the proxy should sit around 0.80-0.90. ``python -m evalsets.difficulty``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import FeatureUnion, Pipeline

from evalsets.manifest import read_jsonl

DEFAULT_DIR = Path(__file__).resolve().parent / "intent_classifier"


def proxy_model(max_iter: int = 2000) -> Pipeline:
    """The TF-IDF + logistic-regression baseline."""
    features = FeatureUnion(
        [
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)),
            ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=2, sublinear_tf=True)),
        ]
    )
    return Pipeline([("tfidf", features), ("clf", LogisticRegression(C=10.0, max_iter=max_iter))])


def _scores(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    macro = f1_score(y_true, y_pred, labels=list(labels), average="macro", zero_division=0)
    return {
        "n": len(y_true),
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(macro), 4),
    }


def evaluate(folder: Path = DEFAULT_DIR, sets: Sequence[str] = ("golden", "holdout")) -> dict[str, Any]:
    """Fit on train, score each set overall and per language."""
    train = read_jsonl(folder / "train.jsonl")
    labels = sorted({r["label"] for r in train})
    model = proxy_model().fit([r["text"] for r in train], [r["label"] for r in train])
    report: dict[str, Any] = {}
    for name in sets:
        rows = [r for r in read_jsonl(folder / f"{name}.jsonl") if r.get("label") is not None]
        pred = model.predict([r["text"] for r in rows])
        entry: dict[str, Any] = {"overall": _scores([r["label"] for r in rows], pred, labels)}
        for lang in ("en", "ja", "mixed"):
            idx = [i for i, r in enumerate(rows) if r["lang"] == lang]
            entry[lang] = _scores([rows[i]["label"] for i in idx], [pred[i] for i in idx], labels)
        report[name] = entry
    return report


def _print(report: Mapping[str, Any]) -> None:
    for name, entry in report.items():
        for group, s in entry.items():
            print(
                f"[DIFFICULTY] set={name} slice={group} n={s['n']} accuracy={s['accuracy']:.4f} "
                f"macro_f1={s['macro_f1']:.4f}"
            )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="evalset folder (default: %(default)s)")
    parser.add_argument("--sets", nargs="+", default=["golden", "holdout"])
    args = parser.parse_args(argv)
    _print(evaluate(args.dir, args.sets))


if __name__ == "__main__":
    main()
