"""Receive an upload into a staging folder, hashing while the bytes arrive.

A single file's digest is the sha256 of its bytes. A folder arrives as a tar stream; its digest is
``registry.artifacts.folder_digest`` over the files it unpacks to (relative path and sha256 of each
regular file), the same hash registration and ``gatekeeper artifact hash`` compute for a folder on
disk. Tar framing (member order, mtimes, owners, directory entries) is not part of the digest, so the
same folder packed twice has one digest and a re-upload is skipped.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from gatekeeper.errors import TooLarge, ValidationFailed
from gatekeeper.registry.artifacts import folder_digest, is_pickle_name

CHUNK = 1024 * 1024
NextChunk = Callable[[], bytes | None]  # the next piece of the request body; None at its end


class LimitedReader:
    """A blocking ``read()`` over the request body that refuses it once it passes ``limit`` bytes."""

    def __init__(self, next_chunk: NextChunk, limit: int) -> None:
        self._next, self.limit = next_chunk, limit
        self._buffer, self.received, self._done = bytearray(), 0, False

    def _fill(self, want: int) -> None:
        while not self._done and (want < 0 or len(self._buffer) < want):
            chunk = self._next()
            if chunk is None:
                self._done = True
                return
            self.received += len(chunk)
            if self.received > self.limit:
                raise TooLarge(
                    f"upload exceeds the {self.limit} byte limit", field="body", limit_bytes=self.limit
                )
            self._buffer += chunk

    def read(self, size: int = -1) -> bytes:
        self._fill(size)
        cut = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        out = bytes(self._buffer[:cut])
        del self._buffer[:cut]
        return out


def _copy_hashing(source: IO[bytes], dest: Path) -> str:
    digest = hashlib.sha256()
    with dest.open("xb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def check_filename(name: str) -> str:
    """A single file's name: plain (no folders), and not a pickle format."""
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValidationFailed("filename must be a plain file name, e.g. model.safetensors", field="filename")
    if is_pickle_name(name):
        raise ValidationFailed(f"pickled weights are refused (safetensors only): {name}", field="filename")
    return name


def receive_file(reader: IO[bytes], staging: Path, filename: str) -> tuple[Path, str]:
    """Stage one file; return its path and sha256."""
    check_filename(filename)
    path = staging / "file"
    return path, _copy_hashing(reader, path)


def member_path(member: tarfile.TarInfo) -> str | None:
    """The member's safe relative path (None for a directory entry); refuse anything else."""
    name = member.name
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or "\\" in name:
        raise ValidationFailed(f"tar member has an absolute or Windows path: {name}", field="body")
    if ".." in parts or not parts and not member.isdir():
        raise ValidationFailed(f"tar member escapes the folder: {name}", field="body")
    if member.isdir():
        return None
    if not member.isfile():  # symlinks, hard links, devices, fifos
        raise ValidationFailed(f"tar member is not a regular file: {name}", field="body")
    rel = "/".join(parts)
    if is_pickle_name(rel):
        raise ValidationFailed(f"pickled weights are refused (safetensors only): {rel}", field="body")
    return rel


def _unpack(tar: tarfile.TarFile, folder: Path) -> list[tuple[str, str]]:
    entries: list[tuple[str, str]] = []
    for member in tar:
        rel = member_path(member)
        if rel is None:
            continue
        dest = folder / rel
        if dest.exists() or any(p.is_file() for p in dest.parents if folder in p.parents):
            raise ValidationFailed(f"tar member appears twice or under a file: {rel}", field="body")
        dest.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        if source is None:
            raise ValidationFailed(f"tar member has no body: {rel}", field="body")
        entries.append((rel, _copy_hashing(source, dest)))
    return entries


def receive_tar(reader: IO[bytes], staging: Path) -> tuple[Path, str]:
    """Unpack a tar stream member by member into a staged folder; return it and its folder digest."""
    folder = staging / "folder"
    folder.mkdir()
    try:
        with tarfile.open(fileobj=reader, mode="r|*") as tar:
            entries = _unpack(tar, folder)
    except tarfile.TarError as exc:
        raise ValidationFailed(f"body is not a readable tar stream: {exc}", field="body") from None
    if not entries:
        raise ValidationFailed("the tar holds no files", field="body")
    return folder, folder_digest(entries)


def pack_tar(folder: Path, out: IO[bytes]) -> None:
    """Pack a folder's regular files (sorted, relative paths) as the tar an upload expects."""
    with tarfile.open(fileobj=out, mode="w") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink():
                raise ValidationFailed(f"artifact contains a symlink: {path}", field="artifact")
            if path.is_file():
                tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
