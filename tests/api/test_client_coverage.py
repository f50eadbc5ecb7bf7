"""The typed client covers every /v1 route of the app, and every client route exists in the app."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from pydantic import ValidationError

from gatekeeper.api.app import create_app
from gatekeeper.client import ApiError, Client, refused_locally
from gatekeeper.client_routes import ROUTES, path_fields
from gatekeeper.config import Settings
from gatekeeper.registry.schemas import CandidateCreate, CandidatePage, ReasonIn, TargetCreate, TargetRead
from tests.conftest import POLICY_FILE, TAGS


@pytest.fixture(scope="module")
def operations(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    folder = tmp_path_factory.mktemp("openapi")
    settings = Settings(database_url=f"sqlite:///{folder / 'x.db'}", artifact_root=folder)
    paths = create_app(settings).openapi()["paths"]
    return {
        (method.upper(), path): op
        for path, ops in paths.items()
        if path.startswith("/v1/")
        for method, op in ops.items()
    }


def test_every_operation_has_a_client_method_and_back(operations: dict) -> None:
    missing = sorted(set(operations) - set(ROUTES))
    stale = sorted(set(ROUTES) - set(operations))
    assert not missing, f"/v1 operations without a client method (add one in client_routes.py): {missing}"
    assert not stale, f"client methods for routes the app does not have: {stale}"


def test_each_method_matches_its_operation(operations: dict) -> None:
    """Path and query parameters by name, and a ``body`` argument exactly where the route takes one."""
    for key, name in ROUTES.items():
        method = getattr(Client, name)
        assert method.route == key
        if getattr(method, "written_out", False):
            continue
        op = operations[key]
        params = [p for p in inspect.signature(method).parameters if p != "self"]
        declared = {(p["in"], p["name"]) for p in op.get("parameters", [])}
        path = set(path_fields(key[1]))
        assert {n for w, n in declared if w == "path"} == path, name
        assert {n for w, n in declared if w == "query"} == set(params) - path - {"body"}, name
        assert ("body" in params) == ("requestBody" in op), name


def test_typed_calls_against_a_live_server(live_server, tokens, make_artifact) -> None:  # noqa: ANN001
    admin = Client(live_server.url, tokens["admin"])
    policy = POLICY_FILE.read_text(encoding="utf-8")
    created = admin.create_target(
        TargetCreate(name="intent_classifier", task="classification", policy=policy)
    )
    assert isinstance(created, TargetRead) and [t.name for t in admin.list_targets()] == ["intent_classifier"]
    uri, sha = make_artifact()
    ci = Client(live_server.url, tokens["ci"])
    spec = CandidateCreate(target="intent_classifier", artifact_uri=uri, artifact_sha256=sha, tags=TAGS)
    candidate = ci.register(spec)
    page = admin.list_candidates(target="intent_classifier", limit=5)
    assert isinstance(page, CandidatePage) and [c.id for c in page.items] == [candidate.id]
    assert ci.whoami() == {"name": "ci", "role": "ci"}
    assert admin.get_candidate(candidate.id) == candidate
    assert admin.latest("intent_classifier").id == candidate.id
    assert admin.audit(entity=str(candidate.id), limit=50), "the registration is audited"
    with pytest.raises(ApiError) as refused:
        ci.promote_first(candidate.id, ReasonIn(reason="not my role"))
    assert refused.value.status == 403


def test_one_client_keeps_one_connection_pool(live_server, tokens) -> None:  # noqa: ANN001
    with Client(live_server.url, tokens["ci"]) as ci:
        assert ci.whoami()["role"] == "ci"
        pool = ci._http()
        assert ci.whoami()["role"] == "ci" and ci._http() is pool  # no new pool (nor SSL set-up) a call
        assert len(pool._transport._pool.connections) == 1  # and one kept-alive connection
    assert pool.is_closed
    assert ci.whoami()["role"] == "ci" and ci._http() is not pool  # a closed client opens a new one


def test_a_bad_body_is_refused_before_sending_in_the_apis_words() -> None:
    with pytest.raises(ValidationError) as bad:
        TargetCreate(name="Not A Slug", task="classification", policy="x")
    refused = refused_locally(bad.value)
    assert refused.status == 422 and refused.detail.startswith("invalid request: name: String should match")
