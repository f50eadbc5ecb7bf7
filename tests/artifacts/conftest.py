"""Upload fixtures: a tiny random intent classifier (loads and runs in a second, so a gate costs
little), folders packed as tar, and a real S3-compatible HTTP server (moto) on 127.0.0.1."""

from __future__ import annotations

import io
import socket
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.config import Settings
from gatekeeper.registry.artifacts import artifact_sha256
from tests.fixtures.tiny_intent import build_tiny_intent
from tests.gate.conftest import build_mini_evalset, gate_policy

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def tiny_intent_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random one-layer DistilBERT with the evalset's labels and the MiniLM tokenizer."""
    return build_tiny_intent(tmp_path_factory.mktemp("tiny_intent") / "model")


def tar_of(folder: Path, extra: Callable[[tarfile.TarFile], None] | None = None) -> bytes:
    """A folder packed as an uncompressed tar, optionally with hand-made members added."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
        if extra:
            extra(tar)
    return buffer.getvalue()


def upload_folder(api: Any, folder: Path, headers: dict[str, str]) -> tuple[Any, str]:
    digest = artifact_sha256(folder)
    response = api.put(
        f"/v1/artifacts/sha256/{digest}",
        content=tar_of(folder),
        headers={**headers, "Content-Type": "application/x-tar"},
    )
    return response, digest


@pytest.fixture(scope="session")
def small_evalset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Smaller than the gate tests' cut: here the upload path is under test, not the metrics."""
    return build_mini_evalset(tmp_path_factory.mktemp("evalset") / "intent_small", per_label=8, holdout=120)


def gate_body(evalset: Path, floor: float, name: str = "intent_classifier") -> dict[str, Any]:
    """A target whose floor a random model meets (0.0) or cannot meet (0.99)."""
    policy = gate_policy(evalset, floor=floor).replace("target: intent_classifier", f"target: {name}")
    return {"name": name, "task": "classification", "policy": policy}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_url() -> Iterator[str]:
    """moto's S3 server over real HTTP on 127.0.0.1, with dummy credentials in the environment."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in S3_ENV.items():
            patch.setenv(key, value)
        server.start()
        yield f"http://127.0.0.1:{port}"
        server.stop()


@pytest.fixture
def s3_settings(settings: Settings, s3_url: str) -> Settings:
    """The test's settings with uploads going to a fresh bucket on the local S3 server."""
    import s3fs

    bucket = f"gk-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_url}, skip_instance_cache=True).mkdir(bucket)
    return settings.model_copy(update={"artifact_store": f"s3://{bucket}/store", "s3_endpoint_url": s3_url})


def leftovers(root: Path) -> list[str]:
    """Everything under the artifact root but the staging folder itself: a refusal must leave nothing."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p != root / ".uploads")
