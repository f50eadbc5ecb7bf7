"""Write a trained model's output folder: safetensors weights, tokenizer, label map, metrics, model card.

The folder is assembled in a sibling temp folder and renamed into place, so a crash never leaves a
half-written artifact, and it is refused if any file would unpickle on load.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from gatekeeper.errors import ValidationFailed
from gatekeeper.registry.artifacts import artifact_sha256, pickled_files
from gatekeeper.registry.lineage import LINEAGE_TAGS

LABEL_MAP = "label_map.json"
METRICS = "metrics.json"
MODEL_CARD = "model_card.md"
WEIGHTS = "model.safetensors"


class SavesPretrained(Protocol):
    def save_pretrained(self, save_directory: str | os.PathLike[str], **kwargs: Any) -> Any: ...


def json_safe(value: Any) -> Any:
    """Replace NaN/inf with None (JSON has no NaN) and Paths with strings, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: Path, payload: Any) -> None:
    path.write_text(
        json.dumps(json_safe(payload), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n",
        encoding="utf-8",
    )


def label_map(labels: Sequence[str]) -> dict[str, Any]:
    return {
        "labels": list(labels),
        "label2id": {label: i for i, label in enumerate(labels)},
        "id2label": {str(i): label for i, label in enumerate(labels)},
    }


def assert_no_pickle(folder: Path) -> None:
    """Refuse a folder holding any file that would execute code on load."""
    if found := pickled_files(folder):
        raise ValidationFailed(f"refusing pickle files in model output: {', '.join(found)}", files=found)


def ensure_empty_output(out_dir: Path) -> None:
    """Refuse to overwrite: a stale file (say an old pytorch_model.bin) must never join a new artifact."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise FileExistsError(f"output folder {out_dir} exists and is not empty")


@contextmanager
def staged_output(out_dir: Path) -> Iterator[Path]:
    """Yield a sibling staging folder to fill; on success it is checked for pickles and renamed into
    ``out_dir`` in one step, on any error it is removed. ``out_dir`` must be absent or empty."""
    out_dir = Path(out_dir)
    ensure_empty_output(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it 0700; the artifact store should read like any folder
    try:
        yield staging
        assert_no_pickle(staging)
        if out_dir.exists():
            out_dir.rmdir()
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_model_folder(
    out_dir: Path,
    *,
    model: SavesPretrained,
    tokenizer: SavesPretrained,
    labels: Sequence[str] | None,
    metrics: Mapping[str, Any],
    model_card: str,
) -> str:
    """Write the folder atomically and return its artifact sha256 (``gatekeeper.registry.artifacts``)."""
    with staged_output(out_dir) as staging:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        if labels is not None:
            write_json(staging / LABEL_MAP, label_map(labels))
        write_json(staging / METRICS, metrics)
        (staging / MODEL_CARD).write_text(model_card, encoding="utf-8")
        if not (staging / WEIGHTS).is_file():
            raise ValidationFailed(
                f"model did not write {WEIGHTS}", files=sorted(p.name for p in staging.iterdir())
            )
    return artifact_sha256(out_dir)


def cell(value: Any) -> str:
    """A Markdown table cell: n/a for missing or non-finite, four significant digits for floats."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_model_card(
    *,
    title: str,
    tags: Mapping[str, Any],
    recipe: Mapping[str, Any],
    epochs: Sequence[Mapping[str, Any]],
    epoch_columns: Sequence[str],
    label_qa: Mapping[str, Any] | None,
    flagged: bool,
    summary: Mapping[str, Any],
) -> str:
    """Render a Markdown model card: lineage, recipe, per-epoch metrics, label QA."""
    lines = [f"# {title}", ""]
    lines += ["## Lineage", "", "| tag | value |", "|---|---|"]
    for name in (*LINEAGE_TAGS, *sorted(set(tags) - set(LINEAGE_TAGS))):
        lines.append(
            f"| {name} | {cell(tags.get(name)) if tags.get(name) not in (None, '') else '(not given)'} |"
        )
    lines += ["", "## Summary", ""]
    lines += [f"- **{key}**: {cell(value)}" for key, value in summary.items()]
    lines += [f"- **flagged**: {'yes (label QA below the flag threshold)' if flagged else 'no'}"]
    lines += ["", "## Recipe", "", "| option | value |", "|---|---|"]
    lines += [f"| {key} | {cell(value)} |" for key, value in recipe.items()]
    lines += [
        "",
        "## Per-epoch metrics",
        "",
        "| " + " | ".join(epoch_columns) + " |",
        "|" + "---|" * len(epoch_columns),
    ]
    lines += ["| " + " | ".join(cell(row.get(col)) for col in epoch_columns) + " |" for row in epochs]
    lines += ["", "## Label QA (Cohen's kappa per language pool)", ""]
    if label_qa is None:
        lines.append("No label QA file was configured for this run.")
    else:
        lines += [
            f"Verdict: **{label_qa['verdict']}** (reject < {label_qa['reject_below']}, "
            f"flag < {label_qa['flag_below']})",
            "",
            "| pool | kappa | n | verdict |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {p['pool']} | {cell(p['kappa'])} | {p['n']} | {p['verdict']} |"
            for p in label_qa["pools"].values()
        ]
        if label_qa.get("reasons"):
            lines += ["", *(f"- {reason}" for reason in label_qa["reasons"])]
    lines += ["", "Weights are safetensors only; no pickle files are written or loaded.", ""]
    return "\n".join(lines)
