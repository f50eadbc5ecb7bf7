"""Domain errors to HTTP, in one place. Bad input is always a 4xx with a JSON ``detail``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from gatekeeper.db import Database
from gatekeeper.errors import (
    Conflict,
    ExecutorUnavailable,
    Forbidden,
    GateFailed,
    GatekeeperError,
    NotFound,
    PreconditionFailed,
    RefusedEvidence,
    StoreUnavailable,
    TooLarge,
    Unauthorized,
    ValidationFailed,
)
from gatekeeper.registry import audit

log = logging.getLogger("gatekeeper.api")

# Each domain error's HTTP status; a subclass answers with its nearest listed ancestor's (RefusedEvidence
# and InvalidTransition are Conflicts: 409).
STATUS: dict[type[GatekeeperError], int] = {
    GatekeeperError: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    GateFailed: 409,
    PreconditionFailed: 412,
    TooLarge: 413,
    ValidationFailed: 422,
    StoreUnavailable: 503,
    ExecutorUnavailable: 503,
}


def status_of(error: type[GatekeeperError]) -> int:
    """The HTTP status a domain error answers with."""
    return next(STATUS[cls] for cls in error.__mro__ if cls in STATUS)


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
    _declare_in_openapi(app)

    @app.exception_handler(GatekeeperError)
    async def _domain(_: Request, exc: GatekeeperError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
        return JSONResponse(exc.to_dict(), status_code=status_of(type(exc)), headers=headers)

    @app.exception_handler(RefusedEvidence)
    async def _refused(request: Request, exc: RefusedEvidence) -> JSONResponse:
        await run_in_threadpool(_keep_refused_attempt, request.app.state.db, exc)
        return JSONResponse(exc.to_dict(), status_code=status_of(type(exc)))

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
        if exc.status_code == 400:  # only FastAPI raises it: a body it could not decode is bad input
            error = {"field": "body", "msg": str(exc.detail), "type": "body_undecodable"}
            body = {"detail": f"invalid request: body: {exc.detail}", "errors": [error]}
            return JSONResponse(body, status_code=422)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; see the service log"}, status_code=500)


# --- the errors each route declares in the OpenAPI schema --------------------------------------


class FieldError(BaseModel):
    """One bad field; a batch also names the ``row`` it is in."""

    model_config = ConfigDict(extra="allow")

    field: str
    msg: str
    type: str | None = None


class ErrorRead(BaseModel):
    """Every error body: ``detail`` for people; ``field`` and other structured fields for machines."""

    model_config = ConfigDict(extra="allow")

    detail: str
    errors: list[FieldError] | None = None


# What each domain error means to a client, keyed by the class whose status code it answers with.
MEANING: dict[type[GatekeeperError], str] = {
    Unauthorized: "no bearer token, or an unknown or revoked one",
    Forbidden: "the token's role may not do this",
    NotFound: "no such entity (a malformed id is the same answer)",
    Conflict: "the current state forbids the request, or it conflicts with stored data",
    ValidationFailed: "bad input; `detail` names the field (`errors` lists each one)",
}
TOO_LARGE = STATUS[TooLarge]
# For list routes filtered by a target, which answer 404 naming an unknown one.
UNKNOWN_TARGET: dict[int | str, dict[str, Any]] = {
    404: {"description": "the `target` filter names no target"}
}


@dataclass(frozen=True)
class RouteFacts:
    """What a route takes and checks, which decides the errors it can answer."""

    authenticated: bool
    restricted: bool
    path_params: bool
    inputs: bool
    body: bool
    write: bool


def _error(description: str) -> dict[str, Any]:
    # JSON whatever the route's own response class (an HTML report still fails in JSON).
    schema = {"$ref": "#/components/schemas/ErrorRead"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_responses(
    facts: RouteFacts, explicit: dict[int | str, dict[str, Any]] | None
) -> dict[int | str, dict[str, Any]]:
    """The route's ``responses=``: every error it can answer, each with the one error model. A route
    passes the errors only it knows of (a GET that answers 409) in ``explicit``."""
    rules = [
        (Unauthorized, facts.authenticated),
        (Forbidden, facts.restricted),
        (NotFound, facts.path_params),
        (Conflict, facts.write),
        (ValidationFailed, facts.inputs),
    ]
    declared = {status_of(cls): _error(MEANING[cls]) for cls, applies in rules if applies}
    if facts.body:
        declared[TOO_LARGE] = _error("the request body is over the limit")
    for status, response in (explicit or {}).items():
        error = 400 <= int(status) < 500
        declared[int(status)] = {**(_error("") if error else {}), **response}
    return declared


def _drop_fastapi_422(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI declares its own 422 body on any route with a parameter; ours is ErrorRead, declared
    where the route has inputs. A route whose only parameter is the bearer token cannot answer 422."""
    fastapi_422 = "#/components/schemas/HTTPValidationError"
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            declared = operation.get("responses", {}).get("422", {})
            if (
                declared.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
                == fastapi_422
            ):
                del operation["responses"]["422"]
    models = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        models.pop(name, None)
    error_model = ErrorRead.model_json_schema(ref_template="#/components/schemas/{model}")
    models.update(error_model.pop("$defs", {}), ErrorRead=error_model)
    return schema


def _declare_in_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        schema = generate()
        return _drop_fastapi_422(schema) if fresh else schema

    app.openapi = openapi  # type: ignore[method-assign]
