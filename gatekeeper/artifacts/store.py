"""Where artifacts live, and the one way to get a local copy to load.

Uploads go to a content-addressed store: a local folder (``<artifact_root>/sha256/<digest>``, the
default) or an S3-compatible bucket (``GATEKEEPER_ARTIFACT_STORE=s3://bucket/prefix``). An
``artifact_uri`` is then ``sha256:<digest>`` (the store), ``s3://bucket/key`` (anywhere in S3) or a
path under the artifact root. Remote artifacts are downloaded to a local copy whose hash is checked
before it is used; nothing is loaded straight from a bucket. S3 credentials come from the standard
``AWS_*`` environment (read by botocore) and never pass through this code.
"""

from __future__ import annotations

import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from gatekeeper.config import Settings
from gatekeeper.errors import StoreUnavailable, ValidationFailed
from gatekeeper.registry.artifacts import artifact_sha256, expect_sha256, resolve_under_root

STORE_SCHEME = "sha256:"
DIGEST = re.compile(r"^[0-9a-f]{64}$")
STAGING = ".uploads"  # half-received uploads, under the artifact root (same filesystem: rename is atomic)
CACHE = ".cache/s3"  # verified local copies of remote artifacts


class ArtifactStore(Protocol):
    """A content-addressed store: every artifact is filed under its digest (``artifact_sha256``)."""

    def exists(self, digest: str) -> bool: ...

    def open(self, digest: str) -> BinaryIO:
        """Read a single-file artifact."""
        ...

    def put(self, digest: str, staged: Path) -> None:
        """File a staged, already verified file or folder under ``digest`` (consumes ``staged``)."""
        ...

    def local_path(self, digest: str, *, fresh: bool = False) -> Path:
        """A local path holding the artifact, to hash and load (``fresh``: re-read a remote one)."""
        ...


def remove(path: Path) -> None:
    """Delete a staged or cached file or folder; a missing one is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def settle(staged: Path, final: Path) -> None:
    """Move a verified file or folder into place atomically; content addressing makes a lost race harmless."""
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        staged.rename(final)
    except OSError:
        if not final.exists():
            raise
        remove(staged)  # the same bytes got there first: keep those, a reader may hold them


@dataclass(frozen=True)
class LocalStore:
    """``<root>/sha256/<digest>``: a file, or a folder of files."""

    root: Path

    def _path(self, digest: str) -> Path:
        return self.root / "sha256" / digest

    def exists(self, digest: str) -> bool:
        return self._path(digest).exists()

    def open(self, digest: str) -> BinaryIO:
        return self._path(digest).open("rb")

    def put(self, digest: str, staged: Path) -> None:
        settle(staged, self._path(digest))

    def local_path(self, digest: str, *, fresh: bool = False) -> Path:
        return self._path(digest)


def _relative_files(folder: Path) -> list[tuple[str, Path]]:
    return sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*") if p.is_file())


@dataclass(frozen=True)
class S3Store:
    """``s3://bucket/prefix/sha256/<digest>`` (an object, or objects under it as a folder).

    S3 has no rename, so a ``<digest>.complete`` marker is written last: a digest exists only once all
    its objects do, and a half-finished upload is never reported present.
    """

    fs: Any  # s3fs.S3FileSystem
    base: str  # bucket/prefix, no scheme
    cache: Path

    def _key(self, digest: str) -> str:
        return f"{self.base}/sha256/{digest}"

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self._key(digest) + ".complete"))

    def open(self, digest: str) -> BinaryIO:
        return self.fs.open(self._key(digest), "rb")

    def put(self, digest: str, staged: Path) -> None:
        key = self._key(digest)
        files = _relative_files(staged) if staged.is_dir() else [("", staged)]
        try:
            for rel, file in files:
                self.fs.put_file(str(file), f"{key}/{rel}" if rel else key)
            self.fs.pipe_file(key + ".complete", b"")
        except (FileNotFoundError, PermissionError) as exc:
            raise StoreUnavailable(
                f"the artifact store s3://{self.base} cannot be written: {type(exc).__name__}",
                field="artifact_store",
            ) from None
        remove(staged)

    def local_path(self, digest: str, *, fresh: bool = False) -> Path:
        if not self.exists(digest):
            raise ValidationFailed(f"no uploaded artifact sha256:{digest}", field="artifact_uri")
        return fetch_verified(self.fs, self._key(digest), digest, self.cache, fresh=fresh)


def _s3fs(settings: Settings) -> Any:
    """An S3 filesystem; credentials are botocore's (``AWS_*`` environment, profiles, instance role)."""
    import s3fs  # optional extra "s3": only deployments that use a bucket install it

    client_kwargs = {"endpoint_url": settings.s3_endpoint_url} if settings.s3_endpoint_url else {}
    return s3fs.S3FileSystem(client_kwargs=client_kwargs, use_listings_cache=False, skip_instance_cache=True)


def store_for(settings: Settings) -> ArtifactStore:
    """The store that uploads go to: the local folder, or the bucket ``artifact_store`` names."""
    if not settings.artifact_store:
        return LocalStore(settings.artifact_root)
    base = settings.artifact_store.removeprefix("s3://").rstrip("/")
    return S3Store(_s3fs(settings), base, settings.artifact_root / CACHE)


def parse_digest(text: str, field: str = "digest") -> str:
    if not DIGEST.match(text):
        raise ValidationFailed(f"{field} must be 64 lower-case hex characters", field=field)
    return text


def _download(fs: Any, key: str, dest: Path) -> None:
    """Copy an object, or every object under a prefix, to ``dest`` (keys confined to ``dest``)."""
    if fs.isfile(key):
        fs.get_file(key, str(dest))
        return
    objects = [o for o in fs.find(key) if not o.endswith("/")]
    if not objects:
        raise ValidationFailed(f"no artifact at s3://{key}", field="artifact_uri")
    root = dest.resolve()
    for obj in objects:
        local = (dest / obj[len(key) :].lstrip("/")).resolve()
        if root not in local.parents:
            raise ValidationFailed(f"object key escapes the artifact: s3://{obj}", field="artifact_uri")
        local.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(obj, str(local))


def _check_bucket(fs: Any, key: str) -> None:
    bucket = key.split("/", 1)[0]
    try:
        present = fs.exists(bucket)
    except (PermissionError, OSError) as exc:
        raise ValidationFailed(
            f"cannot read bucket {bucket!r}: {type(exc).__name__}", field="artifact_uri"
        ) from None
    if not present:
        raise ValidationFailed(f"bucket {bucket!r} does not exist", field="artifact_uri")


def fetch_verified(fs: Any, key: str, sha: str, cache: Path, *, fresh: bool) -> Path:
    """Download ``s3://key`` to a local copy, keep it only if its hash is ``sha``, and return it.

    Copies are filed by hash, so a loader may reuse one (it re-hashes before use); registration
    asks for ``fresh`` because it vouches for what the bucket holds now.
    """
    final = cache / sha
    if final.exists() and not fresh:
        return final
    temp = cache / f".{sha}.{uuid.uuid4().hex}"
    cache.mkdir(parents=True, exist_ok=True)
    try:
        _check_bucket(fs, key)
        _download(fs, key, temp)
        expect_sha256(artifact_sha256(temp), sha)
        settle(temp, final)
    finally:
        remove(temp)
    return final


def local_copy(uri: str, sha: str, settings: Settings, *, fresh: bool = False) -> Path:
    """The local path to hash and load ``artifact_uri`` from (remote ones downloaded and verified)."""
    raw = uri.strip()
    if raw.startswith(STORE_SCHEME):
        digest = parse_digest(raw[len(STORE_SCHEME) :], field="artifact_uri")
        return store_for(settings).local_path(digest, fresh=fresh)
    if raw.startswith("s3://"):
        key = raw[len("s3://") :].strip("/")
        if "/" not in key:
            raise ValidationFailed("artifact_uri must be s3://bucket/key", field="artifact_uri")
        return fetch_verified(_s3fs(settings), key, sha, settings.artifact_root / CACHE, fresh=fresh)
    return resolve_under_root(raw, settings.artifact_root)
