"""Build the MangaAssist reranker evalsets: a product catalogue, graded query sets and click logs.

Everything comes from one seeded ``random.Random``; iteration orders are fixed (no set or hash
order), so the same seed rebuilds byte-identical files.

**Catalogue.** Every title of ``evalsets.catalog.TITLES`` yields a few volumes (always 1 and the
latest) in paperback and sometimes kindle, plus one or two whole-series editions (box set,
collector's edition, omnibus; no volume). Each product is listed in English or Japanese. Doc ids
(``p0001``...) are assigned after a seeded shuffle so they carry no information, because score
ties are broken by doc id.

**Queries.** Each query is generated from a structured ``target``
``{title_key, volume, format, genre, author}`` (absent fields are null) and a query type:
``title_volume`` ("Frieren vol 3 paperback", "ベルセルク 最新刊"), ``title``, ``similar``
("dark fantasy like Berserk"), ``genre`` ("泣ける漫画 おすすめ") or ``author``. Title-based
targets carry the title's genre and author. The one relevance rule (``relevance``):

- 3: same title and same volume, and same format when the query names one;
- 2: same title;
- 1: same genre as the target's genre, or same author as the target's author;
- 0: anything else.

Candidates (20-32 per query) hold every product of the target title, products of the same genre,
hard negatives from titles whose names look alike, and random fill; every query has at least one
candidate of relevance >= 1. Slice fields follow the intent sets: ``lang`` en|ja|mixed,
``cohort``, ``device``, ``catalog_tier`` (of the query's reference title) and ``time_bucket``
(off-peak skews Japanese). Rows also keep ``query_type`` and ``target``, so a grade can be
re-derived and results sliced by query type.

**Adversarial.** Golden and holdout queries perturbed in turn by ``typo`` (swap, drop or double a
letter), ``romaji`` (title written in romaji), ``kana`` (katakana <-> hiragana), ``kanji``
(漫画 <-> マンガ, volume digits as kanji numerals), ``width`` (full-width ASCII, or half-width
katakana) and ``code_mix`` (title or genre word swapped between English and Japanese); the row
keeps its source's candidates, grades and slices and names it in ``source_id``.

**Click logs (``clicks.jsonl``, role ``replay``).** For each impression the logging policy scores
candidate i as ``s_i = grade_i + N(0, 1)`` and chooses the top slot from
``pi0(i) = (1 - eps) * softmax(s)_i + eps / n`` (eps = 0.1, so every candidate has
propensity >= eps/n); slots 2-10 follow Plackett-Luce draws over the same scores, and
``logged_ranking`` holds the 10 shown slots (``candidates`` there is a plain doc-id list). Only the
top slot is clicked in this simulation: ``click ~ Bernoulli(CTR[grade of the top item])``.
``propensity`` is ``pi0`` of the item actually shown at slot 1, ``clicked_doc_id`` is that item or
null, ``position_clicked`` is 1 or null. A new deterministic policy pi (its top-1 per query) is
valued by IPS ``mean(1[a_i = pi(x_i)] * c_i / p_i)`` or SNIPS (the same ratio normalised by
``sum(1[a_i = pi(x_i)] / p_i)``) in ``gatekeeper.evaluation.metrics.ranking``. The ``target``
field of a click row is simulation ground truth (grades follow from it by the rule above); a real
log would not have it and the estimators never read it.
"""

from __future__ import annotations

import difflib
import math
import random
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalsets.catalog import GENRES_JA, TITLES, Title
from evalsets.manifest import write_jsonl, write_manifest

NAME = "reranker"
VERSION = "2026.11.0"
DEFAULT_SEED = 20261125
SLICE_FIELDS: tuple[str, ...] = ("lang", "cohort", "device", "catalog_tier", "time_bucket")
K_VALUES: tuple[int, ...] = (1, 5, 10)
PERTURBATIONS: tuple[str, ...] = ("typo", "romaji", "kana", "kanji", "width", "code_mix")
QUERY_TYPES: tuple[str, ...] = ("title_volume", "title", "similar", "genre", "author")

SPLIT_SIZES: dict[str, int] = {"train": 3000, "validation": 200, "golden": 300, "holdout": 1000}
N_ADVERSARIAL = 300
N_CLICKS = 3000
CANDIDATES_RANGE = (20, 32)
SHOWN_SLOTS = 10

# Logging-policy and click model of the replay simulation (documented in the module docstring).
LOGGING_EPSILON = 0.1
LOGGING_NOISE_SD = 1.0
CTR_BY_GRADE: tuple[float, ...] = (0.03, 0.12, 0.35, 0.6)

_TYPE_WEIGHTS = {"title_volume": 0.35, "title": 0.2, "similar": 0.2, "genre": 0.15, "author": 0.1}
_TIER_WEIGHTS = {"head": 0.5, "mid": 0.3, "long": 0.2}
_LANG_WEIGHTS = {"en": 0.45, "ja": 0.35, "mixed": 0.2}
_COHORT_WEIGHTS = {"new": 0.3, "returning": 0.45, "power": 0.25}
_DEVICE_WEIGHTS = {"web": 0.4, "ios": 0.35, "android": 0.25}

_FORMAT_JA = {
    "paperback": "単行本",
    "kindle": "電子書籍",
    "box set": "BOXセット",
    "collector's edition": "特装版",
    "omnibus": "愛蔵版",
}
_SERIES_FORMATS = ("box set", "collector's edition", "omnibus")

_BLURBS_EN: dict[str, tuple[str, ...]] = {
    "adventure": (
        "A crew chases a legendary treasure across wild seas.",
        "An epic voyage full of friendship.",
    ),
    "action": (
        "Relentless battles and rivals who never give up.",
        "A young fighter trains to surpass his limits.",
    ),
    "dark fantasy": (
        "Swords, demons and survival in a merciless world.",
        "A grim tale of revenge and monsters.",
    ),
    "horror": ("Gore, dread and devils lurking in the city.", "A chilling story of monsters among us."),
    "comedy": ("Laugh-out-loud chaos with a big heart.", "Absurd gags and a found family."),
    "fantasy": ("A gentle journey through magic and memory.", "Wizards, dungeons and quiet wonder."),
    "drama": ("A tear-jerking story about growing up.", "An emotional tale that will make you cry."),
    "sports": ("A team fights its way to the national stage.", "Hot-blooded matches and fierce rivals."),
    "thriller": ("A deadly game of wits between two geniuses.", "Suspense that keeps you turning pages."),
    "historical": ("War, honour and survival in a bygone era.", "A saga of warriors and lost lands."),
    "mystery": ("A sharp-eyed heroine solves poisonings at court.", "Clues, secrets and palace intrigue."),
    "slice of life": ("Quiet days and small joys.", "A calm, heart-warming everyday story."),
    "romance": ("Art students fall in and out of love.", "Bittersweet love and youth."),
    "sci-fi": ("A lonely journey through a ruined future.", "Megastructures, machines and the last humans."),
}
_BLURBS_JA: dict[str, tuple[str, ...]] = {
    "adventure": ("伝説の宝を求めて海を旅する冒険譚。", "仲間との絆を描く大冒険。"),
    "action": ("ライバルとの熱いバトルが続く。", "限界を超えるために戦う少年の物語。"),
    "dark fantasy": ("剣と魔物が渦巻く過酷な世界。", "復讐と怪物を描くダークな物語。"),
    "horror": ("街に潜む悪魔と恐怖の物語。", "身近に潜む怪物を描くホラー。"),
    "comedy": ("笑いと涙のドタバタ劇。", "ゆかいな家族のギャグ漫画。"),
    "fantasy": ("魔法と記憶をめぐる静かな旅。", "魔法使いとダンジョンの物語。"),
    "drama": ("泣ける青春の物語。", "心を揺さぶる感動作。"),
    "sports": ("全国を目指して戦うチームの物語。", "熱い試合とライバルたち。"),
    "thriller": ("天才同士の命がけの頭脳戦。", "ページをめくる手が止まらないサスペンス。"),
    "historical": ("戦乱の時代を生き抜く戦士たち。", "失われた土地をめぐる歴史大作。"),
    "mystery": ("後宮の毒の謎を解く薬師の物語。", "宮廷の秘密と謎解き。"),
    "slice of life": ("穏やかな日常とささやかな幸せ。", "心温まる日常の物語。"),
    "romance": ("美大生たちの恋と青春。", "ほろ苦い恋の物語。"),
    "sci-fi": ("滅びた未来を旅する少女たち。", "巨大構造物と機械の世界。"),
}

# Query templates per (language, query type). Fields: en, ja, romaji, v, fmt, fmt_ja, genre, genre_ja, author.
_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("en", "title_volume"): (
        "{en} vol {v}",
        "{en} volume {v}",
        "buy {en} volume {v}",
        "{en} vol. {v} {fmt}",
        "{en} {v} {fmt}",
    ),
    ("en", "latest"): ("{en} latest volume", "newest {en} volume", "{en} new volume {fmt}"),
    ("en", "title"): ("{en} manga", "{en} books", "where can I buy {en}", "{en} series"),
    ("en", "similar"): (
        "{genre} like {en}",
        "manga similar to {en}",
        "something like {en}",
        "if I liked {en} what should I read",
    ),
    ("en", "genre"): (
        "best {genre} manga",
        "{genre} manga recommendations",
        "good {genre} manga for beginners",
    ),
    ("en", "author"): ("manga by {author}", "{author} books", "other works by {author}"),
    ("ja", "title_volume"): ("{ja} {v}巻", "{ja} 第{v}巻", "{ja} {v}巻 {fmt_ja}"),
    ("ja", "latest"): ("{ja} 最新刊", "{ja} 最新巻 {fmt_ja}"),
    ("ja", "title"): ("{ja} 漫画", "{ja} 全巻", "{ja} 買いたい"),
    ("ja", "similar"): ("{ja}みたいな{genre_ja}漫画", "{ja}に似た漫画", "{ja}が好きな人におすすめ"),
    ("ja", "genre"): ("おすすめの{genre_ja}漫画", "{genre_ja} 漫画 おすすめ", "人気の{genre_ja}漫画"),
    ("ja", "author"): ("{author}の作品", "{author} 漫画"),
    ("mixed", "title_volume"): ("{romaji} vol {v}", "{ja} vol {v}", "{en} {v}巻", "{ja} volume {v} {fmt}"),
    ("mixed", "latest"): ("{en} 最新刊", "{romaji} saishinkan", "{ja} latest volume"),
    ("mixed", "title"): ("{romaji} manga", "{ja} manga", "{en} 漫画"),
    ("mixed", "similar"): ("{ja} みたいな manga", "{en}みたいな漫画", "manga like {ja}"),
    ("mixed", "genre"): (
        "{genre} 漫画 おすすめ",
        "おすすめ {genre} manga",
        "{genre_ja} manga recommendations",
    ),
    ("mixed", "author"): ("{author} manga 作品", "{author}の manga"),
}
# Genre queries with their own wording (seed examples such as "泣ける漫画 おすすめ").
_GENRE_SPECIAL: dict[tuple[str, str], tuple[str, ...]] = {
    ("en", "drama"): ("manga that will make me cry", "tearjerker manga"),
    ("ja", "drama"): ("泣ける漫画 おすすめ", "感動する漫画"),
    ("mixed", "drama"): ("泣ける manga", "tearjerker 漫画"),
    ("ja", "horror"): ("怖い漫画 おすすめ",),
    ("en", "comedy"): ("funny manga to cheer me up",),
}


@dataclass(frozen=True)
class Product:
    doc_id: str
    title_key: str
    volume: int | None
    format: str
    lang: str
    genre: str
    author: str
    tier: str
    text: str


def relevance(target: Mapping[str, Any], product: Product) -> int:
    """Grade a product for a query target by the one rule in the module docstring."""
    if target.get("title_key") == product.title_key:
        same_volume = target.get("volume") is not None and target["volume"] == product.volume
        same_format = target.get("format") is None or target["format"] == product.format
        return 3 if same_volume and same_format else 2
    if target.get("genre") is not None and target["genre"] == product.genre:
        return 1
    if target.get("author") is not None and target["author"] == product.author:
        return 1
    return 0


def _pick(rng: random.Random, weights: Mapping[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys], k=1)[0]


def _product_text(rng: random.Random, title: Title, volume: int | None, fmt: str, lang: str) -> str:
    if lang == "ja":
        vol = f"{volume}巻" if volume is not None else f"全{title.volumes}巻"
        blurb = rng.choice(_BLURBS_JA[title.genre])
        return (
            f"{title.ja} {vol}（{_FORMAT_JA[fmt]}）{GENRES_JA[title.genre]}漫画 著者：{title.author}。{blurb}"
        )
    vol = f"Vol. {volume}" if volume is not None else f"Vols. 1-{title.volumes}"
    blurb = rng.choice(_BLURBS_EN[title.genre])
    return f"{title.en} {vol} ({fmt}). {title.genre.capitalize()} manga by {title.author}. {blurb}"


def build_products(rng: random.Random) -> list[Product]:
    """Make the catalogue: a few volumes and editions per title, listed in EN or JA."""
    drafts: list[tuple[Title, int | None, str, str, str]] = []
    for title in TITLES:
        middle = list(range(2, title.volumes))
        volumes = sorted({1, title.volumes, *rng.sample(middle, min(2, len(middle)))})
        for volume in volumes:
            formats = ["paperback"] + (["kindle"] if rng.random() < 0.6 else [])
            for fmt in formats:
                lang = "ja" if rng.random() < 0.45 else "en"
                drafts.append((title, volume, fmt, lang, _product_text(rng, title, volume, fmt, lang)))
        for fmt in rng.sample(_SERIES_FORMATS, rng.choice((1, 2))):
            lang = "ja" if rng.random() < 0.45 else "en"
            drafts.append((title, None, fmt, lang, _product_text(rng, title, None, fmt, lang)))
    order = list(range(len(drafts)))
    rng.shuffle(order)
    products = []
    for number, index in enumerate(order, start=1):
        title, volume, fmt, lang, text = drafts[index]
        products.append(
            Product(
                f"p{number:04d}", title.key, volume, fmt, lang, title.genre, title.author, title.tier, text
            )
        )
    return sorted(products, key=lambda p: p.doc_id)


def _similar_titles() -> dict[str, list[str]]:
    """For each title, the three titles whose English or romaji names look most alike (hard negatives)."""
    similar: dict[str, list[str]] = {}
    for title in TITLES:
        scored = []
        for other in TITLES:
            if other.key == title.key:
                continue
            ratio = max(
                difflib.SequenceMatcher(None, title.en.lower(), other.en.lower()).ratio(),
                difflib.SequenceMatcher(None, title.romaji, other.romaji).ratio(),
            )
            scored.append((-ratio, other.key))
        similar[title.key] = [key for _, key in sorted(scored)[:3]]
    return similar


class _Generator:
    """Draws queries with their targets, candidates and slice fields from one RNG."""

    def __init__(self, rng: random.Random, products: Sequence[Product]) -> None:
        self.rng = rng
        self.products = list(products)
        self.titles = {t.key: t for t in TITLES}
        self.by_title: dict[str, list[Product]] = {}
        self.by_genre: dict[str, list[Product]] = {}
        self.by_author: dict[str, list[Product]] = {}
        for p in self.products:
            self.by_title.setdefault(p.title_key, []).append(p)
            self.by_genre.setdefault(p.genre, []).append(p)
            self.by_author.setdefault(p.author, []).append(p)
        self.similar = _similar_titles()
        self.tiers = {tier: [t for t in TITLES if t.tier == tier] for tier in _TIER_WEIGHTS}

    def _target(self, qtype: str, title: Title) -> tuple[dict[str, Any], bool]:
        target: dict[str, Any] = {
            "title_key": None,
            "volume": None,
            "format": None,
            "genre": None,
            "author": None,
        }
        latest = False
        if qtype in ("title_volume", "title", "similar"):
            target.update(title_key=title.key, genre=title.genre, author=title.author)
        if qtype == "title_volume":
            volumed = [p for p in self.by_title[title.key] if p.volume is not None]
            chosen = self.rng.choice(volumed)
            latest = chosen.volume == title.volumes and self.rng.random() < 0.5
            target["volume"] = chosen.volume
            if self.rng.random() < 0.3:
                target["format"] = chosen.format
        elif qtype == "genre":
            target["genre"] = title.genre
        elif qtype == "author":
            target["author"] = title.author
        return target, latest

    def _text(self, lang: str, qtype: str, title: Title, target: Mapping[str, Any], latest: bool) -> str:
        key = "latest" if latest else qtype
        templates = _TEMPLATES[(lang, key)]
        if qtype == "genre" and (lang, title.genre) in _GENRE_SPECIAL and self.rng.random() < 0.5:
            templates = _GENRE_SPECIAL[(lang, title.genre)]
        if target.get("format") is None:
            templates = tuple(t for t in templates if "{fmt" not in t) or templates
        else:
            templates = tuple(t for t in templates if "{fmt" in t) or templates
        template = self.rng.choice(templates)
        fmt = target.get("format") or "paperback"
        return template.format(
            en=title.en,
            ja=title.ja,
            romaji=title.romaji,
            v=target.get("volume"),
            fmt=fmt,
            fmt_ja=_FORMAT_JA[fmt],
            genre=title.genre,
            genre_ja=GENRES_JA[title.genre],
            author=title.author,
        )

    def _candidates(self, target: Mapping[str, Any], title: Title) -> list[tuple[str, int]]:
        rng = self.rng
        n = rng.randint(*CANDIDATES_RANGE)
        chosen: dict[str, Product] = {}

        def take(pool: Sequence[Product], count: int) -> None:
            fresh = [p for p in pool if p.doc_id not in chosen]
            for p in rng.sample(fresh, min(count, len(fresh), n - len(chosen))):
                chosen[p.doc_id] = p

        if target.get("title_key"):
            take(self.by_title[target["title_key"]], len(self.by_title[target["title_key"]]))
        if target.get("author"):
            take(self.by_author[target["author"]], 4)
        if target.get("genre"):
            take(
                self.by_genre[target["genre"]], max(4, n // 3) if target.get("title_key") is None else n // 4
            )
        hard = [p for key in self.similar[title.key] for p in self.by_title[key]]
        take(hard, rng.randint(2, 5))
        take(self.products, n - len(chosen))
        ids = sorted(chosen)
        rng.shuffle(ids)
        return [(doc_id, relevance(target, chosen[doc_id])) for doc_id in ids]

    def query(self, qid: str) -> dict[str, Any]:
        """Draw one graded query with its slice fields."""
        rng = self.rng
        tier = _pick(rng, _TIER_WEIGHTS)
        title = rng.choice(self.tiers[tier])
        qtype = _pick(rng, _TYPE_WEIGHTS)
        lang = _pick(rng, _LANG_WEIGHTS)
        target, latest = self._target(qtype, title)
        text = self._text(lang, qtype, title, target, latest)
        candidates = self._candidates(target, title)
        off_peak_share = 0.55 if lang == "ja" else 0.3
        return {
            "id": qid,
            "query": text,
            "query_type": qtype,
            "target": target,
            "candidates": [{"doc_id": d, "relevance": r} for d, r in candidates],
            "lang": lang,
            "cohort": _pick(rng, _COHORT_WEIGHTS),
            "device": _pick(rng, _DEVICE_WEIGHTS),
            "catalog_tier": tier,
            "time_bucket": "off_peak" if rng.random() < off_peak_share else "peak",
        }


# ---- adversarial perturbations: each returns the perturbed text, or None where it does not apply ----

_HIRA_TO_KATA = {chr(c): chr(c + 0x60) for c in range(0x3041, 0x3097)}
_KATA_TO_HIRA = {v: k for k, v in _HIRA_TO_KATA.items()}
_KANJI_DIGITS = dict(zip("0123456789", "〇一二三四五六七八九", strict=True))


def _half_width_table() -> dict[str, str]:
    """Map full-width katakana (voiced ones included) to half-width forms via NFKC, so no table is typed."""
    table: dict[str, str] = {}
    for code in range(0xFF66, 0xFF9E):
        half = chr(code)
        full = unicodedata.normalize("NFKC", half)
        table.setdefault(full, half)
        for mark in ("\uff9e", "\uff9f"):
            combined = unicodedata.normalize("NFKC", half + mark)
            if len(combined) == 1:
                table.setdefault(combined, half + mark)
    return table


_HALF_WIDTH = _half_width_table()


def _typo(text: str, lang: str, rng: random.Random) -> str | None:
    """One slip (swap, drop, double) between letters, or None where there is no room for one."""
    spots = [i for i in range(len(text) - 1) if text[i].isalpha() and text[i + 1].isalpha()]
    if not spots:
        return None
    i = rng.choice(spots)
    op = rng.choice(("swap", "drop", "double"))
    if op == "swap":
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if op == "drop":
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i] + text[i:]


def _row_title(row: Mapping[str, Any]) -> Title | None:
    key = row["target"].get("title_key")
    return next((t for t in TITLES if t.key == key), None) if key else None


def _romaji(_rng: random.Random, text: str, row: Mapping[str, Any]) -> str | None:
    title = _row_title(row)
    if title is None:
        return None
    for name in (title.ja, title.en):
        if name in text:
            return text.replace(name, title.romaji)
    return None


def _kana(_rng: random.Random, text: str, _row: Mapping[str, Any]) -> str | None:
    if any(c in _KATA_TO_HIRA for c in text):
        out = "".join(_KATA_TO_HIRA.get(c, c) for c in text)
    else:
        out = "".join(_HIRA_TO_KATA.get(c, c) for c in text)
    return out if out != text else None


def _kanji(_rng: random.Random, text: str, _row: Mapping[str, Any]) -> str | None:
    out = text.replace("漫画", "マンガ") if "漫画" in text else text.replace("マンガ", "漫画")
    if "巻" in text:
        out = "".join(_KANJI_DIGITS.get(c, c) for c in out)
    return out if out != text else None


def _width(rng: random.Random, text: str, _row: Mapping[str, Any]) -> str | None:
    if rng.random() < 0.5 and any(c in _HALF_WIDTH for c in text):
        out = "".join(_HALF_WIDTH.get(c, c) for c in text)
    else:
        out = "".join(
            chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in text
        )
    return out if out != text else None


def _code_mix(rng: random.Random, text: str, row: Mapping[str, Any]) -> str | None:
    title = _row_title(row)
    if title is not None and title.en in text:
        return text.replace(title.en, title.ja)
    if title is not None and title.ja in text:
        return text.replace(title.ja, title.en)
    swaps = [
        ("manga", "漫画"),
        ("漫画", "manga"),
        ("おすすめ", "recommendations"),
        ("recommendations", "おすすめ"),
    ]
    genre = row["target"].get("genre")
    if genre:
        swaps += [(genre, GENRES_JA[genre]), (GENRES_JA[genre], genre)]
    for old, new in swaps:
        if old in text:
            return text.replace(old, new, 1)
    return None


_PERTURB: dict[str, Callable[[random.Random, str, Mapping[str, Any]], str | None]] = {
    "typo": lambda rng, text, row: _typo(text, row["lang"], rng),
    "romaji": _romaji,
    "kana": _kana,
    "kanji": _kanji,
    "width": _width,
    "code_mix": _code_mix,
}


def _adversarial(rng: random.Random, sources: Sequence[Mapping[str, Any]], n: int) -> list[dict[str, Any]]:
    """Perturb golden/holdout queries, cycling through the perturbation types so each is represented."""
    rows: list[dict[str, Any]] = []
    used: set[tuple[str, str]] = set()
    attempts = 0
    while len(rows) < n:
        kind = PERTURBATIONS[len(rows) % len(PERTURBATIONS)]
        source = rng.choice(sources)
        attempts += 1
        if attempts > 200 * n:
            raise RuntimeError(f"could not find sources for perturbation {kind}")
        if (source["id"], kind) in used:
            continue
        text = _PERTURB[kind](rng, source["query"], source)
        if text is None or text == source["query"]:
            continue
        used.add((source["id"], kind))
        rows.append(
            {
                **source,
                "id": f"adv-{len(rows) + 1:04d}",
                "query": text,
                "perturbation": kind,
                "source_id": source["id"],
            }
        )
    return rows


def _impression(rng: random.Random, row: Mapping[str, Any], cid: str) -> dict[str, Any]:
    """Log one impression of the stochastic logging policy (module docstring) with its propensity."""
    ids = [c["doc_id"] for c in row["candidates"]]
    grades = [c["relevance"] for c in row["candidates"]]
    scores = [g + rng.gauss(0.0, LOGGING_NOISE_SD) for g in grades]
    top = max(scores)
    weights = [math.exp(s - top) for s in scores]
    total = sum(weights)
    n = len(ids)
    pi0 = [(1 - LOGGING_EPSILON) * w / total + LOGGING_EPSILON / n for w in weights]
    first = rng.choices(range(n), weights=pi0, k=1)[0]
    remaining = [i for i in range(n) if i != first]
    ranking = [first]
    while remaining and len(ranking) < SHOWN_SLOTS:
        nxt = rng.choices(remaining, weights=[weights[i] for i in remaining], k=1)[0]
        ranking.append(nxt)
        remaining.remove(nxt)
    clicked = rng.random() < CTR_BY_GRADE[grades[first]]
    return {
        "id": cid,
        "query": row["query"],
        "query_type": row["query_type"],
        "target": row["target"],
        "candidates": ids,
        "logged_ranking": [ids[i] for i in ranking],
        "propensity": round(pi0[first], 10),
        "clicked_doc_id": ids[first] if clicked else None,
        "position_clicked": 1 if clicked else None,
        **{field: row[field] for field in SLICE_FIELDS},
    }


def _product_row(p: Product) -> dict[str, Any]:
    return {
        "doc_id": p.doc_id,
        "text": p.text,
        "title_key": p.title_key,
        "lang": p.lang,
        "genre": p.genre,
        "tier": p.tier,
        "volume": p.volume,
        "format": p.format,
        "author": p.author,
    }


def build(out_dir: Path, seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """Write every reranker set and the manifest into ``out_dir``; return the manifest."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    products = build_products(rng)
    gen = _Generator(rng, products)
    prefixes = {"train": "tr", "validation": "val", "golden": "gold", "holdout": "ho"}
    splits = {
        name: [gen.query(f"{prefixes[name]}-{i + 1:05d}") for i in range(size)]
        for name, size in SPLIT_SIZES.items()
    }
    sources = splits["golden"] + splits["holdout"]
    adversarial = _adversarial(rng, sources, N_ADVERSARIAL)
    clicks = [_impression(rng, gen.query("tmp"), f"click-{i + 1:05d}") for i in range(N_CLICKS)]

    write_jsonl(out_dir / "products.jsonl", (_product_row(p) for p in products))
    for name, rows in splits.items():
        write_jsonl(out_dir / f"{name}.jsonl", rows)
    write_jsonl(out_dir / "adversarial.jsonl", adversarial)
    write_jsonl(out_dir / "clicks.jsonl", clicks)
    roles = {
        "products.jsonl": "products",
        "train.jsonl": "train",
        "validation.jsonl": "validation",
        "golden.jsonl": "golden",
        "holdout.jsonl": "holdout",
        "adversarial.jsonl": "adversarial",
        "clicks.jsonl": "replay",
    }
    return write_manifest(out_dir, meta=_meta(seed), roles=roles)


def _meta(seed: int) -> dict[str, Any]:
    return {
        "name": NAME,
        "task": "ranking",
        "version": VERSION,
        "seed": seed,
        "slice_fields": list(SLICE_FIELDS),
        "k_values": list(K_VALUES),
        "relevance_scale": [0, 3],
        "perturbations": list(PERTURBATIONS),
        "query_types": list(QUERY_TYPES),
        "relevance_rule": {
            "3": "same title and same volume (and same format when the query names one)",
            "2": "same title",
            "1": "same genre as the target genre, or same author as the target author",
            "0": "otherwise",
        },
        "replay": {
            "estimand": "click-through at the top slot if the evaluated policy had chosen the top item",
            "logging_policy": (
                "score s_i = grade_i + N(0, sd); top slot drawn from (1-eps)*softmax(s)_i + eps/n; "
                "lower slots by Plackett-Luce over softmax(s)"
            ),
            "logging_noise_sd": LOGGING_NOISE_SD,
            "epsilon": LOGGING_EPSILON,
            "propensity": "probability that the logging policy put logged_ranking[0] in slot 1",
            "shown_slots": SHOWN_SLOTS,
            "click_model": (
                "only slot 1 is clicked: click ~ Bernoulli(ctr_by_grade[grade of logged_ranking[0]])"
            ),
            "ctr_by_grade": list(CTR_BY_GRADE),
            "estimators": (
                "IPS = mean(1[a_i = pi(x_i)] * click_i / p_i); SNIPS = sum(w_i * click_i) / sum(w_i) with "
                "w_i = 1[a_i = pi(x_i)] / p_i; pi(x) is the evaluated model's top-1 (ties by doc_id)"
            ),
            "target_field": "simulation ground truth for tests; estimators never read it",
        },
    }


if __name__ == "__main__":  # pragma: no cover - the lead's build.py drives the real builds
    import sys

    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / NAME)["files"])
