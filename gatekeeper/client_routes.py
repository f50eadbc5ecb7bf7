"""One typed method per ``/v1`` route, grouped by domain; ``gatekeeper.client.Client`` inherits them all.

A method is declared, not written: ``@route(METHOD, PATH)`` on a typed signature is the route's only
definition on the client side. Arguments named in the path fill it, ``body`` (an app schema) is sent as
JSON, every other argument is a query parameter (``None`` left out, so the server's default applies), and
the reply is validated into the return annotation, the app's own Pydantic schema where it has one.
``tests/api/test_client_coverage.py`` checks this table against the app's OpenAPI both ways."""

from __future__ import annotations

import functools
import inspect
import string
import typing
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, TypeAdapter
from pydantic_core import to_jsonable_python

from gatekeeper.canary.schemas import AbortIn, CanaryRead, MetricBatch, ReenableIn
from gatekeeper.drift.schemas import AckIn, DriftRead, EventRead, IngestRead, LabelIngestRead
from gatekeeper.evaluation.schemas import (
    EvaluationCreate,
    EvaluationRead,
    OnlineMetricCreate,
    OnlineMetricRead,
)
from gatekeeper.promotion.schemas import ShadowBatch
from gatekeeper.registry import schemas as reg

F = TypeVar("F", bound=Callable[..., Any])
Id = str | uuid.UUID
Json = dict[str, Any]
# (HTTP method, path template) -> client method name: filled by @route, read by the coverage test.
ROUTES: dict[tuple[str, str], str] = {}


def path_fields(path: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(path) if name]


def _query(values: dict[str, Any]) -> dict[str, Any]:
    return {k: to_jsonable_python(v) for k, v in values.items() if v is not None}


def _payload(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if isinstance(body, BaseModel):
        return {"json": body.model_dump(mode="json", by_alias=True, exclude_unset=True)}
    return {"json": to_jsonable_python(body)}


def route(method: str, path: str) -> Callable[[F], F]:
    """Make a typed signature a call of ``METHOD path`` whose reply is read as its return annotation."""

    def declare(fn: F) -> F:
        signature, fields = inspect.signature(fn), path_fields(path)

        @functools.lru_cache(maxsize=1)
        def reply_type() -> TypeAdapter[Any]:
            return TypeAdapter(typing.get_type_hints(fn)["return"])

        @functools.wraps(fn)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(self, *args, **kwargs)
            values = {k: v for k, v in bound.arguments.items() if k != "self"}
            body = values.pop("body", None)
            url = path.format(**{k: quote(str(values.pop(k)), safe="") for k in fields})
            reply = self.request(method, url, params=_query(values), **_payload(body))
            return reply_type().validate_python(reply)

        call.route = (method, path)  # type: ignore[attr-defined]
        ROUTES[(method, path)] = fn.__name__
        return call  # type: ignore[return-value]

    return declare


def written_out(method: str, path: str) -> Callable[[F], F]:
    """Record a method written by hand (a streamed upload, a non-JSON body) as the client's ``METHOD
    path``; the coverage test checks that it exists, not its parameters."""

    def declare(fn: F) -> F:
        fn.route = (method, path)  # type: ignore[attr-defined]
        fn.written_out = True  # type: ignore[attr-defined]
        ROUTES[(method, path)] = fn.__name__
        return fn

    return declare


class Transport:
    """What the route methods need from a client: one HTTP call returning the decoded reply."""

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        raise NotImplementedError


# --- registry: targets, candidates, training runs, audit ------------------------------------------


class RegistryRoutes(Transport):
    @route("POST", "/v1/targets")
    def create_target(self, body: reg.TargetCreate) -> reg.TargetRead: ...

    @route("GET", "/v1/targets")
    def list_targets(self) -> list[reg.TargetRead]: ...

    @route("GET", "/v1/targets/{target}")
    def get_target(self, target: str) -> reg.TargetRead: ...

    @route("PUT", "/v1/targets/{target}/policy")
    def update_policy(self, target: str, body: reg.PolicyUpdate) -> reg.TargetRead: ...

    @route("GET", "/v1/targets/{target}/latest")
    def latest(self, target: str) -> reg.CandidateRead: ...

    @route("GET", "/v1/targets/{target}/champion")
    def champion(self, target: str) -> reg.CandidateRead: ...

    @route("GET", "/v1/targets/{target}/routing")
    def routing(
        self, target: str, wait_for_generation: int | None = None, timeout: float | None = None
    ) -> reg.RoutingRead: ...

    @route("POST", "/v1/targets/{target}/rollback")
    def rollback(self, target: str, body: reg.ReasonIn) -> dict[str, reg.CandidateRead]: ...

    @route("POST", "/v1/candidates")
    def register(self, body: reg.CandidateCreate) -> reg.CandidateRead: ...

    @route("GET", "/v1/candidates")
    def list_candidates(
        self,
        target: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> reg.CandidatePage: ...

    @route("GET", "/v1/candidates/{candidate_id}")
    def get_candidate(self, candidate_id: Id) -> reg.CandidateRead: ...

    @route("GET", "/v1/candidates/{candidate_id}/decisions")
    def decisions(self, candidate_id: Id) -> list[reg.DecisionRead]: ...

    @route("POST", "/v1/candidates/{candidate_id}/promote")
    def promote_first(self, candidate_id: Id, body: reg.ReasonIn) -> reg.CandidateRead: ...

    @route("POST", "/v1/training-runs")
    def create_training_run(self, body: reg.TrainingRunCreate) -> reg.TrainingRunRead: ...

    @route("GET", "/v1/training-runs")
    def list_training_runs(
        self,
        target: str | None = None,
        status: str | None = None,
        trainer: str | None = None,
        limit: int | None = None,
    ) -> list[reg.TrainingRunRead]: ...

    @route("GET", "/v1/training-runs/{run_id}")
    def get_training_run(self, run_id: Id) -> reg.TrainingRunRead: ...

    @route("GET", "/v1/whoami")
    def whoami(self) -> dict[str, str]: ...

    @route("GET", "/v1/audit")
    def audit(
        self,
        entity: str | None = None,
        entity_type: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        before_id: int | None = None,
        limit: int | None = None,
    ) -> list[reg.AuditRead]: ...

    @route("GET", "/v1/audit/verify")
    def verify_audit(self) -> reg.AuditVerifyRead: ...


# --- evaluation ------------------------------------------------------------------------------------


class EvaluationRoutes(Transport):
    @route("POST", "/v1/candidates/{candidate_id}/evaluations")
    def request_evaluation(self, candidate_id: Id, body: EvaluationCreate | None = None) -> Json: ...

    @route("GET", "/v1/candidates/{candidate_id}/evaluations")
    def evaluations_of(self, candidate_id: Id) -> list[EvaluationRead]: ...

    @route("GET", "/v1/evaluations")
    def list_evaluations(
        self, target: str | None = None, status: str | None = None, limit: int | None = None
    ) -> list[EvaluationRead]: ...

    @route("GET", "/v1/evaluations/{evaluation_id}")
    def get_evaluation(
        self, evaluation_id: Id, results: bool | None = None, wait: float | None = None
    ) -> EvaluationRead: ...

    @route("GET", "/v1/evaluations/{evaluation_id}/report")
    def evaluation_report(
        self,
        evaluation_id: Id,
        format: Literal["json", "md", "html"] | None = None,  # noqa: A002 - the API's own name
    ) -> Json | str: ...

    @route("GET", "/v1/evaluations/{evaluation_id}/examples")
    def browse_examples(
        self,
        evaluation_id: Id,
        role: Literal["golden", "holdout", "adversarial", "replay"] | None = None,
        label: str | None = None,
        predicted: str | None = None,
        lang: str | None = None,
        slice: str | None = None,  # noqa: A002 - the API's own name
        min_confidence: float | None = None,
        max_confidence: float | None = None,
        disagree: bool | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Json: ...

    @route("POST", "/v1/candidates/{candidate_id}/online-metrics")
    def record_online_metric(self, candidate_id: Id, body: OnlineMetricCreate) -> OnlineMetricRead: ...


# --- promotion: shadow -----------------------------------------------------------------------------


class ShadowRoutes(Transport):
    @route("POST", "/v1/candidates/{candidate_id}/shadow")
    def start_shadow(self, candidate_id: Id) -> reg.CandidateRead: ...

    @route("POST", "/v1/candidates/{candidate_id}/shadow/records")
    def post_shadow_records(self, candidate_id: Id, body: ShadowBatch) -> Json: ...

    @route("GET", "/v1/candidates/{candidate_id}/shadow")
    def shadow_summary(self, candidate_id: Id) -> Json: ...


# --- canary ----------------------------------------------------------------------------------------


class CanaryRoutes(Transport):
    @route("POST", "/v1/candidates/{candidate_id}/canary")
    def start_canary(self, candidate_id: Id) -> CanaryRead: ...

    @route("GET", "/v1/canaries/{canary_id}")
    def get_canary(self, canary_id: Id) -> CanaryRead: ...

    @route("GET", "/v1/targets/{target}/canaries")
    def canaries_of(self, target: str) -> list[CanaryRead]: ...

    @route("POST", "/v1/canaries/{canary_id}/metrics")
    def post_canary_metrics(self, canary_id: Id, body: MetricBatch) -> Json: ...

    @route("GET", "/v1/canaries/{canary_id}/sequential")
    def canary_sequential(self, canary_id: Id) -> dict[str, Any]: ...

    @route("GET", "/v1/canaries/{canary_id}/windows")
    def canary_windows(
        self,
        canary_id: Id,
        group: Literal["canary", "holdout", "baseline"] | None = None,
        limit: int | None = None,
    ) -> list[Json]: ...

    @route("POST", "/v1/canaries/{canary_id}/abort")
    def abort_canary(self, canary_id: Id, body: AbortIn) -> CanaryRead: ...

    @route("POST", "/v1/canaries/{canary_id}/reenable")
    def reenable_canary(self, canary_id: Id, body: ReenableIn) -> CanaryRead: ...

    @route("GET", "/v1/daemon")
    def daemon_status(self) -> Json: ...


# --- drift -----------------------------------------------------------------------------------------


class DriftRoutes(Transport):
    @route("POST", "/v1/targets/{target}/prediction-logs")
    def post_prediction_logs(self, target: str, body: list[Json]) -> IngestRead: ...

    @route("POST", "/v1/targets/{target}/labels")
    def post_labels(self, target: str, body: list[Json]) -> LabelIngestRead: ...

    @route("GET", "/v1/targets/{target}/drift")
    def drift(
        self, target: str, since: datetime | None = None, live: bool | None = None, limit: int | None = None
    ) -> DriftRead: ...

    @route("GET", "/v1/targets/{target}/drift/events")
    def drift_events(
        self,
        target: str,
        status: Literal["live", "open", "acknowledged", "resolved"] | None = None,
        limit: int | None = None,
    ) -> list[EventRead]: ...

    @route("GET", "/v1/targets/{target}/drift/report")
    def drift_report(self, target: str, window_start: datetime | None = None) -> str: ...

    @route("GET", "/v1/drift-events/{event_id}")
    def get_drift_event(self, event_id: Id) -> EventRead: ...

    @route("POST", "/v1/drift-events/{event_id}/ack")
    def ack_drift_event(self, event_id: Id, body: AckIn) -> EventRead: ...


class Routes(RegistryRoutes, EvaluationRoutes, ShadowRoutes, CanaryRoutes, DriftRoutes):
    """Every ``/v1`` route, as typed methods."""
