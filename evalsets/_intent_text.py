"""Turn an intent, a language and a user's context into one message, the way real traffic writes it.

Everything draws from the ``random.Random`` passed in, so a seed fixes every character.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from evalsets import _intent_templates as T
from evalsets.catalog import FORMATS, GENRES_JA, TITLES, Title, by_tier

_ALTERNATION = re.compile(r"\[([^\[\]]*)\]")
_SLOT = re.compile(r"\{(\w+)\}")
_WORD = re.compile(r"[A-Za-z']+")
_ARTICLE = re.compile(r"\b([Aa]) (?=[aeioAEIO])(?![Oo]ne\b)")
_DOUBLE_ARTICLE = re.compile(r"\b([Aa]|[Tt]he) [Tt]he ")
_QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_KANA_SWAPS = {
    "つ": "っ",
    "っ": "つ",
    "や": "ゃ",
    "ゃ": "や",
    "ゆ": "ゅ",
    "ゅ": "ゆ",
    "よ": "ょ",
    "ょ": "よ",
    "ー": "ーー",
    "ン": "ソ",
    "シ": "ツ",
    "ソ": "ン",
    "ツ": "シ",
}
_EN_PRICES = (6.99, 9.99, 11.99, 12.99, 14.99, 19.99, 24.99, 39.99, 59.99, 89.99, 129.99)
_JA_PRICES = (495, 528, 693, 715, 990, 1320, 2200, 4950, 9900, 15400)


@dataclass(frozen=True)
class Style:
    """How a user writes: probabilities of each habit for one message."""

    lower: float = 0.2
    typo: float = 0.08
    slang: float = 0.1
    prefix: float = 0.12
    suffix: float = 0.12
    emoji: float = 0.05
    no_punct: float = 0.25
    short_bias: float = 0.0  # > 0 favours short templates (mobile)


@dataclass(frozen=True)
class Draft:
    text: str
    kind: str  # clean | ambiguous | multi
    alternatives: tuple[str, ...]  # labels a reader without the session could plausibly pick instead


def _neighbour_keys() -> dict[str, str]:
    keys: dict[str, str] = {}
    for r, row in enumerate(_QWERTY_ROWS):
        for c, ch in enumerate(row):
            near = [row[i] for i in (c - 1, c + 1) if 0 <= i < len(row)]
            for rr in (r - 1, r + 1):
                if 0 <= rr < len(_QWERTY_ROWS) and c < len(_QWERTY_ROWS[rr]):
                    near.append(_QWERTY_ROWS[rr][c])
            keys[ch] = "".join(near)
    return keys


_NEAR_KEYS = _neighbour_keys()


def title_name(title: Title, lang: str, rng: random.Random) -> str:
    """Name a title as a user of that language types it: official name, lower case, romaji or slang."""
    r = rng.random()
    if lang == "ja":
        return title.ja if r < 0.86 else title.en
    if lang == "mixed":
        return title.ja if r < 0.5 else title.en
    if r < 0.68:
        return title.en
    if r < 0.82:
        return title.en.lower()
    if r < 0.91 and title.key in T.ABBREVIATIONS:
        return rng.choice(T.ABBREVIATIONS[title.key])
    return title.romaji


def _order_number(rng: random.Random) -> str:
    style = rng.randrange(3)
    if style == 0:
        return f"#{rng.randrange(10**8, 10**9)}"
    if style == 1:
        return f"MA-{rng.randrange(10**6, 10**7)}"
    return f"114-{rng.randrange(10**6, 10**7)}-{rng.randrange(10**6, 10**7)}"


def _price(lang: str, rng: random.Random) -> str:
    if lang == "en" and rng.random() < 0.85:
        return f"${rng.choice(_EN_PRICES):.2f}"
    yen = rng.choice(_JA_PRICES)
    return f"¥{yen:,}" if rng.random() < 0.4 else f"{yen:,}円"


def _side(lang: str, rng: random.Random) -> str:
    """For code-mixed text each slot picks a side; otherwise the message's language."""
    if lang == "mixed":
        return "ja" if rng.random() < 0.5 else "en"
    return lang


class SlotFiller:
    """Fill one template's slots consistently: the same title and volume everywhere in a message."""

    def __init__(self, lang: str, tier: str, rng: random.Random) -> None:
        self.lang, self.rng = lang, rng
        pool = by_tier(tier)
        self.title = rng.choice(pool)
        others = [t for t in TITLES if t.key != self.title.key]
        same_tier = [t for t in others if t.tier == tier]
        self.title2 = rng.choice(same_tier if rng.random() < 0.6 else others)
        self.vol = self._volume(self.title)
        step = rng.randint(1, 3)
        self.vol2 = (
            min(self.title.volumes, self.vol + step)
            if self.vol < self.title.volumes
            else max(1, self.vol - step)
        )
        self.cache: dict[str, str] = {}

    def _volume(self, title: Title) -> int:
        if self.rng.random() < 0.3:
            return title.volumes  # the latest volume is what people ask about most
        return self.rng.randint(1, title.volumes)

    def value(self, slot: str) -> str:
        if slot not in self.cache:
            self.cache[slot] = self._draw(slot)
        return self.cache[slot]

    def _draw(self, slot: str) -> str:
        value = self._draw_title(slot)
        if value is None:
            value = self._draw_other(slot)
        return value

    def _draw_title(self, slot: str) -> str | None:
        """The slots about the titles in the query, or None for any other slot."""
        rng, lang = self.rng, self.lang
        match slot:
            case "title":
                return title_name(self.title, lang, rng)
            case "title2":
                return title_name(self.title2, lang, rng)
            case "title_en" | "title2_en":
                title = self.title if slot == "title_en" else self.title2
                return title.en if rng.random() < 0.8 else title.en.lower()
            case "title_ja":
                return self.title.ja
            case "vol":
                return str(self.vol)
            case "vol2":
                return str(self.vol2)
            case "vol_lo" | "vol_hi":  # ranges read low to high
                pick = min if slot == "vol_lo" else max
                return str(pick(self.vol, self.vol2))
        return None

    def _draw_other(self, slot: str) -> str:
        rng, lang = self.rng, self.lang
        match slot:
            case "genre":
                genre = self.title.genre
                return GENRES_JA[genre] if _side(lang, rng) == "ja" else genre
            case "author":
                name = self.title.author
                return T.AUTHORS_JA[name] if _side(lang, rng) == "ja" else name
            case "fmt":
                fmt = rng.choice(FORMATS)
                return T.FORMAT_JA[fmt] if _side(lang, rng) == "ja" else fmt
            case "demo":
                return rng.choice(T.DEMOGRAPHICS[_side(lang, rng)])
            case "price":
                return _price(lang, rng)
            case "order":
                return _order_number(rng)
            case "code":
                code = rng.choice(T.PROMO_CODES)
                return code.lower() if rng.random() < 0.25 else code
            case "days":
                return str(rng.randint(2, 21))
            case "n":
                return str(rng.randint(2, 5))
            case "city":
                return rng.choice(T.CITIES[_side(lang, rng)])
            case "country":
                return rng.choice(T.COUNTRIES)
            case "pay":
                return rng.choice(T.PAYMENTS["ja" if lang == "ja" else _side(lang, rng)])
        raise KeyError(f"unknown slot {{{slot}}}")


def fill(template: str, filler: SlotFiller) -> str:
    """Expand ``[a|b]`` alternations, then slots."""
    rng = filler.rng
    text = _ALTERNATION.sub(lambda m: rng.choice(m.group(1).split("|")), template)
    text = _SLOT.sub(lambda m: filler.value(m.group(1)), text)
    text = _DOUBLE_ARTICLE.sub(r"\1 ", text)  # "the The Apothecary Diaries" -> "the Apothecary Diaries"
    text = _ARTICLE.sub(r"\1n ", text)  # "a omnibus" -> "an omnibus"
    return re.sub(r"\s{2,}", " ", text).strip()


def _pick_template(templates: Sequence[str], style: Style, rng: random.Random) -> str:
    if style.short_bias <= 0:
        return rng.choice(templates)
    weights = [math.exp(-style.short_bias * len(t) / 30.0) for t in templates]
    return rng.choices(templates, weights=weights, k=1)[0]


def _typo_en(text: str, rng: random.Random) -> str:
    words = [m for m in _WORD.finditer(text) if len(m.group()) >= 4]
    if not words:
        return text
    m = rng.choice(words)
    w = m.group()
    i = rng.randrange(1, len(w) - 1)
    op = rng.randrange(4)
    if op == 0:
        w = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
    elif op == 1:
        w = w[:i] + w[i + 1 :]
    elif op == 2:
        w = w[:i] + w[i] + w[i:]
    else:
        near = _NEAR_KEYS.get(w[i].lower())
        if near:
            w = w[:i] + rng.choice(near) + w[i + 1 :]
    return text[: m.start()] + w + text[m.end() :]


def _typo_ja(text: str, rng: random.Random) -> str:
    positions = [i for i, ch in enumerate(text) if "\u3041" <= ch <= "\u30ff"]
    if not positions:
        return _typo_en(text, rng)
    i = rng.choice(positions)
    ch = text[i]
    decomposed = unicodedata.normalize("NFD", ch)
    if len(decomposed) == 2 and rng.random() < 0.5:
        return text[:i] + decomposed[0] + text[i + 1 :]  # dakuten lost: が -> か
    if ch in _KANA_SWAPS and rng.random() < 0.6:
        return text[:i] + _KANA_SWAPS[ch] + text[i + 1 :]
    if rng.random() < 0.5:
        return text[:i] + text[i + 1 :]
    return text[:i] + ch + text[i:]


def typo(text: str, lang: str, rng: random.Random) -> str:
    """One keyboard or IME slip."""
    if lang == "ja" or (lang == "mixed" and rng.random() < 0.5):
        return _typo_ja(text, rng)
    return _typo_en(text, rng)


def _slang(text: str, rng: random.Random) -> str:
    def swap(m: re.Match[str]) -> str:
        word = m.group()
        options = T.SLANG.get(word.lower())
        return rng.choice(options) if options and rng.random() < 0.7 else word

    return _WORD.sub(swap, text)


def stylize(text: str, lang: str, style: Style, rng: random.Random, *, wrap: bool = True) -> str:
    """Apply one user's habits: small talk around the request, slang, typos, case, emoji."""
    if lang != "ja" and rng.random() < style.slang:
        text = _slang(text, rng)
    if rng.random() < style.typo:
        text = typo(text, lang, rng)
        if rng.random() < 0.25:
            text = typo(text, lang, rng)
    if wrap and rng.random() < style.prefix:
        text = rng.choice(T.PREFIXES[lang]) + text
    if rng.random() < style.no_punct:
        text = text.rstrip("?!.？！。")
    if wrap and rng.random() < style.suffix:
        suffix = rng.choice(T.SUFFIXES[lang])
        if not text.lower().endswith(suffix.strip().lower()):
            text = text + suffix
    if lang != "ja" and rng.random() < style.lower:
        text = text.lower()
    elif lang != "ja" and rng.random() < 0.35:
        text = text[:1].upper() + text[1:]
    if rng.random() < style.emoji:
        mark = rng.choice(T.EMOJI)
        text = f"{mark} {text}" if rng.random() < 0.2 else f"{text} {mark}"
    return re.sub(r" {2,}", " ", text).strip() or text


def _secondary_intent(primary: str, rng: random.Random) -> str | None:
    rank = T.PRIORITY.index(primary)
    lower = T.PRIORITY[rank + 1 :]
    if not lower:
        return None
    weights = [3.0 if s in T.NEIGHBOURS[primary] else 2.0 if s == T.CHIT else 1.0 for s in lower]
    return rng.choices(lower, weights=weights, k=1)[0]


def clean_text(label: str, lang: str, tier: str, style: Style, rng: random.Random) -> str:
    template = _pick_template(T.CLEAN[lang][label], style, rng)
    return fill(template, SlotFiller(lang, tier, rng))


def ambiguous_choices(label: str, lang: str) -> list[tuple[str, Mapping[str, float]]]:
    return [(t, dist) for t, dist in T.AMBIGUOUS[lang] if label in dist]


def choose_kind(label: str, lang: str, rng: random.Random, *, p_ambiguous: float, p_multi: float) -> str:
    """Clean, ambiguous or two-request; falls back to clean where the intent has no such form."""
    r = rng.random()
    if r < p_ambiguous and ambiguous_choices(label, lang):
        return "ambiguous"
    if r < p_ambiguous + p_multi and label != T.PRIORITY[-1]:
        return "multi"
    return "clean"


def draft(label: str, lang: str, tier: str, style: Style, rng: random.Random, *, kind: str) -> Draft:
    """Write one message of the given kind whose label under the guideline is ``label``."""
    if kind == "ambiguous":
        choices = ambiguous_choices(label, lang)
        template, dist = rng.choices(choices, weights=[d[label] for _, d in choices], k=1)[0]
        text = fill(template, SlotFiller(lang, tier, rng))
        others = tuple(k for k in dist if k != label)
        return Draft(stylize(text, lang, style, rng, wrap=False), "ambiguous", others)
    secondary = _secondary_intent(label, rng) if kind == "multi" else None
    main = clean_text(label, lang, tier, style, rng)
    if secondary is None:
        return Draft(stylize(main, lang, style, rng), "clean", T.NEIGHBOURS[label])
    side_lang = lang if lang != "mixed" else ("ja" if rng.random() < 0.5 else "en")
    extra = clean_text(secondary, side_lang, tier, Style(), rng)
    joiner = rng.choice(T.CONNECTORS[lang])
    first, second = (main, extra) if rng.random() < 0.55 else (extra, main)
    if joiner[:1] in ".。,、!！":
        if first[-1:] in "?!？！":  # keep the question mark, drop the joiner's own punctuation
            joiner = joiner.lstrip(".。,、!！ ")
            joiner = joiner if lang == "ja" or first[-1:] in "？！" else " " + joiner
        else:
            first = first.rstrip(".。、,")
    text = first + joiner + second
    return Draft(stylize(text, lang, style, rng, wrap=False), "multi", (secondary,))
