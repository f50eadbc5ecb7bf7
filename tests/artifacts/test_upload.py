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


def _member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"x", link: str = ""):  # noqa: ANN202
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, link
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

    return add


@pytest.mark.parametrize(
    ("member", "says"),
    [
        (_member("../escape.txt"), "escapes the folder"),
        (_member("a/../../escape.txt"), "escapes the folder"),
        (_member("/etc/cron.d/x"), "absolute"),
        (_member("link", tarfile.SYMTYPE, link="/etc/passwd"), "not a regular file"),
        (_member("hard", tarfile.LNKTYPE, link="config.json"), "not a regular file"),
        (_member("dev", tarfile.CHRTYPE), "not a regular file"),
        (_member("weights.bin"), "pickled weights are refused"),
        (_member("config.json"), "appears twice"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink", "device", "pickle", "duplicate"],
)
def test_unsafe_tars_are_refused_with_nothing_left(api, auth, settings, db, tmp_path, member, says) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    before = snapshot(db)
    response = api.put(
        f"/v1/artifacts/sha256/{'a' * 64}",
        content=tar_of(folder, member),
        headers={**auth("ci"), "Content-Type": "application/x-tar"},
    )
    assert response.status_code == 422, response.text
    assert says in response.json()["detail"] and response.json()["field"] == "body"
    assert leftovers(settings.artifact_root) == [] and snapshot(db) == before


def test_wrong_digest_pickles_and_bad_names_are_refused(api, auth, settings, db, tmp_path) -> None:
    weights = b"\x00" * 1000
    good = hashlib.sha256(weights).hexdigest()
    before = snapshot(db)
    cases = [
        ("b" * 64, "model.safetensors", "digest", f"digest mismatch: expected {'b' * 64}, actual {good}"),
        (good, "model.pt", "filename", "pickled weights are refused"),
        (good, "../model.safetensors", "filename", "plain file name"),
        (good, None, "filename", "needs ?filename="),
    ]
    for digest, name, field, says in cases:
        params = {"filename": name} if name else {}
        response = api.put(
            f"/v1/artifacts/sha256/{digest}", content=weights, params=params, headers=auth("ci")
        )
        assert response.status_code == 422 and response.json()["field"] == field, response.text
        assert says in response.json()["detail"]
    bad_digest = api.put("/v1/artifacts/sha256/NOTHEX", content=weights, headers=auth("ci"))
    assert bad_digest.status_code == 422 and "digest" in bad_digest.json()["detail"]
    assert leftovers(settings.artifact_root) == [] and snapshot(db) == before
    stored = api.put(f"/v1/artifacts/sha256/{good}", content=weights, params={"filename": "m.safetensors"},
                     headers=auth("ci"))  # fmt: skip
    assert stored.status_code == 201 and (settings.artifact_root / "sha256" / good).read_bytes() == weights


def test_no_token_and_too_large_are_refused(app, api, auth, settings, db) -> None:
    url = f"/v1/artifacts/sha256/{'c' * 64}"
    assert api.put(url, content=b"x", params={"filename": "a.json"}).status_code == 401
    assert api.head(url).status_code == 401
    app.state.settings = settings.model_copy(update={"max_upload_bytes": 4096})
    before = snapshot(db)
    declared = api.put(url, content=b"x" * 5000, params={"filename": "a.json"}, headers=auth("ci"))
    assert declared.status_code == 413 and declared.json()["limit_bytes"] == 4096

    def chunks():  # noqa: ANN202 - no Content-Length: the limit is counted as the bytes arrive
        for _ in range(10):
            yield b"y" * 1000

    streamed = api.put(url, content=chunks(), params={"filename": "a.json"}, headers=auth("ci"))
    assert streamed.status_code == 413, streamed.text
    assert leftovers(settings.artifact_root) == [] and snapshot(db) == before


def test_a_half_upload_leaves_nothing(live_server, auth, settings, db) -> None:
    """The client promises 100000 bytes, sends 1000 and hangs up: the staging folder goes."""
    import socket
    import time
    from urllib.parse import urlsplit

    where = urlsplit(live_server.url)
    head = (
        f"PUT /v1/artifacts/sha256/{'d' * 64}?filename=m.safetensors HTTP/1.1\r\nHost: {where.hostname}\r\n"
        f"Authorization: {auth('ci')['Authorization']}\r\nContent-Length: 100000\r\n\r\n"
    )
    with socket.create_connection((where.hostname, where.port)) as sock:
        sock.sendall(head.encode() + b"z" * 1000)
        deadline = time.monotonic() + 5
        while not list((settings.artifact_root / ".uploads").glob("*/file")) and time.monotonic() < deadline:
            time.sleep(0.02)  # wait until the server is staging it
        assert list((settings.artifact_root / ".uploads").glob("*/file"))
    deadline = time.monotonic() + 5
    while leftovers(settings.artifact_root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(settings.artifact_root) == []
