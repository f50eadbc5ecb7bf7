"""Schemathesis against the real app on Postgres, with seeded state (a champion, a running canary, a
shadow, gated and registered candidates, a queued evaluation) and the admin, ci, reviewer and oncall
tokens. Every operation gets positive and negative cases; a case fails on a 5xx, on a status code or
content type the schema does not declare, or on a body that does not match its declared schema.

`make test` runs a short, derandomized budget (a few cases per operation, mode and role); `make fuzz`
runs the same harness with GATEKEEPER_FUZZ_EXAMPLES cases and prints the request and 5xx counts.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gatekeeper.db import Database
from tests.canary.conftest import app, canary, champion, clock, shadowed  # noqa: F401 - fixtures
from tests.promotion.conftest import gate_pass

ROLES = ("admin", "ci", "reviewer", "oncall")


@schemathesis.serializer("application/x-ndjson", "application/vnd.apache.arrow.stream")
def _bulk_body(ctx, value) -> bytes:  # noqa: ANN001 - schemathesis' serializer protocol
    """The bulk prediction-log bodies (JSONL, Arrow IPC) are declared as bytes: send what was generated."""
    return value if isinstance(value, bytes) else str(value).encode()


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = int(os.environ.get("GATEKEEPER_FUZZ_EXAMPLES", "2"))


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


@pytest.fixture
def db(pg_db: Database) -> Database:
    """Postgres only: the engine the issue's 5xx came from (overrides the two-engine fixture)."""
    return pg_db


@pytest.fixture
def seeded(api, auth, db, register, canary, shadowed, clock) -> dict[str, list[str]]:  # noqa: ANN001, F811
    """Real ids for the path parameters, so cases reach the handlers and not only their 404s."""
    in_shadow, gated, fresh = register(), register(), register()
    gate_pass(db, in_shadow["id"])
    assert api.post(f"/v1/candidates/{in_shadow['id']}/shadow", headers=auth("ci")).status_code == 200
    gate_pass(db, gated["id"])
    queued = api.post(f"/v1/candidates/{fresh['id']}/evaluations", json={}, headers=auth("ci"))
    assert queued.status_code == 202, queued.text
    evaluations = [queued.json()["id"]]
    return {
        "target": ["intent_classifier"],
        "candidate_id": [canary["candidate_id"], shadowed["id"], in_shadow["id"], gated["id"], fresh["id"]],
        "canary_id": [canary["id"]],
        "evaluation_id": evaluations,
    }


def _strategy(operation, known: dict[str, list[str]]) -> st.SearchStrategy:  # noqa: ANN001
    """Generated cases, half of them aimed at real entities through their path parameters."""
    names = [p.name for p in operation.path_parameters]
    real = {name: known[name] for name in names if known.get(name)}
    options = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        options.append(operation.as_strategy(generation_mode=mode))
        if real and len(real) == len(names):
            fixed = {name: ids[0] for name, ids in real.items()}
            options.append(operation.as_strategy(generation_mode=mode, path_parameters=fixed))
    return st.one_of(options)


def _send(case: schemathesis.Case, role: str, headers: dict[str, str], tally: Tally) -> None:
    response = case.call(headers=headers)
    tally.requests += 1
    tally.statuses[response.status_code] += 1
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    except (AssertionError, BaseExceptionGroup) as exc:  # a Failure or a group: first per operation
        label = f"{case.operation.label} as {role}"
        tally.failures.setdefault(label, f"{response.status_code}: {str(exc)[:600]}")


def _fuzz_operation(strategy: st.SearchStrategy, tokens: dict[str, str], tally: Tally, examples: int) -> None:
    """Each generated case is sent once per role: generation costs more than a request."""

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        for role in ROLES:
            _send(case, role, {"Authorization": f"Bearer {tokens[role]}"}, tally)

    run()


def fuzz(asgi_app, tokens: dict[str, str], known: dict[str, list[str]], examples: int) -> Tally:  # noqa: ANN001
    schema = schemathesis.openapi.from_asgi("/openapi.json", asgi_app)
    tally = Tally()
    for result in schema.get_all_operations():
        _fuzz_operation(_strategy(result.ok(), known), tokens, tally, examples)
    return tally


def test_fuzz_finds_no_server_error_and_no_undeclared_response(app, tokens, seeded) -> None:  # noqa: ANN001, F811
    app.state.routing.max_wait = 0.05  # a generated long-poll on the current generation must not stall
    app.state.evaluation_waits.max_wait = 0.05  # nor one on the queued evaluation
    tally = fuzz(app, tokens, seeded, EXAMPLES)
    print(  # make fuzz reads this line
        f"\nfuzz: {tally.requests} requests, {tally.server_errors} 5xx, "
        f"{len(tally.failures)} failing operations, statuses {dict(sorted(tally.statuses.items()))}"
    )
    assert tally.requests > 300
    assert not tally.failures, "\n\n".join(f"{op}: {why}" for op, why in tally.failures.items())
