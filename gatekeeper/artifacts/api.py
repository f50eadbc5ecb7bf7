"""Upload routes. The body is streamed to disk on a worker thread, never held in memory, and no
database session is open while it arrives."""

from __future__ import annotations

from typing import Annotated

import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Header, Path, Query, Request, Response, status

from gatekeeper.api.deps import CI, DatabaseDep, Reader, SettingsDep, TransactionalRoute
from gatekeeper.artifacts import service as artifacts
from gatekeeper.artifacts.store import STORE_SCHEME
from gatekeeper.artifacts.upload import LimitedReader
from gatekeeper.errors import TooLarge, ValidationFailed

# TransactionalRoute for its declared errors; the upload is async, so it opens and commits its own session.
router = APIRouter(prefix="/v1", route_class=TransactionalRoute, tags=["artifacts"])
Digest = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="artifact_sha256 of the artifact")]
TAR = "application/x-tar"


def _body_reader(request: Request, limit: int) -> LimitedReader:
    """A blocking reader, for the worker thread, that pulls the body's chunks from the event loop."""
    chunks = request.stream().__aiter__()

    async def pull() -> bytes | None:
        try:
            return await chunks.__anext__()
        except StopAsyncIteration:
            return None

    return LimitedReader(lambda: anyio.from_thread.run(pull), limit)


def _declared_size(content_length: str | None, limit: int) -> None:
    if content_length and content_length.isdigit() and int(content_length) > limit:
        raise TooLarge(f"upload exceeds the {limit} byte limit", field="body", limit_bytes=limit)


@router.put(
    "/artifacts/sha256/{digest}",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "already stored; the body was not read"},
        413: {"description": "the upload is over GATEKEEPER_MAX_UPLOAD_BYTES"},
        503: {"description": "the artifact store's bucket does not exist"},
    },
)
async def upload(
    digest: Digest,
    request: Request,
    response: Response,
    db: DatabaseDep,
    settings: SettingsDep,
    actor: CI,
    filename: Annotated[str | None, Query(max_length=255)] = None,
    content_type: Annotated[str, Header()] = "application/octet-stream",
    content_length: Annotated[str | None, Header()] = None,
) -> dict:
    """Store a file (``?filename=``) or a folder sent as tar (``Content-Type: application/x-tar``)."""
    kind = "folder" if content_type.split(";")[0].strip() == TAR else "file"
    if kind == "file" and not filename:
        raise ValidationFailed("a single-file upload needs ?filename= (the no-pickle rule)", field="filename")
    _declared_size(content_length, settings.max_upload_bytes)
    spec = artifacts.Upload(digest, kind, filename if kind == "file" else None, actor.name)
    reader = _body_reader(request, settings.max_upload_bytes)
    created = await anyio.to_thread.run_sync(artifacts.receive, db, settings, spec, reader)
    if not created:
        response.status_code = status.HTTP_200_OK
    return {"artifact_uri": STORE_SCHEME + digest, "digest": digest, "created": created}


@router.head("/artifacts/sha256/{digest}", responses={404: {"description": "not stored"}})
def present(digest: Digest, settings: SettingsDep, _: Reader) -> Response:
    """200 when the digest is stored (a CI job then skips the upload), 404 when not."""
    found = artifacts.present(settings, digest)
    return Response(status_code=status.HTTP_200_OK if found else status.HTTP_404_NOT_FOUND)
