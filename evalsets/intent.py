"""Generate the MangaAssist intent-classifier evalsets (DESIGN section 10) from a seed.

Labelling guideline (what a label means, applied the same way in every file):

- product_discovery: find, browse or search products; buying a named title without asking about it.
- recommendation: the assistant should choose for the user, from taste or a reference title.
- product_question: an attribute of a specific product: stock, price, release date, edition, content.
- order_tracking: status, location or arrival of an order already placed.
- return_request: return, refund, exchange or replacement of something bought.
- faq: store-wide policy or how-to, not about one order or product.
- chitchat: social talk with no request.
- promotion: sales, coupons, points and campaigns.
- checkout_help: trouble or how-to while paying or placing an order, including a code failing at checkout.
- escalation: asks for a person, complains formally, threatens a dispute.
- Two requests in one message: the more urgent one, by ``PRIORITY`` (escalation first, chitchat last).
- Short or underspecified messages ("volume 3?", "still not here"): the intent the session shows;
  the message alone cannot settle it, so no model reaches 1.0.

Everything is drawn from ``random.Random`` instances seeded by ``f"{seed}:{part}"`` (SHA-512 based,
so no dependence on ``PYTHONHASHSEED``); rebuilding with the same seed gives byte-identical files.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sklearn.metrics import cohen_kappa_score

from evalsets import _intent_templates as T
from evalsets._intent_perturb import PERTURBATIONS, perturb
from evalsets._intent_text import Draft, Style, choose_kind, draft
from evalsets.manifest import write_jsonl, write_manifest

DEFAULT_SEED = 20261125
VERSION = "2026.11.0"
INTENTS: tuple[str, ...] = tuple(T.INTENT_SHARES)
CRITICAL_CLASSES: tuple[str, ...] = (T.ESC, T.RR, T.CH)
SLICE_VALUES: dict[str, tuple[str, ...]] = {
    "lang": ("en", "ja", "mixed"),
    "cohort": ("new", "returning", "power"),
    "device": ("web", "ios", "android"),
    "catalog_tier": ("long", "mid", "head"),
    "time_bucket": ("peak", "off_peak"),
}
SLICE_FIELDS: tuple[str, ...] = tuple(SLICE_VALUES)
# USD per request of the downstream route each intent triggers (ours; seed 003 gives no figures).
ROUTE_COSTS: dict[str, float] = {
    T.PD: 0.0048,  # LLM + catalogue retrieval
    T.REC: 0.0056,  # LLM + retrieval + reranker
    T.PQ: 0.0032,  # RAG over the product page
    T.OT: 0.0008,  # order API + template
    T.FAQ: 0.0004,  # help-centre retrieval
    T.RR: 0.0015,  # returns workflow
    T.CHIT: 0.0006,  # small LLM reply
    T.PROMO: 0.001,  # promotions lookup
    T.CH: 0.0012,  # checkout flow assistant
    T.ESC: 0.9,  # human agent
}
SIZES: dict[str, int] = {
    "golden": 2000,
    "holdout": 10000,
    "validation": 2000,
    "train": 20000,
    "adversarial": 1000,
    "replay": 5000,
    "label_qa": 400,  # label_qa: per pool
}
FILES: dict[str, tuple[str, str]] = {  # split -> (file, id prefix)
    "train": ("train.jsonl", "train"),
    "validation": ("validation.jsonl", "val"),
    "golden": ("golden.jsonl", "golden"),
    "holdout": ("holdout.jsonl", "holdout"),
    "adversarial": ("adversarial.jsonl", "adv"),
    "replay": ("replay.jsonl", "replay"),
    "label_qa": ("label_qa.jsonl", "qa"),
}
LABEL_NOISE_RATE = 0.03
KAPPA_TARGETS: dict[str, float] = {"en": 0.80, "ja": 0.77}
REPLAY_LABELLED_SHARE = 0.6
ANNOTATORS: dict[str, tuple[str, str]] = {"en": ("en-a03", "en-a11"), "ja": ("ja-a02", "ja-a09")}
# "hi" or "荷物どこ？" repeat in real traffic; longer texts never repeat anywhere in the folder.
_DEDUP_MIN_WIDTH = 16

_LANG_BY_TIME: dict[str, dict[str, float]] = {  # off-peak traffic skews Japanese (seed 002 4.2)
    "peak": {"en": 0.66, "ja": 0.24, "mixed": 0.10},
    "off_peak": {"en": 0.48, "ja": 0.42, "mixed": 0.10},
}
_GOLDEN_LANG: dict[str, dict[str, float]] = {
    "peak": {"en": 0.50, "ja": 0.28, "mixed": 0.22},
    "off_peak": {"en": 0.38, "ja": 0.40, "mixed": 0.22},
}
_COHORT_BY_INTENT: dict[str, tuple[float, float, float]] = {  # new, returning, power
    T.FAQ: (0.50, 0.38, 0.12),
    T.CH: (0.52, 0.36, 0.12),
    T.PROMO: (0.36, 0.48, 0.16),
    T.REC: (0.20, 0.48, 0.32),
    T.PQ: (0.22, 0.48, 0.30),
    T.PD: (0.28, 0.50, 0.22),
    T.OT: (0.20, 0.60, 0.20),
    T.RR: (0.22, 0.58, 0.20),
    T.ESC: (0.26, 0.54, 0.20),
    T.CHIT: (0.36, 0.44, 0.20),
}
_TIER_BY_COHORT: dict[str, tuple[float, float, float]] = {  # long, mid, head: power users go long-tail
    "new": (0.10, 0.30, 0.60),
    "returning": (0.20, 0.36, 0.44),
    "power": (0.48, 0.32, 0.20),
}
_DEVICE_BY_COHORT: dict[str, tuple[float, float, float]] = {  # web, ios, android
    "new": (0.34, 0.36, 0.30),
    "returning": (0.38, 0.34, 0.28),
    "power": (0.52, 0.28, 0.20),
}
_DEVICE_LANG_FACTOR: dict[str, tuple[float, float, float]] = {
    "en": (1.0, 0.9, 1.1),
    "ja": (0.8, 1.4, 0.9),
    "mixed": (0.9, 1.2, 1.0),
}
_NOISE_PAIRS: tuple[tuple[str, str, float], ...] = (
    (T.PD, T.REC, 3.0),
    (T.PD, T.PQ, 2.0),
    (T.REC, T.PQ, 2.0),
    (T.OT, T.RR, 2.0),
    (T.OT, T.ESC, 1.0),
    (T.RR, T.ESC, 1.0),
    (T.PROMO, T.CH, 1.5),
    (T.PROMO, T.FAQ, 1.0),
    (T.CH, T.FAQ, 1.0),
    (T.CHIT, T.REC, 1.0),
    (T.FAQ, T.OT, 1.0),
)


@dataclass(frozen=True)
class Profile:
    """How one set's traffic differs from the rest."""

    lang: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: _LANG_BY_TIME)
    p_ambiguous: float = 0.17
    p_multi: float = 0.16
    style_boost: float = 1.0


PRODUCTION = Profile()
GOLDEN = Profile(lang=_GOLDEN_LANG, p_ambiguous=0.18, p_multi=0.26, style_boost=1.8)  # edge cases up
REPLAY = Profile(p_ambiguous=0.20, p_multi=0.17, style_boost=1.1)  # traffic drifts toward harder queries
# Escalations are mostly spelled out ("human please"); fewer of them hide in a short complaint.
_AMBIGUITY_BY_INTENT: dict[str, float] = {T.ESC: 0.75, T.CH: 0.9}


@dataclass
class Example:
    row: dict[str, Any]
    kind: str
    alternatives: tuple[str, ...]


@dataclass
class IntentSets:
    """The generated rows per file, plus what the rows deliberately do not record."""

    rows: dict[str, list[dict[str, Any]]]
    noisy_ids: frozenset[str]
    clean_labels: dict[str, str]  # train id -> label before noise
    kinds: dict[str, str]  # id -> clean | ambiguous | multi, for every generated (not perturbed) row
    stats: dict[str, Any]


def quotas(n: int, shares: Mapping[str, float] = T.INTENT_SHARES) -> dict[str, int]:
    """Split n by shares with the largest-remainder method, so every split hits the shares exactly."""
    total = sum(shares.values())
    exact = {k: n * v / total for k, v in shares.items()}
    counts = {k: int(x) for k, x in exact.items()}
    order = sorted(shares, key=lambda k: (-(exact[k] - counts[k]), list(shares).index(k)))
    for k in order[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


def _pick(rng: random.Random, values: Sequence[str], weights: Sequence[float]) -> str:
    return rng.choices(values, weights=weights, k=1)[0]


def _label_list(n: int, rng: random.Random) -> list[str]:
    labels = [label for label, count in quotas(n).items() for _ in range(count)]
    rng.shuffle(labels)
    return labels


def _attributes(label: str, profile: Profile, rng: random.Random) -> dict[str, str]:
    """Slice fields with the correlations production shows."""
    time_bucket = _pick(rng, ("peak", "off_peak"), (0.62, 0.38))
    lang_weights = profile.lang[time_bucket]
    lang = _pick(rng, SLICE_VALUES["lang"], [lang_weights.get(v, 0.0) for v in SLICE_VALUES["lang"]])
    cohort = _pick(rng, SLICE_VALUES["cohort"], _COHORT_BY_INTENT[label])
    tier = _pick(rng, SLICE_VALUES["catalog_tier"], _TIER_BY_COHORT[cohort])
    device_w = [a * b for a, b in zip(_DEVICE_BY_COHORT[cohort], _DEVICE_LANG_FACTOR[lang], strict=True)]
    device = _pick(rng, SLICE_VALUES["device"], device_w)
    return {
        "lang": lang,
        "cohort": cohort,
        "device": device,
        "catalog_tier": tier,
        "time_bucket": time_bucket,
    }


def _style(attrs: Mapping[str, str], boost: float) -> Style:
    mobile = attrs["device"] != "web"
    power, new = attrs["cohort"] == "power", attrs["cohort"] == "new"
    return Style(
        lower=0.45 if mobile else 0.18,
        typo=min(0.6, (0.10 if mobile else 0.06) * boost),
        slang=min(0.6, (0.08 + (0.10 if power else 0.0)) * boost),
        prefix=(0.07 if mobile else 0.15) + (0.08 if new else 0.0),
        suffix=0.10 if mobile else 0.13,
        emoji=min(0.3, (0.07 if mobile else 0.03) * boost),
        no_punct=0.45 if mobile else 0.2,
        short_bias=1.0 if mobile else 0.0,
    )


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _width(text: str) -> int:
    """Display width: a CJK character carries about as much as two Latin ones."""
    return sum(2 if ord(ch) >= 0x2E80 else 1 for ch in text)


class _Writer:
    """Draft messages while keeping longer texts unique across every set built so far."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def write(self, label: str, attrs: Mapping[str, str], profile: Profile, rng: random.Random) -> Draft:
        style = _style(attrs, profile.style_boost)
        mobile = attrs["device"] != "web"
        p_amb = profile.p_ambiguous * (1.25 if mobile else 0.8) * _AMBIGUITY_BY_INTENT.get(label, 1.0)
        kind = choose_kind(label, attrs["lang"], rng, p_ambiguous=p_amb, p_multi=profile.p_multi)
        result = draft(label, attrs["lang"], attrs["catalog_tier"], style, rng, kind=kind)
        for _ in range(30):  # redraw the text, never the kind, so every split keeps the same mix
            key = _norm(result.text)
            if _width(key) < _DEDUP_MIN_WIDTH or key not in self.seen:
                break
            result = draft(label, attrs["lang"], attrs["catalog_tier"], style, rng, kind=kind)
        self.seen.add(_norm(result.text))
        return result


def _examples(split: str, n: int, profile: Profile, rng: random.Random, writer: _Writer) -> list[Example]:
    prefix = FILES[split][1]
    out: list[Example] = []
    for i, label in enumerate(_label_list(n, rng), start=1):
        attrs = _attributes(label, profile, rng)
        d = writer.write(label, attrs, profile, rng)
        row = {"id": f"{prefix}-{i:06d}", "text": d.text, "label": label, **attrs}
        out.append(Example(row, d.kind, d.alternatives))
    return out


def _add_label_noise(examples: list[Example], rate: float, rng: random.Random) -> frozenset[str]:
    """Swap labels within neighbouring pairs, equally in both directions, so class shares stay exact."""
    by_label: dict[str, list[Example]] = {}
    for ex in examples:
        by_label.setdefault(ex.row["label"], []).append(ex)
    pairs_total = sum(w for _, _, w in _NOISE_PAIRS)
    swaps_wanted = round(len(examples) * rate / 2)
    flipped: list[Example] = []
    taken: set[str] = set()
    for a, b, w in _NOISE_PAIRS:
        pools = {side: [ex for ex in by_label.get(side, []) if ex.row["id"] not in taken] for side in (a, b)}
        k = min(round(swaps_wanted * w / pairs_total), len(pools[a]) // 4, len(pools[b]) // 4)
        for source, target in ((a, b), (b, a)):
            # Annotators slip more on messages that are hard to read.
            weights = [3.0 if ex.kind != "clean" else 1.0 for ex in pools[source]]
            for ex in _weighted_sample(pools[source], weights, k, rng):
                taken.add(ex.row["id"])
                flipped.append(ex)
                ex.row["label"] = target
    return frozenset(ex.row["id"] for ex in flipped)


def _weighted_sample(items: Sequence[Any], weights: Sequence[float], k: int, rng: random.Random) -> list[Any]:
    """k items without replacement, chance proportional to weight (Efraimidis-Spirakis keys)."""
    keyed = sorted(((rng.random() ** (1.0 / w), i) for i, w in enumerate(weights)), reverse=True)
    return [items[i] for _, i in keyed[:k]]


def _adversarial(sources: Sequence[Example], n: int, rng: random.Random) -> list[dict[str, Any]]:
    """Perturbed copies of clean examples, one perturbation each, balanced over types and classes."""
    by_label: dict[str, list[Example]] = {}
    for ex in sources:
        by_label.setdefault(ex.row["label"], []).append(ex)
    for pool in by_label.values():
        rng.shuffle(pool)
    kinds = [PERTURBATIONS[i % len(PERTURBATIONS)] for i in range(n)]
    rng.shuffle(kinds)
    labels = _label_list(n, rng)
    used: set[str] = set()
    rows: list[dict[str, Any]] = []
    for i, (label, kind) in enumerate(zip(labels, kinds, strict=True), start=1):
        for ex in by_label[label]:
            if ex.row["id"] in used:
                continue
            text = perturb(kind, ex.row["text"], ex.row["lang"], rng)
            if text != ex.row["text"]:
                used.add(ex.row["id"])
                slices = {f: ex.row[f] for f in SLICE_FIELDS}
                rows.append(
                    {
                        "id": f"adv-{i:06d}",
                        "text": text,
                        "label": label,
                        **slices,
                        "perturbation": kind,
                        "source_id": ex.row["id"],
                    }
                )
                break
        else:
            raise RuntimeError(f"no source of {label} takes a {kind} perturbation")
    return rows


def _champion_error_rate(ex: Example) -> float:
    base = {"clean": 0.03, "multi": 0.12, "ambiguous": 0.27}[ex.kind]
    return base * (1.3 if ex.row["lang"] == "mixed" else 1.0)


def _outcome(correct: bool, served: str, rng: random.Random) -> str:
    if served == T.ESC:
        weights = (0.12, 0.80, 0.08)
    elif correct:
        weights = (0.84, 0.05, 0.11)
    else:
        weights = (0.28, 0.32, 0.40)
    return _pick(rng, ("resolved", "escalated", "abandoned"), weights)


def _replay(examples: list[Example], rng: random.Random) -> list[dict[str, Any]]:
    """Logged sessions: what the champion served, what it cost, how it ended, and the label when known."""
    rows: list[dict[str, Any]] = []
    for ex in examples:
        truth = ex.row["label"]
        wrong = rng.random() < _champion_error_rate(ex)
        served = rng.choice(ex.alternatives) if wrong and ex.alternatives else truth
        outcome = _outcome(served == truth, served, rng)
        rows.append({**ex.row, "served_label": served, "outcome": outcome, "route_cost": ROUTE_COSTS[served]})
    # The true label arrives later, and more often when a person handled the session; per-class
    # quotas keep the labelled rows at the seed's class shares.
    presence = {"escalated": 2.0, "resolved": 1.0, "abandoned": 0.5}
    labelled: set[str] = set()
    for label, keep in quotas(round(len(rows) * REPLAY_LABELLED_SHARE)).items():
        pool = [r for r in rows if r["label"] == label]
        chosen = _weighted_sample(pool, [presence[r["outcome"]] for r in pool], keep, rng)
        labelled.update(r["id"] for r in chosen)
    for r in rows:
        if r["id"] not in labelled:
            r["label"] = None
    return rows


def _kappa(pairs: Sequence[tuple[str, str]]) -> float:
    return float(cohen_kappa_score([a for a, _ in pairs], [b for _, b in pairs]))


def _label_qa(pools: Mapping[str, list[Example]], rng: random.Random) -> tuple[list[dict[str, Any]], dict]:
    """Double-labelled rows per pool, with just enough disagreement to land on each pool's kappa."""
    rows: list[dict[str, Any]] = []
    kappas: dict[str, float] = {}
    counter = 0
    for pool, examples in pools.items():
        pairs = [(ex.row["label"], ex.row["label"]) for ex in examples]
        weights = [3.0 if ex.kind != "clean" else 1.0 for ex in examples]
        order = _weighted_sample(list(range(len(examples))), weights, len(examples), rng)
        for i in order:
            if _kappa(pairs) <= KAPPA_TARGETS[pool]:
                break
            ex = examples[i]
            other = rng.choice(ex.alternatives or T.NEIGHBOURS[ex.row["label"]])
            truth = ex.row["label"]
            pairs[i] = (other, truth) if rng.random() < 0.5 else (truth, other)
        kappas[pool] = round(_kappa(pairs), 4)
        first, second = ANNOTATORS[pool]
        for ex, (a, b) in zip(examples, pairs, strict=True):
            counter += 1
            labels = [{"annotator": first, "label": a}, {"annotator": second, "label": b}]
            rows.append(
                {
                    "id": f"qa-{counter:06d}",
                    "text": ex.row["text"],
                    "lang": ex.row["lang"],
                    "pool": pool,
                    "labels": labels,
                }
            )
    return rows, kappas


def _pool_examples(pool: str, n: int, rng: random.Random, writer: _Writer) -> list[Example]:
    """Label-QA sample of one language pool: EN alone; JA with the code-mixed messages."""
    lang_mix = {"en": {"en": 1.0}, "ja": {"ja": 0.75, "mixed": 0.25}}[pool]
    profile = Profile(lang={t: lang_mix for t in ("peak", "off_peak")})
    return _examples("label_qa", n, profile, rng, writer)


def _rng(seed: int, part: str) -> random.Random:
    return random.Random(f"{seed}:{part}")


def _sizes(scale: float) -> dict[str, int]:
    return {k: max(len(INTENTS) * 4, round(v * scale)) for k, v in SIZES.items()}


def generate(seed: int = DEFAULT_SEED, scale: float = 1.0) -> IntentSets:
    """Build every set in memory (no I/O); ``scale`` shrinks the sizes for fast tests."""
    sizes = _sizes(scale)
    writer = _Writer()
    made: dict[str, list[Example]] = {}
    # Evaluation sets first, so the dedup keeps training text out of them.
    for split, profile in (
        ("golden", GOLDEN),
        ("holdout", PRODUCTION),
        ("validation", PRODUCTION),
        ("train", PRODUCTION),
    ):
        made[split] = _examples(split, sizes[split], profile, _rng(seed, split), writer)
    clean_labels = {ex.row["id"]: ex.row["label"] for ex in made["train"]}
    noisy = _add_label_noise(made["train"], LABEL_NOISE_RATE, _rng(seed, "noise"))
    replay_examples = _examples("replay", sizes["replay"], REPLAY, _rng(seed, "replay"), writer)
    qa_rng = _rng(seed, "label_qa")
    pools = {pool: _pool_examples(pool, sizes["label_qa"], qa_rng, writer) for pool in ("en", "ja")}
    rows = {split: [ex.row for ex in exs] for split, exs in made.items()}
    rows["adversarial"] = _adversarial(
        made["golden"] + made["holdout"], sizes["adversarial"], _rng(seed, "adversarial")
    )
    rows["replay"] = _replay(replay_examples, _rng(seed, "replay-log"))
    rows["label_qa"], kappas = _label_qa(pools, qa_rng)
    kinds = {ex.row["id"]: ex.kind for exs in (*made.values(), replay_examples) for ex in exs}
    stats = {
        "label_noise_rate": round(len(noisy) / len(made["train"]), 4),
        "label_qa_kappa": kappas,
        "replay_served_accuracy": _served_accuracy(rows["replay"]),
    }
    return IntentSets(rows=rows, noisy_ids=noisy, clean_labels=clean_labels, kinds=kinds, stats=stats)


def _served_accuracy(rows: Iterable[Mapping[str, Any]]) -> float:
    known = [r for r in rows if r["label"] is not None]
    return round(sum(r["served_label"] == r["label"] for r in known) / max(1, len(known)), 4)


def meta(seed: int, stats: Mapping[str, Any], scale: float = 1.0) -> dict[str, Any]:
    """The manifest's description of the sets (everything but the per-file hashes)."""
    out: dict[str, Any] = {
        "name": "intent_classifier",
        "task": "classification",
        "version": VERSION,
        "seed": seed,
        "labels": list(INTENTS),
        "label_shares": {k: round(v / 100, 4) for k, v in T.INTENT_SHARES.items()},
        "critical_classes": list(CRITICAL_CLASSES),
        "route_costs": dict(ROUTE_COSTS),
        "route_cost_unit": "USD per request",
        "slice_fields": list(SLICE_FIELDS),
        "slice_values": {k: list(v) for k, v in SLICE_VALUES.items()},
        "label_noise_rate": stats["label_noise_rate"],
        "label_noise_files": ["train.jsonl"],
        "label_qa_kappa": dict(stats["label_qa_kappa"]),
        "replay_served_accuracy": stats["replay_served_accuracy"],
        "multi_intent_priority": list(T.PRIORITY),
    }
    if scale != 1.0:
        out["scale"] = scale
    return out


def build(out_dir: Path, seed: int = DEFAULT_SEED, scale: float = 1.0) -> dict[str, Any]:
    """Generate every intent set into ``out_dir`` and write its manifest; returns the manifest."""
    sets = generate(seed, scale)
    out_dir.mkdir(parents=True, exist_ok=True)
    roles: dict[str, str] = {}
    for split, (name, _) in FILES.items():
        write_jsonl(out_dir / name, sets.rows[split])
        roles[name] = split
    return write_manifest(out_dir, meta=meta(seed, sets.stats, scale), roles=roles)
