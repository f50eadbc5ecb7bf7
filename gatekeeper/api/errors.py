"""Domain errors to HTTP, in one place. Bad input is always a 4xx with a JSON ``detail``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from gatekeeper.db import Database
from gatekeeper.errors import GatekeeperError, RefusedEvidence
from gatekeeper.registry import audit

log = logging.getLogger("gatekeeper.api")


def _describe(error: dict) -> dict[str, str]:
    loc, kind = error.get("loc", ()), error.get("type", "")
    if kind == "json_invalid":  # loc ends with a character offset, not a field
        return {"field": "body", "msg": f"malformed JSON near character {loc[-1]}", "type": kind}
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return {"field": ".".join(parts) or "body", "msg": error.get("msg", ""), "type": kind}


def _keep_refused_attempt(db: Database, exc: RefusedEvidence) -> None:
    with db.transaction() as session:
        audit.record(session, **exc.audit)


def install(app: FastAPI) -> None:
    @app.exception_handler(GatekeeperError)
    async def _domain(_: Request, exc: GatekeeperError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers)

    @app.exception_handler(RefusedEvidence)
    async def _refused(request: Request, exc: RefusedEvidence) -> JSONResponse:
        await run_in_threadpool(_keep_refused_attempt, request.app.state.db, exc)
        return JSONResponse(exc.to_dict(), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_describe(e) for e in exc.errors()]
        summary = "; ".join(f"{e['field']}: {e['msg']}" for e in errors[:5])
        return JSONResponse({"detail": f"invalid request: {summary}", "errors": errors}, status_code=422)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        log.warning("integrity error: %s", exc.orig)
        return JSONResponse({"detail": "the request conflicts with existing data"}, status_code=409)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; see the service log"}, status_code=500)
