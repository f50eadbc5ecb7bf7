"""Load an evalset folder (any team may bring its own) and refuse it if a file differs from its
manifest, so every number in a report traces to exactly the data it claims."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from evalsets.manifest import MANIFEST_NAME, file_sha256, load_manifest
from gatekeeper.errors import ValidationFailed

# The roles an offline evaluation reads; training and validation splits are the trainer's.
EVAL_ROLES = ("golden", "holdout", "adversarial", "replay")
_LINES = msgspec.json.Decoder(dict[str, Any])  # JSONL rows, decoded in C
# Parsed rows of the files read lately, by sha256: a file is still hashed on every load (the manifest
# check), but bytes whose hash was parsed before are not parsed again. The rows are shared: read-only.
_PARSED: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
_PARSED_FILES = 16
_parsed_lock = threading.Lock()


def _rows_of(sha: str, data: bytes) -> list[dict[str, Any]]:
    with _parsed_lock:
        if sha in _PARSED:
            _PARSED.move_to_end(sha)
            return _PARSED[sha]
    rows = _LINES.decode_lines(data)
    with _parsed_lock:
        _PARSED[sha] = rows
        while len(_PARSED) > _PARSED_FILES:
            _PARSED.popitem(last=False)
    return rows


@dataclass(frozen=True)
class EvalFile:
    name: str
    role: str
    sha256: str
    rows: list[dict[str, Any]]


@dataclass
class EvalSet:
    folder: Path
    manifest: dict[str, Any]
    files: dict[str, EvalFile] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.manifest.get("version", "unversioned"))

    @property
    def labels(self) -> list[str]:
        return list(self.manifest.get("labels", []))

    def role(self, role: str) -> EvalFile | None:
        return next((f for f in self.files.values() if f.role == role), None)

    def examples(self, role: str) -> list[dict[str, Any]]:
        found = self.role(role)
        return found.rows if found else []

    def file_shas(self) -> dict[str, str]:
        return {name: f.sha256 for name, f in self.files.items()}

    def example_ids(self) -> set[str]:
        return {row["id"] for f in self.files.values() for row in f.rows}


def resolve_folder(evalset_dir: str, root: Path) -> Path:
    path = Path(evalset_dir)
    return path if path.is_absolute() else root / path


def _read(folder: Path, manifest: dict[str, Any], roles: tuple[str, ...]) -> tuple[dict, dict]:
    """Hash every manifest file; the files of ``roles`` are read once, hashed and parsed from the same
    bytes. Returns ``({file: (expected, actual)} for files that differ, {file: rows} of the roles)``."""
    bad: dict[str, tuple[str, str]] = {}
    rows: dict[str, list[dict[str, Any]]] = {}
    for name, entry in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            bad[name] = (entry["sha256"], "missing")
            continue
        data = path.read_bytes() if entry.get("role") in roles else None
        actual = file_sha256(path) if data is None else hashlib.sha256(data).hexdigest()
        if actual != entry["sha256"]:
            bad[name] = (entry["sha256"], actual)
        elif data is not None:
            rows[name] = _rows_of(actual, data)
    return bad, rows


def load(folder: Path, roles: tuple[str, ...] = EVAL_ROLES) -> EvalSet:
    """Verify every manifest file's sha256, then read the evaluation roles."""
    if not (folder / MANIFEST_NAME).is_file():
        raise ValidationFailed(f"evalset folder {folder} has no {MANIFEST_NAME}", field="evalset_dir")
    manifest = load_manifest(folder)
    bad, rows = _read(folder, manifest, roles)
    if bad:
        listed = "; ".join(
            f"{name}: expected {exp[:12]}…, actual {act[:12]}…" for name, (exp, act) in bad.items()
        )
        raise ValidationFailed(
            f"evalset files differ from the manifest ({listed})",
            field="evalset_dir",
            tampered={name: {"expected": e, "actual": a} for name, (e, a) in bad.items()},
        )
    evalset = EvalSet(folder=folder, manifest=manifest)
    for name, entry in sorted(manifest["files"].items()):
        if entry.get("role") in roles:
            role, sha = entry["role"], entry["sha256"]
            evalset.files[name] = EvalFile(name=name, role=role, sha256=sha, rows=rows[name])
    if "golden" in roles and evalset.role("golden") is None:
        raise ValidationFailed(f"evalset {folder} has no golden file", field="evalset_dir")
    return evalset
