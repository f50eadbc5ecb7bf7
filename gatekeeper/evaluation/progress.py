"""An evaluation's progress, read: ``{stage, mode, done, total, modes_done, at}``, per mode the examples
scored out of its total, and the modes finished in the stage so far. The runner writes it
(``runner.Progress``); the worker log, the CLI and the dashboard show it with these two functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def progress_line(progress: Mapping[str, Any], status: str | None = None) -> str:
    """One line: ``[running] candidate: predicting slices 4096/10000 (finished: golden)``."""
    mode, done, total = progress.get("mode"), progress.get("done"), progress.get("total")
    text = str(progress.get("stage") or "")
    text += f" {mode}" if mode else ""
    text += f" {done}/{total}" if total else ""
    finished = progress.get("modes_done") or []
    text += f" (finished: {', '.join(finished)})" if finished else ""
    return f"[{status}] {text}".rstrip() if status else text


def progress_fraction(progress: Mapping[str, Any]) -> float | None:
    """The current mode's share done, or None when the stage has no count."""
    done, total = progress.get("done"), progress.get("total")
    if not total or done is None:
        return None
    return max(0.0, min(1.0, done / total))
