"""Predictions as columns: the form the predict-once cache stores. One uncompressed ``.npz`` of plain
arrays, read back with ``allow_pickle=False`` (no object arrays, so nothing in it can execute), and
addressed by its sha256: a blob whose hash differs from the one recorded beside it is refused.

Columns: ``ids`` (UTF-8 JSON array of strings), ``output`` as codes into ``vocab`` when every output is a
label (classification) or as UTF-8 JSON otherwise (ranking scores, generated answers), ``confidence``
and ``latency_ms`` (float64, NaN for none), ``topk_codes`` into ``topk_vocab`` and ``topk_p`` ((n, k);
code -1 and NaN pad a shorter row). A column that is empty in ``Predictions`` is absent. Read back, the
top-k stays arrays (``TopK``): no Python object per example is made for it.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np

from gatekeeper.errors import ValidationFailed
from gatekeeper.evaluation.predictions import Predictions, Row, TopK

_STRINGS = msgspec.json.Decoder(list[str])


def _text(values: Any) -> np.ndarray:
    return np.frombuffer(msgspec.json.encode(values), dtype=np.uint8)


def _floats(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _table(topk: Sequence[Row]) -> TopK:
    """A top-k given as lists (an artifact's pass) as arrays."""
    if isinstance(topk, TopK):
        return topk
    vocab: dict[str, int] = {}
    width = max((len(row) for row in topk), default=0)
    codes = np.full((len(topk), width), -1, dtype=np.int32)
    probs = np.full((len(topk), width), np.nan)
    for i, row in enumerate(topk):
        for j, (label, p) in enumerate(row):
            codes[i, j], probs[i, j] = vocab.setdefault(label, len(vocab)), p
    return TopK(codes, probs, tuple(vocab))


def encode(preds: Predictions) -> bytes:
    """The npz bytes of ``preds``."""
    arrays: dict[str, np.ndarray] = {"ids": _text(preds.ids)}
    vocab: dict[str, int] = {}
    if set(map(type, preds.output)) <= {str}:  # labels
        codes = [vocab.setdefault(o, len(vocab)) for o in preds.output]
        arrays["output_codes"] = np.array(codes, dtype=np.int32)
    else:
        arrays["output_json"] = _text(preds.output)
    arrays["vocab"] = _text(list(vocab))
    if preds.topk:
        table = _table(preds.topk)
        arrays |= {"topk_codes": table.codes, "topk_p": table.probs, "topk_vocab": _text(list(table.vocab))}
    if preds.confidence:
        arrays["confidence"] = _floats(preds.confidence)
    if preds.latency_ms:
        arrays["latency_ms"] = _floats(preds.latency_ms)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def _optional(values: np.ndarray) -> list[float | None]:
    return [None if v != v else v for v in values.tolist()]


def _decoded_topk(arrays: dict[str, np.ndarray]) -> TopK:
    vocab = tuple(_STRINGS.decode(arrays["topk_vocab"].tobytes()))
    return TopK(arrays["topk_codes"], arrays["topk_p"], vocab)


def decode(blob: bytes) -> Predictions:
    """``Predictions`` from npz bytes written by ``encode`` (never unpickles)."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    vocab = _STRINGS.decode(arrays["vocab"].tobytes())
    if "output_codes" in arrays:
        output: list[Any] = [vocab[c] for c in arrays["output_codes"].tolist()]
    else:
        output = msgspec.json.decode(arrays["output_json"].tobytes())
    return Predictions(
        _STRINGS.decode(arrays["ids"].tobytes()),
        output,
        _optional(arrays["confidence"]) if "confidence" in arrays else [],
        _decoded_topk(arrays) if "topk_codes" in arrays else [],
        _optional(arrays["latency_ms"]) if "latency_ms" in arrays else [],
    )


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def verified(blob: bytes, expected: str, *, what: str) -> bytes:
    """The blob, if its sha256 is the one recorded for it; a changed cache entry is never read."""
    actual = sha256(blob)
    if actual != expected:
        raise ValidationFailed(
            f"cached predictions {what} changed since they were stored "
            f"(expected sha256 {expected}, found {actual})",
            field="prediction_cache",
        )
    return blob
