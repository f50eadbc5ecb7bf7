"""Label QA before training: Cohen's kappa on double-labelled rows, one pool per language.

Seed 002 (1.3, 1.4): an English team's agreement says nothing about the Japanese team's, so each
pool is judged on its own. kappa < 0.65 refuses the batch; kappa < 0.75 accepts it flagged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sklearn.metrics import cohen_kappa_score

from gatekeeper.errors import ValidationFailed

Verdict = Literal["pass", "flag", "reject"]
POOLS: tuple[str, ...] = ("en", "ja")
_SEVERITY: dict[str, int] = {"pass": 0, "flag": 1, "reject": 2}


@dataclass(frozen=True)
class PoolKappa:
    pool: str
    kappa: float  # NaN when undefined (no rows, or a single label used by both annotators)
    n: int
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "kappa": None if math.isnan(self.kappa) else self.kappa,
            "n": self.n,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class LabelQAResult:
    pools: dict[str, PoolKappa]
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    reject_below: float = 0.65
    flag_below: float = 0.75

    @property
    def flagged(self) -> bool:
        return self.verdict == "flag"

    def kappa(self, pool: str) -> float:
        return self.pools[pool].kappa

    def log_line(self) -> str:
        """Render the seed-003-style ``[LABEL_QA]`` line."""
        parts = [f"{name}_kappa={_fmt(p.kappa)} {name}_n={p.n}" for name, p in self.pools.items()]
        return f"[LABEL_QA] {' '.join(parts)} verdict={self.verdict}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "reject_below": self.reject_below,
            "flag_below": self.flag_below,
            "pools": {name: p.to_dict() for name, p in self.pools.items()},
        }


class LabelQARejected(ValidationFailed):
    """A language pool's annotator agreement is below the floor: the batch must be re-annotated."""

    def __init__(self, result: LabelQAResult) -> None:
        super().__init__(
            "label QA rejected: " + "; ".join(result.reasons) + "; re-annotate before training",
            label_qa=result.to_dict(),
        )
        self.result = result


def _fmt(kappa: float) -> str:
    return "nan" if math.isnan(kappa) else f"{kappa:.3f}"


def _pair(row: Mapping[str, Any]) -> tuple[str, str]:
    labels = row.get("labels") or []
    if len(labels) < 2:
        raise ValueError(f"label QA row {row.get('id')!r} needs two annotations, has {len(labels)}")
    # Extra annotations (the triple-labelled share) are ignored: Cohen's kappa compares two raters.
    return str(labels[0]["label"]), str(labels[1]["label"])


def pool_kappa(pairs: Sequence[tuple[str, str]]) -> float:
    """Cohen's kappa of first vs second annotation; NaN when it is undefined."""
    if not pairs:
        return math.nan
    first = [a for a, _ in pairs]
    second = [b for _, b in pairs]
    categories = sorted(set(first) | set(second))
    if len(categories) < 2:
        return math.nan  # chance agreement is 1: kappa is 0/0
    return float(cohen_kappa_score(first, second, labels=categories))


def _verdict(kappa: float, reject_below: float, flag_below: float) -> Verdict:
    if math.isnan(kappa) or kappa < reject_below:
        return "reject"
    return "flag" if kappa < flag_below else "pass"


def check_label_quality(
    rows: Iterable[Mapping[str, Any]],
    *,
    reject_below: float = 0.65,
    flag_below: float = 0.75,
    required_pools: Sequence[str] = POOLS,
) -> LabelQAResult:
    """Judge each language pool's agreement; the batch verdict is the worst pool's."""
    if not reject_below <= flag_below:
        raise ValueError(f"reject_below {reject_below} must not exceed flag_below {flag_below}")
    grouped: dict[str, list[tuple[str, str]]] = {pool: [] for pool in required_pools}
    for row in rows:
        pool = str(row.get("pool", "")).lower()
        if pool not in POOLS:
            raise ValueError(
                f"label QA row {row.get('id')!r} has pool {row.get('pool')!r}; expected one of {POOLS}"
            )
        grouped.setdefault(pool, []).append(_pair(row))
    pools: dict[str, PoolKappa] = {}
    reasons: list[str] = []
    for pool, pairs in grouped.items():
        kappa = pool_kappa(pairs)
        verdict = _verdict(kappa, reject_below, flag_below)
        pools[pool] = PoolKappa(pool=pool, kappa=kappa, n=len(pairs), verdict=verdict)
        name = pool.upper()
        if not pairs:
            reasons.append(f"{name} pool has no double-labelled rows")
        elif math.isnan(kappa):
            reasons.append(
                f"{name} pool kappa undefined: both annotators used a single label (n={len(pairs)})"
            )
        elif verdict == "reject":
            reasons.append(f"{name} pool kappa {kappa:.2f} < {reject_below:.2f} (n={len(pairs)})")
        elif verdict == "flag":
            reasons.append(
                f"{name} pool kappa {kappa:.2f} < {flag_below:.2f} (n={len(pairs)}): accepted, flagged"
            )
    worst: Verdict = max((p.verdict for p in pools.values()), key=_SEVERITY.__getitem__, default="reject")
    if worst == "reject":
        reasons = [r for r in reasons if not r.endswith("accepted, flagged")]
    return LabelQAResult(
        pools=pools, verdict=worst, reasons=reasons, reject_below=reject_below, flag_below=flag_below
    )


def require_label_quality(result: LabelQAResult) -> LabelQAResult:
    """Raise :class:`LabelQARejected` on a rejected batch; return the result otherwise."""
    if result.verdict == "reject":
        raise LabelQARejected(result)
    return result
