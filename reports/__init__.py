"""Render an evaluation to canonical JSON, a Markdown CI comment, or a self-contained HTML page."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from reports import html, markdown
from reports.document import SCHEMA_VERSION, build

FORMATS = ("json", "md", "html")
__all__ = ["FORMATS", "SCHEMA_VERSION", "build", "render", "write"]


def render(report: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if fmt == "md":
        return markdown.render(report)
    if fmt == "html":
        return html.render(report)
    raise ValueError(f"unknown report format {fmt!r}; one of {', '.join(FORMATS)}")


def write(report: dict[str, Any], folder: Path) -> dict[str, str]:
    """Write all three formats atomically (temp file + rename): never a half-written report."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for fmt in FORMATS:
        target = folder / f"report.{fmt}"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".report.{fmt}.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(render(report, fmt))
        os.replace(tmp, target)
        paths[fmt] = str(target)
    return paths
