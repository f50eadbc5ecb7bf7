"""Every /v1 route checks its role: 401 without or with a bad token, 403 for a role that may not,
and never 401/403 for one that may. New routes must be added to WRITE_ROLES or fail this test."""

from __future__ import annotations

import pytest

ROLES = ["ci", "serving", "reviewer", "oncall", "admin"]
# Minimal role per write route; admin may always. Reads (GET, HEAD) are open to every role.
WRITE_ROLES: dict[tuple[str, str], str] = {
    ("POST", "/v1/targets"): "admin",
    ("PUT", "/v1/targets/{target}/policy"): "admin",
    ("POST", "/v1/targets/{target}/rollback"): "oncall",
    ("POST", "/v1/candidates/{candidate_id}/shadow"): "ci",
    ("POST", "/v1/candidates"): "ci",
    ("POST", "/v1/candidates/{candidate_id}/promote"): "admin",
    ("POST", "/v1/training-runs"): "ci",
    ("POST", "/v1/candidates/{candidate_id}/evaluations"): "ci",
    ("POST", "/v1/candidates/{candidate_id}/online-metrics"): "serving",
    ("POST", "/v1/candidates/{candidate_id}/shadow/records"): "serving",
    ("POST", "/v1/candidates/{candidate_id}/canary"): "ci",
    ("POST", "/v1/canaries/{canary_id}/metrics"): "serving",
    ("POST", "/v1/canaries/{canary_id}/abort"): "oncall",
    ("POST", "/v1/canaries/{canary_id}/reenable"): "oncall",
    ("POST", "/v1/targets/{target}/prediction-logs"): "serving",
    ("POST", "/v1/targets/{target}/prediction-logs/bulk"): "serving",
    ("POST", "/v1/targets/{target}/labels"): "serving",
    ("POST", "/v1/drift-events/{event_id}/ack"): "oncall",
    ("PUT", "/v1/artifacts/sha256/{digest}"): "ci",
}
READS = frozenset({"GET", "HEAD"})
PARAMS = {
    "target": "intent_classifier",
    "candidate_id": "00000000-0000-0000-0000-000000000000",
    "canary_id": "00000000-0000-0000-0000-000000000000",
    "evaluation_id": "00000000-0000-0000-0000-000000000000",
    "run_id": "00000000-0000-0000-0000-000000000000",
    "event_id": "00000000-0000-0000-0000-000000000000",
    "digest": "0" * 64,
}


def v1_routes(app) -> list[tuple[str, str]]:  # noqa: ANN001
    """Every /v1 operation, read from the OpenAPI schema (routers may be nested)."""
    paths = app.openapi()["paths"]
    routes = sorted(
        (method.upper(), path) for path, ops in paths.items() if path.startswith("/v1") for method in ops
    )
    assert len(routes) > 30, routes  # the matrix must never pass by finding no routes
    return routes


def call(api, method: str, path: str, headers: dict[str, str]):  # noqa: ANN001, ANN201
    url = path.format(**PARAMS)
    return api.request(method, url, headers=headers, json={} if method != "GET" else None)


def test_every_write_route_is_in_the_matrix(app) -> None:
    writes = {r for r in v1_routes(app) if r[0] not in READS}
    assert writes <= set(WRITE_ROLES), f"routes without an expected role: {sorted(writes - set(WRITE_ROLES))}"


def test_no_token_and_bad_tokens_are_401(app, api, tokens) -> None:
    for method, path in v1_routes(app):
        for headers in (
            {},
            {"Authorization": "Bearer gk_not-a-real-token"},
            {"Authorization": "Basic abc"},
            {"Authorization": "Bearer "},
        ):
            response = call(api, method, path, headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert method == "HEAD" or "detail" in response.json()  # a HEAD reply never has a body


def test_revoked_token_is_401(api, auth, db) -> None:
    from gatekeeper.registry.auth import revoke_token

    assert api.get("/v1/targets", headers=auth("reviewer")).status_code == 200
    with db.transaction() as session:
        revoke_token(session, name="reviewer", actor="test")
    assert api.get("/v1/targets", headers=auth("reviewer")).status_code == 401


@pytest.mark.parametrize("role", ROLES)
def test_roles_get_exactly_what_the_matrix_allows(app, api, auth, role) -> None:
    for method, path in v1_routes(app):
        response = call(api, method, path, auth(role))
        needed = WRITE_ROLES.get((method, path)) if method not in READS else None
        allowed = needed is None or role in (needed, "admin")
        if allowed:
            assert response.status_code not in (401, 403), (role, method, path, response.text)
        else:
            assert response.status_code == 403, (role, method, path, response.text)
            assert role in response.json()["detail"]
