"""Mode 3, adversarial: error per perturbation type and the flip rate against the clean source
example (did the perturbation alone change the model's answer?)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from gatekeeper.evaluation import stats
from gatekeeper.evaluation.tasks import Rows, Task

MAX_EXAMPLES = 25


def _summary(
    cand_err: np.ndarray,
    champ_err: np.ndarray | None,
    cand_flip: np.ndarray,
    champ_flip: np.ndarray | None,
    *,
    n_resamples: int,
    seed: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "n": int(cand_err.size),
        "candidate_error": float(cand_err.mean()),
        "candidate_flip_rate": float(cand_flip.mean()),
    }
    if champ_err is not None and champ_flip is not None:
        comparison = stats.paired_bootstrap_mean(
            cand_err, champ_err, metric="error", n_resamples=n_resamples, seed=seed
        )
        out.update(
            champion_error=comparison.champion,
            delta_error=comparison.delta,
            ci_low=comparison.ci_low,
            ci_high=comparison.ci_high,
            p_value=comparison.p_value,
            champion_flip_rate=float(champ_flip.mean()),
        )
    return out


def adversarial_table(
    rows: Sequence[dict[str, Any]],
    candidate_error: np.ndarray,
    champion_error: np.ndarray | None,
    candidate_flip: np.ndarray,
    champion_flip: np.ndarray | None,
    *,
    describe: list[dict[str, Any]],
    n_resamples: int,
    seed: int,
) -> dict[str, Any]:
    """Overall and per-type error (paired with the champion) and flip rates, plus example flips.

    ``describe[i]`` carries what a reviewer needs to see for example i (texts and both answers).
    """
    by_type: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        by_type[str(row.get("perturbation", "unknown"))].append(index)

    def part(index: list[int], offset: int) -> dict[str, Any]:
        pick = np.asarray(index, dtype=int)
        return _summary(
            candidate_error[pick],
            None if champion_error is None else champion_error[pick],
            candidate_flip[pick],
            None if champion_flip is None else champion_flip[pick],
            n_resamples=n_resamples,
            seed=seed + offset,
        )

    flips = [describe[i] for i in np.flatnonzero(candidate_flip)[:MAX_EXAMPLES]]
    return {
        "overall": part(list(range(len(rows))), 0),
        "by_type": [
            {"perturbation": name, **part(index, k + 1)}
            for k, (name, index) in enumerate(sorted(by_type.items()))
        ],
        "flips": flips,
    }


def flip_column(answers: Sequence[Any], source_answers: Sequence[Any]) -> np.ndarray:
    """1 where the perturbation alone changed the answer."""
    return np.array([a != b for a, b in zip(answers, source_answers, strict=True)], dtype=float)


def adversarial_mode(task: Task, rows: Rows, *, n_resamples: int, seed: int) -> dict[str, Any] | None:
    """The adversarial mode for any task: error is 1 - the task's score, a flip is a changed answer."""
    rows = [r for r in rows if task.covers(r.get("source_id"))]
    if not rows:
        return None
    ids, sources = [r["id"] for r in rows], [r["source_id"] for r in rows]

    def columns(model: Any) -> tuple[np.ndarray, np.ndarray]:
        return 1.0 - task.scores(rows, model), flip_column(
            task.answers(ids, model), task.answers(sources, model)
        )

    cand_error, cand_flip = columns(task.candidate)
    champ_error, champ_flip = (None, None) if task.champion is None else columns(task.champion)
    return adversarial_table(
        rows,
        cand_error,
        champ_error,
        cand_flip,
        champ_flip,
        describe=task.describe(rows),
        n_resamples=n_resamples,
        seed=seed,
    )
