"""Uploads over HTTP: content-addressed, verified while streaming, idempotent, and refused with
nothing left behind when anything is wrong."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from gatekeeper.registry.artifacts import artifact_sha256
from tests.artifacts.conftest import leftovers, tar_of, upload_folder
from tests.conftest import snapshot


def test_folder_upload_is_stored_under_its_digest_once(api, auth, settings, tiny_intent_model, db) -> None:
    response, digest = upload_folder(api, tiny_intent_model, auth("ci"))
    assert response.status_code == 201, response.text
    assert response.json() == {"artifact_uri": f"sha256:{digest}", "digest": digest, "created": True}
    stored = settings.artifact_root / "sha256" / digest
    assert artifact_sha256(stored) == digest
    assert api.head(f"/v1/artifacts/sha256/{digest}", headers=auth("reviewer")).status_code == 200
    before = snapshot(db)
    again, _ = upload_folder(api, tiny_intent_model, auth("admin"))
    assert again.status_code == 200 and again.json()["created"] is False
    assert snapshot(db) == before  # nothing changed, nothing audited
    audit = api.get("/v1/audit", params={"action": "artifact.upload"}, headers=auth("ci")).json()
    assert [(a["actor"], a["entity_id"]) for a in audit] == [("ci", f"sha256:{digest}")]
