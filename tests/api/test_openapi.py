"""The OpenAPI schema declares what the API really answers: every error a route can return, with the
one error model, and real models for the bodies that were bare objects. The fuzz test
(tests/api/test_fuzz.py) checks the answers against these declarations; this checks the declarations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gatekeeper.api.app import create_app
from gatekeeper.config import Settings
from gatekeeper.db import Database
from tests.api.test_role_matrix import WRITE_ROLES

ERROR_REF = "#/components/schemas/ErrorRead"
BARE_OBJECTS_NO_MORE = {
    ("get", "/healthz"): "HealthRead",
    ("get", "/v1/whoami"): "WhoAmIRead",
    ("get", "/v1/daemon"): "DaemonRead",
    ("get", "/v1/candidates/{candidate_id}/shadow"): "ShadowSummaryRead",
    ("get", "/v1/audit/verify"): "AuditVerifyRead",
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The schema once for the module: generating it reads no database."""
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('openapi')) / 'unused.db'}"
    db = Database.from_url(url)
    try:
        return create_app(Settings(database_url=url), db).openapi()
    finally:
        db.dispose()


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict]]:
    return [(method.upper(), path, op) for path, ops in schema["paths"].items() for method, op in ops.items()]


def has_inputs(op: dict) -> bool:
    params = [p for p in op.get("parameters", []) if p["name"].lower() != "authorization"]
    return bool(params or op.get("requestBody"))


def test_every_route_declares_the_errors_it_can_answer(schema) -> None:  # noqa: ANN001
    routes = [(m, p, op) for m, p, op in operations(schema) if p.startswith("/v1")]
    assert len(routes) > 30
    for method, path, op in routes:
        declared = op["responses"]
        expected = {"401"}
        expected |= {"403"} if (method, path) in WRITE_ROLES else set()
        expected |= {"422"} if has_inputs(op) else set()
        expected |= {"404"} if "{" in path else set()
        expected |= {"409"} if method not in ("GET", "HEAD") else set()
        assert expected <= set(declared), (method, path, sorted(declared))
        for status in (s for s in declared if s.startswith("4")):
            if method == "HEAD":  # a HEAD answer has no body to declare
                assert "content" not in declared[status], (method, path, status)
                continue
            schema = declared[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_REF}, (method, path, status)


def test_no_route_declares_fastapis_validation_body(schema) -> None:  # noqa: ANN001
    """FastAPI's own 422 (`detail` as a list) is never sent: our handler answers with ErrorRead."""
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert {"detail"} <= set(schema["components"]["schemas"]["ErrorRead"]["properties"])


def test_bodies_that_were_bare_objects_have_models(schema) -> None:  # noqa: ANN001
    for (method, path), model in BARE_OBJECTS_NO_MORE.items():
        ok = schema["paths"][path][method]["responses"]["200"]
        assert ok["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
    assert "503" in schema["paths"]["/healthz"]["get"]["responses"]
    assert "text/plain" in schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def test_an_undecodable_body_is_422_naming_the_body(api, auth) -> None:  # noqa: ANN001
    """Fuzz finding: bytes that are not UTF-8 were FastAPI's 400, undeclared and unlike other bad input."""
    response = api.post(
        "/v1/targets", content=b"\xff", headers={**auth("admin"), "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body"


def test_examples_of_an_unfinished_evaluation_is_a_declared_409(app, api, auth, register) -> None:  # noqa: ANN001
    """Fuzz finding: a GET that answers 409 declares it."""
    candidate = register()
    queued = api.post(f"/v1/candidates/{candidate['id']}/evaluations", json={}, headers=auth("ci"))
    assert queued.status_code == 202, queued.text
    response = api.get(f"/v1/evaluations/{queued.json()['id']}/examples", headers=auth("reviewer"))
    assert response.status_code == 409 and "queued" in response.json()["detail"]
    assert "409" in app.openapi()["paths"]["/v1/evaluations/{evaluation_id}/examples"]["get"]["responses"]


def test_window_counts_beyond_their_integer_column_are_422(api, auth) -> None:  # noqa: ANN001
    """Found reading the fuzz's reach: `requests` above 2**31-1 went to an INTEGER column (a 500 on
    Postgres); the schema now bounds it, so it is a 422 naming the field before any lookup."""
    window = {
        "start": "2026-11-02T00:00:00Z",
        "end": "2026-11-02T00:05:00Z",
        "group": "canary",
        "requests": 2**31,
        "errors": 0,
        "latency_p99_ms": 1.0,
    }
    response = api.post(
        "/v1/canaries/00000000-0000-0000-0000-000000000000/metrics",
        json={"windows": [window]},
        headers=auth("serving"),
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "windows.0.requests"
