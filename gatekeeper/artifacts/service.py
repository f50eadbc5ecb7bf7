"""Artifact uploads: stage, verify the digest, file in the store, audit. A refused upload leaves
nothing behind: the staging folder is removed whatever happens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import IO

from gatekeeper.artifacts.store import STAGING, STORE_SCHEME, remove, store_for
from gatekeeper.artifacts.upload import receive_file, receive_tar
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.registry import audit
from gatekeeper.registry.artifacts import expect_sha256


@dataclass(frozen=True)
class Upload:
    digest: str
    kind: str  # file | folder
    filename: str | None  # a single file's name (for the no-pickle rule); None for a tar
    actor: str


def present(settings: Settings, digest: str) -> bool:
    return store_for(settings).exists(digest)


def receive(db: Database, settings: Settings, upload: Upload, body: IO[bytes]) -> bool:
    """Store the body under its digest; False (nothing read) when the digest is already stored."""
    store = store_for(settings)
    if store.exists(upload.digest):
        return False
    staging = settings.artifact_root / STAGING / uuid.uuid4().hex
    staging.mkdir(parents=True)
    try:
        if upload.kind == "folder":
            staged, actual = receive_tar(body, staging)
        else:
            staged, actual = receive_file(body, staging, upload.filename or "")
        expect_sha256(actual, upload.digest, field="digest")
        with db.transaction() as session:
            store.put(upload.digest, staged)  # inside: a store that fails rolls the audit row back
            audit.record(
                session,
                actor=upload.actor,
                action="artifact.upload",
                entity_type="artifact",
                entity_id=STORE_SCHEME + upload.digest,
                after={"kind": upload.kind, "filename": upload.filename},
            )
    finally:
        remove(staging)
    return True
