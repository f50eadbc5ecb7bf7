"""Artifact identity and safety: content hashes, root confinement, and the no-pickle rule.

A folder's sha256 is defined so any tool can recompute it: list every regular file under the
folder (recursively, symlinks refused), take each file's POSIX path relative to the folder,
sort the paths by their UTF-8 bytes, and hash the concatenation of ``f"{path}\\t{sha256(file)}\\n"``.
A single file's sha256 is the plain sha256 of its bytes. Uploads (``gatekeeper.artifacts``) use the
same definition, so a folder sent as tar has the digest of its files, not of the tar's bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from evalsets.manifest import file_sha256  # one file hash for artifacts and evalset manifests
from gatekeeper.errors import ValidationFailed

# Formats that execute code on load. Weights must be safetensors; these are refused outright.
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib"})


def _files_under(folder: Path) -> list[tuple[str, Path]]:
    entries: list[tuple[str, Path]] = []
    for path in folder.rglob("*"):
        if path.is_symlink():
            raise ValidationFailed(
                f"artifact contains a symlink: {path.relative_to(folder).as_posix()}", field="artifact_uri"
            )
        if path.is_file():
            entries.append((path.relative_to(folder).as_posix(), path))
    entries.sort(key=lambda item: item[0].encode("utf-8"))
    return entries


def is_pickle_name(name: str) -> bool:
    """The no-pickle rule, by file name: one rule for registration, upload and loaders."""
    return Path(name).suffix.lower() in PICKLE_SUFFIXES


def folder_digest(entries: Iterable[tuple[str, str]]) -> str:
    """The folder hash from ``(posix relative path, file sha256)`` pairs, in any order."""
    digest = hashlib.sha256()
    for rel, sha in sorted(entries, key=lambda item: item[0].encode("utf-8")):
        digest.update(f"{rel}\t{sha}\n".encode())
    return digest.hexdigest()


def artifact_sha256(path: Path) -> str:
    """Return the sha256 of a file, or the documented manifest hash of a folder."""
    if path.is_symlink():
        raise ValidationFailed("artifact_uri is a symlink", field="artifact_uri")
    if path.is_file():
        return file_sha256(path)
    if not path.is_dir():
        raise ValidationFailed(f"artifact not found: {path}", field="artifact_uri")
    return folder_digest((rel, file_sha256(file)) for rel, file in _files_under(path))


def expect_sha256(actual: str, expected: str, field: str = "artifact_sha256") -> None:
    """Refuse content whose hash is not the one claimed, naming the field that claimed it."""
    if actual != expected:
        raise ValidationFailed(
            f"{field} mismatch: expected {expected}, actual {actual}",
            field=field,
            expected=expected,
            actual=actual,
        )


def pickled_files(path: Path) -> list[str]:
    """List files whose format would unpickle on load (relative paths)."""
    if path.is_file():
        return [path.name] if is_pickle_name(path.name) else []
    return [rel for rel, _ in _files_under(path) if is_pickle_name(rel)]


def resolve_under_root(uri: str, root: Path) -> Path:
    """Resolve a ``file://`` URI or relative path, refusing anything outside the artifact root."""
    raw = uri.strip()
    if not raw:
        raise ValidationFailed("artifact_uri is empty", field="artifact_uri")
    if raw.startswith("file://"):
        raw = raw[len("file://") :]
    elif "://" in raw:
        raise ValidationFailed(
            "artifact_uri must be a file:// URI or a path under the artifact root", field="artifact_uri"
        )
    root = root.resolve()
    candidate = Path(raw)
    candidate = candidate if candidate.is_absolute() else root / candidate
    resolved = candidate.resolve()
    if resolved != root and root not in resolved.parents:
        raise ValidationFailed(f"artifact_uri escapes the artifact root {root}", field="artifact_uri")
    return resolved
