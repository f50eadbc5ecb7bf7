"""Evalset manifests: every file's sha256 and role, so an evaluation can refuse a tampered set
and record exactly what it measured against."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

MANIFEST_NAME = "manifest.yaml"
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """Hash one file in 1 MiB chunks so large weights never sit in memory twice."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write rows as canonical JSON lines (sorted keys, UTF-8, \\n) so rebuilds are byte-identical."""
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n")
            count += 1
    return count


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_manifest(out_dir: Path, *, meta: Mapping[str, Any], roles: Mapping[str, str]) -> dict[str, Any]:
    """Hash the files named in ``roles`` (file name -> role) and write ``manifest.yaml``.

    ``meta`` carries at least ``name``, ``task``, ``version`` and ``seed``; anything else the
    builder wants recorded (labels, route costs, schemas) goes there too.
    """
    files: dict[str, dict[str, Any]] = {}
    for name, role in sorted(roles.items()):
        path = out_dir / name
        with path.open(encoding="utf-8") as fh:
            rows = sum(1 for line in fh if line.strip())
        files[name] = {"role": role, "sha256": file_sha256(path), "rows": rows}
    manifest = {**dict(meta), "files": files}
    (out_dir / MANIFEST_NAME).write_text(
        yaml.safe_dump(manifest, sort_keys=True, allow_unicode=True), encoding="utf-8"
    )
    return manifest


# libyaml's safe loader when PyYAML has it (the same documents, read in C: every evaluation reads one).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_manifest(folder: Path) -> dict[str, Any]:
    return yaml.load((folder / MANIFEST_NAME).read_text(encoding="utf-8"), Loader=_SAFE_LOADER)


def tampered_files(folder: Path, manifest: Mapping[str, Any] | None = None) -> dict[str, tuple[str, str]]:
    """Return ``{file: (expected_sha, actual_sha)}`` for every file that differs from the manifest."""
    manifest = manifest if manifest is not None else load_manifest(folder)
    bad: dict[str, tuple[str, str]] = {}
    for name, entry in manifest["files"].items():
        path = folder / name
        actual = file_sha256(path) if path.is_file() else "missing"
        if actual != entry["sha256"]:
            bad[name] = (entry["sha256"], actual)
    return bad
