"""Label-preserving perturbations for the adversarial set (seed 002 section 4.1: typos, JP/EN mixing,
Unicode tricks). Each returns the text unchanged when it has nothing to work on; the caller then
picks another source."""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable

from evalsets import _intent_templates as T
from evalsets._intent_text import typo
from evalsets.catalog import TITLES

PERTURBATIONS: tuple[str, ...] = ("typo", "code_mix", "width", "homoglyph", "zero_width", "emoji")

_ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")
_LATIN_LOOKALIKES = {
    "a": "\u0430",
    "e": "\u0435",
    "o": "\u043e",
    "p": "\u0440",
    "c": "\u0441",
    "x": "\u0445",
    "y": "\u0443",
    "i": "\u0456",
    "s": "\u0455",
    "j": "\u0458",
    "A": "\u0391",
    "B": "\u0392",
    "E": "\u0395",
    "H": "\u0397",
    "K": "\u039a",
    "M": "\u039c",
    "O": "\u039f",
    "P": "\u03a1",
    "T": "\u03a4",
    "X": "\u03a7",
    "v": "\u03bd",
}
# Katakana that kanji (or hiragana) imitate closely: the trick spam uses against keyword filters.
_KANA_LOOKALIKES = {
    "カ": "力",
    "ロ": "口",
    "エ": "工",
    "ニ": "二",
    "ハ": "八",
    "ト": "卜",
    "タ": "夕",
    "ー": "一",
    "ヘ": "へ",
    "オ": "才",
    "チ": "千",
}
_EN_TO_JA = {
    "order": "注文",
    "refund": "返金",
    "return": "返品",
    "please": "お願い",
    "shipping": "配送",
    "delivery": "配達",
    "coupon": "クーポン",
    "sale": "セール",
    "manga": "漫画",
    "recommend": "おすすめ",
    "stock": "在庫",
    "price": "値段",
    "payment": "支払い",
    "cart": "カート",
    "human": "人間",
    "agent": "担当者",
    "package": "荷物",
    "cancel": "キャンセル",
    "damaged": "破損",
    "exchange": "交換",
    "discount": "割引",
    "points": "ポイント",
    "checkout": "レジ",
    "account": "アカウント",
    "thanks": "ありがとう",
    "volume": "巻",
    "series": "シリーズ",
    "deals": "セール",
    "release": "発売",
}
_JA_TO_EN = {
    "注文": "order",
    "返品": "return",
    "返金": "refund",
    "配送": "delivery",
    "在庫": "stock",
    "漫画": "manga",
    "マンガ": "manga",
    "おすすめ": "recommend",
    "クーポン": "coupon",
    "セール": "sale",
    "支払い": "payment",
    "荷物": "package",
    "交換": "exchange",
    "担当者": "agent",
    "送料": "shipping fee",
    "発送": "ship",
    "割引": "discount",
    "ポイント": "points",
    "カート": "cart",
    "キャンペーン": "campaign",
    "発売日": "release date",
    "新刊": "new release",
    "作品": "works",
    "全巻": "full set",
}
_JA_TAILS = ("ですか？", "お願いします", "って感じ", "かな", "です", "だよね")
_EN_TAILS = (" pls", " thx", " asap", " please", " ok?")


def _replace_titles(text: str, to_ja: bool, rng: random.Random) -> str:
    for title in TITLES:
        source, target = (title.en, title.ja) if to_ja else (title.ja, title.en)
        if to_ja:
            pattern = re.compile(re.escape(source), re.IGNORECASE)
            if pattern.search(text):
                return pattern.sub(target, text, count=1)
        elif source in text:
            return text.replace(source, target + " ", 1).replace("  ", " ")
    return text


def code_mix(text: str, lang: str, rng: random.Random) -> str:
    """Swap a title and a keyword or two into the other language, as bilingual users do."""
    to_ja = lang == "en" or (lang == "mixed" and rng.random() < 0.5)
    out = _replace_titles(text, to_ja, rng)
    if to_ja:
        words = [m for m in re.finditer(r"[A-Za-z]+", out) if m.group().lower() in _EN_TO_JA]
        for m in sorted(rng.sample(words, min(len(words), rng.randint(1, 2))), key=lambda m: -m.start()):
            out = out[: m.start()] + _EN_TO_JA[m.group().lower()] + out[m.end() :]
        if out == text or rng.random() < 0.3:
            out = out.rstrip("?!. ") + rng.choice(_JA_TAILS)
    else:
        keys = [k for k in _JA_TO_EN if k in out]
        for key in rng.sample(keys, min(len(keys), rng.randint(1, 2))):
            out = out.replace(key, f" {_JA_TO_EN[key]} ", 1)
        out = re.sub(r" {2,}", " ", out).strip()
        if out == text or rng.random() < 0.3:
            out = out + rng.choice(_EN_TAILS)
    return out


def _half_width_katakana() -> dict[str, str]:
    table: dict[str, str] = {}
    halves = [chr(c) for c in range(0xFF66, 0xFF9E)]
    for half in halves:
        table.setdefault(unicodedata.normalize("NFKC", half), half)
        for mark in ("\uff9e", "\uff9f"):  # voiced and semi-voiced sound marks
            full = unicodedata.normalize("NFKC", half + mark)
            if len(full) == 1:
                table.setdefault(full, half + mark)
    return table


_HALF_KANA = _half_width_katakana()


def width(text: str, lang: str, rng: random.Random) -> str:
    """Full-width ASCII and half-width katakana: what IMEs and old phones produce."""
    whole = rng.random() < 0.6
    out = []
    for ch in text:
        if "!" <= ch <= "~" and (whole or rng.random() < 0.5):
            out.append(chr(ord(ch) + 0xFEE0))
        elif ch == " " and whole:
            out.append("\u3000")
        elif ch in _HALF_KANA:
            out.append(_HALF_KANA[ch])
        else:
            out.append(ch)
    return "".join(out)


def homoglyph(text: str, lang: str, rng: random.Random) -> str:
    """Cyrillic/Greek letters for Latin ones, kanji for katakana: same look, different code points."""
    spots = [i for i, ch in enumerate(text) if ch in _LATIN_LOOKALIKES or ch in _KANA_LOOKALIKES]
    if not spots:
        return text
    chosen = set(rng.sample(spots, max(1, min(len(spots), round(len(spots) * rng.uniform(0.15, 0.5))))))
    lookalikes = {**_LATIN_LOOKALIKES, **_KANA_LOOKALIKES}
    return "".join(lookalikes[ch] if i in chosen else ch for i, ch in enumerate(text))


def zero_width(text: str, lang: str, rng: random.Random) -> str:
    """Invisible characters inside words break naive tokenisation and keyword rules."""
    if len(text) < 2:
        return text
    out = text
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(1, len(out))
        out = out[:i] + rng.choice(_ZERO_WIDTH) + out[i:]
    return out


def emoji(text: str, lang: str, rng: random.Random) -> str:
    """Emoji between words or at either end."""
    out = text
    for _ in range(rng.randint(1, 3)):
        mark = rng.choice(T.EMOJI)
        spaces = [m.start() for m in re.finditer(" ", out)]
        where = rng.random()
        if where < 0.4 or not spaces:
            out = f"{out} {mark}" if lang == "en" else out + mark
        elif where < 0.6:
            out = f"{mark} {out}"
        else:
            i = rng.choice(spaces)
            out = out[:i] + f" {mark}" + out[i:]
    return out


def _typo(text: str, lang: str, rng: random.Random) -> str:
    """One to three keyboard or IME slips."""
    out = typo(text, lang, rng)
    for _ in range(rng.randint(0, 2)):
        out = typo(out, lang, rng)
    return out


PERTURBERS: dict[str, Callable[[str, str, random.Random], str]] = {
    "typo": _typo,
    "code_mix": code_mix,
    "width": width,
    "homoglyph": homoglyph,
    "zero_width": zero_width,
    "emoji": emoji,
}


def perturb(kind: str, text: str, lang: str, rng: random.Random) -> str:
    return PERTURBERS[kind](text, lang, rng)
