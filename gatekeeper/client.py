"""The typed HTTP client for the Gatekeeper API, used by the CLI, the dashboard and CI scripts: one method
per ``/v1`` route (``gatekeeper.client_routes``) over the untyped ``request``/``get``/``post``/``put``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pyarrow as pa
from pydantic import ValidationError
from pydantic_core import to_json, to_jsonable_python

from gatekeeper.artifacts.upload import pack_tar
from gatekeeper.client_routes import Routes, written_out
from gatekeeper.drift.schemas import ARROW_MEDIA_TYPE, JSONL_MEDIA_TYPE, IngestRead


class ApiError(Exception):
    """The API refused a request (4xx/5xx) or could not be reached."""

    def __init__(self, status: int, detail: str, body: Any = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.body = status, detail, body


def refused_locally(exc: ValidationError) -> ApiError:
    """A body the client refused before sending (by the app's own schema), worded like the API's 422."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return ApiError(
        422,
        f"invalid request: {where}: {first['msg']}",
        {"errors": exc.errors(include_url=False, include_context=False, include_input=False)},
    )


class _Chunks:
    """A write-only file that hands back what was written since the last ``take``."""

    closed = False

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def jsonl_pieces(rows: Iterable[Mapping[str, Any]], size: int = 1 << 20) -> Iterator[bytes]:
    """The rows as JSONL in pieces of about ``size`` bytes: one socket write each, not one a row."""
    piece: list[bytes] = []
    length = 0
    for row in rows:
        piece.append(to_json(row) + b"\n")
        length += len(piece[-1])
        if length >= size:
            yield b"".join(piece)
            piece, length = [], 0
    if piece:
        yield b"".join(piece)


def arrow_stream(rows: pa.Table | pa.RecordBatchReader) -> Iterator[bytes]:
    """An Arrow IPC stream of ``rows``, a record batch at a time (never the whole stream in memory)."""
    sink = _Chunks()
    with pa.ipc.new_stream(sink, rows.schema) as writer:
        for batch in rows.to_batches() if isinstance(rows, pa.Table) else rows:
            writer.write_batch(batch)
            yield sink.take()
    yield sink.take()  # the end-of-stream marker


def plain(reply: Any) -> Any:
    """A typed reply as plain JSON values (dicts and lists), for tables and templates."""
    return to_jsonable_python(reply)


@dataclass
class Client(Routes):
    url: str
    token: str | None = None
    timeout: float = 30.0
    transport: httpx.BaseTransport | None = None
    _pool: httpx.Client | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_env(cls, url: str | None = None, token: str | None = None) -> Client:
        return cls(
            url or os.environ.get("GATEKEEPER_URL", "http://127.0.0.1:8000"),
            token or os.environ.get("GATEKEEPER_TOKEN"),
        )

    def _http(self) -> httpx.Client:
        """One connection pool for the client's life: a fresh httpx.Client per call set up an SSL context
        (about 9 ms, even for http://) and a new connection every time."""
        if self._pool is None:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            self._pool = httpx.Client(
                base_url=self.url.rstrip("/"), headers=headers, timeout=self.timeout, transport=self.transport
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http().request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, f"cannot reach Gatekeeper at {self.url}: {exc}") from None
        if response.status_code >= 400:
            try:
                body = response.json()
                detail = body.get("detail") if isinstance(body, dict) else str(body)
            except ValueError:
                body, detail = response.text, response.text[:300]
            raise ApiError(response.status_code, str(detail), body)
        if "application/json" in response.headers.get("content-type", ""):
            return response.json()
        return response.text

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body if body is not None else {})

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json=body)

    # --- artifact upload (used by `gatekeeper submit`) ------------------------------------------

    @written_out("HEAD", "/v1/artifacts/sha256/{digest}")
    def artifact_present(self, digest: str) -> bool:
        """Whether the store already holds ``digest`` (then the upload is skipped)."""
        try:
            self.request("HEAD", f"/v1/artifacts/sha256/{digest}")
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    @written_out("POST", "/v1/targets/{target}/prediction-logs/bulk")
    def post_prediction_logs_bulk(
        self, target: str, rows: Iterable[Mapping[str, Any]] | Path | pa.Table | pa.RecordBatchReader
    ) -> IngestRead:
        """Stream prediction logs: rows as JSONL, a .jsonl file as it is, or Arrow (a table, a record
        batch reader or an ``.arrows`` IPC stream file) as an Arrow IPC stream, one column a field. The
        server keeps all of them or, at a bad row, none (``ApiError`` 422 with ``field`` and the JSONL
        ``line`` or the Arrow ``row``)."""
        url = f"/v1/targets/{quote(target, safe='')}/prediction-logs/bulk"
        if isinstance(rows, pa.Table | pa.RecordBatchReader):
            return self._post_bulk(url, ARROW_MEDIA_TYPE, arrow_stream(rows))
        if isinstance(rows, Path):
            with rows.open("rb") as body:
                return self._post_bulk(
                    url, ARROW_MEDIA_TYPE if rows.suffix == ".arrows" else JSONL_MEDIA_TYPE, body
                )
        return self._post_bulk(url, JSONL_MEDIA_TYPE, jsonl_pieces(rows))

    def _post_bulk(self, url: str, media_type: str, body: Any) -> IngestRead:
        reply = self.request("POST", url, content=body, headers={"Content-Type": media_type})
        return IngestRead.model_validate(reply)

    @written_out("PUT", "/v1/artifacts/sha256/{digest}")
    def upload_artifact(self, path: Path, digest: str) -> dict[str, Any]:
        """Stream a file, or a folder packed as tar on a temporary file, to the content store."""
        url = f"/v1/artifacts/sha256/{digest}"
        if path.is_file():
            with path.open("rb") as body:
                return self.request("PUT", url, content=body, params={"filename": path.name})
        with tempfile.TemporaryFile() as body:
            pack_tar(path, body)
            body.seek(0)
            return self.request("PUT", url, content=body, headers={"Content-Type": "application/x-tar"})
