"""The per-target policy (DESIGN section 6): every threshold the gate, shadow, canary and drift hub
apply, pinned and versioned in the registry. Unknown keys are refused so a typo never silently
falls back to a default."""

from __future__ import annotations

from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gatekeeper.errors import ValidationFailed

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GoldenPolicy(_Strict):
    floors: dict[str, float] = Field(default_factory=dict)
    tolerance: dict[str, Annotated[float, Field(ge=0.0)]] = Field(default_factory=dict)
    critical_classes: list[str] = Field(default_factory=list)
    rare_recall_tolerance: Fraction = 0.02
    ece_margin: Fraction | None = 0.01
    latency_p95_ms: Positive | None = 15.0
    # Single-example timings behind latency_p95_ms: below 20, a p95 is only the slowest one.
    latency_samples: Annotated[int, Field(ge=20)] = 200


class SlicePolicy(_Strict):
    dimensions: list[str] = Field(default_factory=lambda: ["lang"])
    intersections: list[list[str]] = Field(default_factory=list)
    safety_critical: dict[str, list[str]] = Field(default_factory=dict)
    metric: str = "accuracy"
    max_regression: Fraction = 0.02
    min_support: Annotated[int, Field(ge=1)] = 30
    fdr: Fraction = 0.05


class AdversarialPolicy(_Strict):
    ceiling: Fraction = 0.02


class ReplayPolicy(_Strict):
    max_cost_increase: Annotated[float, Field(ge=0.0)] = 0.05
    max_quality_drop: Fraction = 0.01
    # A failed replay check (quality or cost) puts the next canary on the extended plan.
    extends_canary: bool = True


class ExtendedCanary(_Strict):
    share: Annotated[float, Field(gt=0.0, le=1.0)] = 0.10
    days: Positive = 14


class CorrelationPolicy(_Strict):
    window: Annotated[int, Field(ge=2)] = 6
    min_pairs: Annotated[int, Field(ge=2)] = 3
    min_corr: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.6
    online_metric: str = "online_metric"
    extended_canary: ExtendedCanary = ExtendedCanary()


class ShadowPolicy(_Strict):
    """Hours are server time since the shadow started, never the records' own timestamps."""

    min_hours: Annotated[float, Field(ge=0.0)] = 24
    max_hours: Positive = 72
    min_records: Annotated[int, Field(ge=1)] = 100
    min_agreement: Fraction = 0.9
    max_p99_ratio: Positive = 1.3
    slice_min_agreement: Fraction = 0.8
    slice_min_support: Annotated[int, Field(ge=1)] = 50

    @model_validator(mode="after")
    def _ordered(self) -> ShadowPolicy:
        if self.max_hours < self.min_hours:
            raise ValueError("max_hours must be >= min_hours")
        return self


class CanaryStage(_Strict):
    """One stage. ``min_windows``/``min_requests`` override the power-derived evidence the stage must
    gather before it may pass (evaluable windows, canary requests in them); absent, they are derived
    (gatekeeper.canary.rules.evidence_needed)."""

    share: Annotated[float, Field(gt=0.0, lt=1.0)]
    days: Positive
    min_windows: Annotated[int, Field(ge=1)] | None = None
    min_requests: Annotated[int, Field(ge=1)] | None = None


class CanaryPolicy(_Strict):
    stages: list[CanaryStage] = Field(
        default_factory=lambda: [
            CanaryStage(share=0.01, days=7),
            CanaryStage(share=0.05, days=3),
            CanaryStage(share=0.25, days=7),
        ],
        min_length=1,
    )
    tick_minutes: Positive = 5
    safety_metrics: list[str] = Field(default_factory=list)
    # After 100 %, the new champion is judged against the pre-promotion reference for this long, with
    # the previous champion kept warm for an automatic rollback; 0 = no bake (passed at promotion).
    bake_hours: Annotated[float, Field(ge=0.0, le=24 * 14)] = 24
    # A stage whose time is up without enough evidence is held at its share; this long after its
    # scheduled end it is aborted as insufficient_evidence (Flagger's progressDeadlineSeconds).
    progress_deadline_hours: Positive = 24
    # The power the derived evidence gives the error-rate rule to see its own effect (evidence_needed).
    evidence_power: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.8

    @model_validator(mode="after")
    def _increasing(self) -> CanaryPolicy:
        shares = [stage.share for stage in self.stages]
        if shares != sorted(shares) or len(set(shares)) != len(shares):
            raise ValueError("canary stage shares must strictly increase")
        return self


class SequentialPolicy(_Strict):
    """The anytime-valid rule (issue 15): its level over the whole canary and the effects it tolerates.

    Each test's null is "the canary is no worse than this": H0 error ratio <= ``error_ratio``, exception
    ratio <= ``exception_ratio``, p99 ratio at most ``p99_ratio`` in at most half the windows, each safety
    metric's canary - holdout mean >= -``safety_tolerance`` (metric units). ``alpha`` is split evenly over
    the tests (Bonferroni), so the whole rule aborts a healthy canary with probability <= ``alpha``."""

    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05
    error_ratio: Annotated[float, Field(ge=1.0)] = 1.1
    exception_ratio: Annotated[float, Field(ge=1.0)] = 1.1
    p99_ratio: Annotated[float, Field(ge=1.0)] = 1.1
    safety_tolerance: Fraction = 0.005
    restart_windows: Annotated[int, Field(ge=1)] = 12  # a late regression is tested from the hour it began


class AbortRulesPolicy(_Strict):
    """The canary abort rules' thresholds (gatekeeper.canary.rules reads this model, nothing else).

    ``rules`` picks the rule set: ``seed`` (the four threshold rules of seed 002), ``sequential`` (the
    anytime-valid rule) or ``both`` (abort on whichever fires first)."""

    rules: Literal["seed", "sequential", "both"] = "both"
    sequential: SequentialPolicy = SequentialPolicy()

    safety_sigma: Positive = 2.0
    safety_minutes: Positive = 60
    error_ratio: Annotated[float, Field(gt=1.0)] = 2.0  # at or below 1 a healthy canary would breach
    error_minutes: Positive = 5
    p99_ratio: Positive = 1.5
    p99_minutes: Positive = 15
    exception_excess_rate: Fraction = 0.001
    min_requests: Annotated[int, Field(ge=1)] = 50
    evidence_alpha: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05
    safety_sigma_floor: Positive = 1e-3
    p99_floor_ms: Positive = 1.0


class DriftPolicy(_Strict):
    psi: Positive = 0.2
    psi_hours: Positive = 24
    label_chi2_p: Fraction = 0.01
    label_days: Positive = 7
    prediction_ks: Fraction = 0.15
    ks_hours: Positive = 24
    concept_delta_f1: Fraction = 0.03
    concept_days: Positive = 7
    kl_monitor: Positive = 0.012
    kl_alert: Positive = 0.02
    kl_retrain: Positive = 0.028
    min_samples: Annotated[int, Field(ge=1)] = 200
    min_labelled: Annotated[int, Field(ge=1)] = 100


class GenerationPolicy(_Strict):
    """Generation-only hard rules (seed 004): tool calls must be valid, safety failures are zero."""

    max_safety_failures: Annotated[int, Field(ge=0)] = 0
    judge_repeats: Annotated[int, Field(ge=1, le=10)] = 3


class Policy(_Strict):
    target: str = Field(min_length=1)
    task: Literal["classification", "ranking", "generation"] = "classification"
    primary_metric: str = "macro_f1"
    evalset_dir: str | None = None
    description: str | None = None
    always_extended_canary: bool = False
    # What an inconclusive gate does (a comparison whose CI straddles its bound): ``block`` holds the
    # candidate at gate_inconclusive until a re-gate on more data decides it; ``pass`` lets it go on.
    on_inconclusive: Literal["block", "pass"] = "block"
    golden: GoldenPolicy = GoldenPolicy()
    slices: SlicePolicy = SlicePolicy()
    adversarial: AdversarialPolicy = AdversarialPolicy()
    replay: ReplayPolicy = ReplayPolicy()
    correlation: CorrelationPolicy = CorrelationPolicy()
    shadow: ShadowPolicy = ShadowPolicy()
    canary: CanaryPolicy = CanaryPolicy()
    abort_rules: AbortRulesPolicy = AbortRulesPolicy()
    drift: DriftPolicy = DriftPolicy()
    generation: GenerationPolicy = GenerationPolicy()

    def resolved_evalset_dir(self) -> str:
        return self.evalset_dir or f"evalsets/{self.target}"


def parse_policy(text: str) -> Policy:
    """Parse and validate policy YAML, naming the offending field in the error."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"policy is not valid YAML: {exc}", field="policy") from None
    if not isinstance(data, dict):
        raise ValidationFailed("policy must be a YAML mapping", field="policy")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValidationFailed(
            f"policy.{where}: {first['msg']}",
            field=f"policy.{where}",
            errors=[{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()],
        ) from None
