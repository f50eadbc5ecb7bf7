"""The gate decision: ``decide(results, policy) -> GateDecision``.

Pure: it reads the measurements of the five modes (plain dicts, as stored with the evaluation) and the
pinned policy, and returns every check with its figures. All thresholds are applied here and nowhere
else, so this is the one place to read (and test) to know why a candidate passed or failed.

Significance. Contract checks (golden floors, tolerances, rare-class recall, ECE, latency, adversarial
ceiling) apply the policy to point estimates, as the seed's gate table does, and report the paired
95% CI and p-value beside them. Slice regressions are noisier, so a regression beyond the limit on a
safety-critical slice fails only when it is significant (p < 0.05); elsewhere it is a soft flag when
Benjamini-Hochberg at the policy's FDR still calls it significant across all judged slices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from gatekeeper.evaluation.stats import benjamini_hochberg
from gatekeeper.policy.schema import Policy

Severity = Literal["hard", "soft", "info"]
ALPHA = 0.05


@dataclass(frozen=True)
class Reason:
    check: str
    metric: str
    severity: Severity
    passed: bool
    message: str
    slice: str | None = None
    value: float | None = None
    baseline: float | None = None
    threshold: float | None = None
    significant: bool | None = None
    ci: tuple[float, float] | None = None
    p_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ci"] = list(self.ci) if self.ci else None
        return data


@dataclass(frozen=True)
class GateDecision:
    verdict: Literal["pass", "fail"]
    first_model: bool
    checks: list[Reason]
    extended_canary: bool
    extended_reason: str
    summary: str = ""
    hard_failures: list[Reason] = field(default_factory=list)
    soft_flags: list[Reason] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "first_model": self.first_model,
            "summary": self.summary,
            "extended_canary": self.extended_canary,
            "extended_reason": self.extended_reason,
            "hard_failures": [r.to_dict() for r in self.hard_failures],
            "soft_flags": [r.to_dict() for r in self.soft_flags],
            "checks": [r.to_dict() for r in self.checks],
        }


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _ci(c: Mapping[str, Any] | None) -> tuple[float, float] | None:
    if not c or c.get("ci_low") is None or c.get("ci_high") is None:
        return None
    return (float(c["ci_low"]), float(c["ci_high"]))


def _significant(c: Mapping[str, Any] | None) -> bool | None:
    return None if not c or c.get("p_value") is None else bool(c["p_value"] < ALPHA)


# --- mode 1: golden -------------------------------------------------------------------------------


def _floor(golden: Mapping[str, Any], metric: str, floor: float, intervals: Mapping[str, Any]) -> Reason:
    value = golden["candidate"].get(metric)
    judged = (golden["candidate"].get("judged") or {}).get(metric) or {}
    if value is None and judged.get("status") == "not_computed":
        reason = judged.get("reason", "no judge")
        message = f"{metric} not computed ({reason}); floor {floor} not applied"
        return Reason("golden.floor", metric, "info", True, message, threshold=floor)
    if value is None:
        message = f"{metric} was not measured; floor {floor}"
        return Reason("golden.floor", metric, "hard", False, message, threshold=floor)
    ok = value >= floor
    return Reason(
        "golden.floor",
        metric,
        "hard",
        ok,
        f"{metric} {_fmt(value)} {'>=' if ok else '<'} floor {floor}",
        value=value,
        threshold=floor,
        ci=_ci(intervals.get(metric)),
    )


def _floors(golden: Mapping[str, Any], policy: Policy) -> list[Reason]:
    intervals = golden.get("comparisons") or golden.get("intervals") or {}
    return [_floor(golden, metric, floor, intervals) for metric, floor in policy.golden.floors.items()]


def _paired(
    check: str, metric: str, severity: Severity, ok: bool, message: str, c: Mapping[str, Any], bound: float
) -> Reason:
    """A check of a paired comparison: both figures, the bound, and the comparison's CI and p-value."""
    return Reason(
        check,
        metric,
        severity,
        ok,
        message,
        value=c["candidate"],
        baseline=c["champion"],
        threshold=bound,
        significant=_significant(c),
        ci=_ci(c),
        p_value=c.get("p_value"),
    )


def _vs_champion(check: str, metric: str, c: Mapping[str, Any], bound: float, message: str) -> Reason:
    """A hard check of the candidate against the champion minus what the policy lets it lose."""
    return _paired(check, metric, "hard", c["candidate"] >= bound, message, c, bound)


def _tolerances(golden: Mapping[str, Any], policy: Policy) -> list[Reason]:
    out = []
    for metric, tol in policy.golden.tolerance.items():
        c = golden["comparisons"].get(metric)
        if c is None:
            continue
        message = (
            f"{metric} {_fmt(c['candidate'])} vs champion {_fmt(c['champion'])} "
            f"(delta {c['delta']:+.4f}, tolerance {tol})"
        )
        out.append(_vs_champion("golden.vs_champion", metric, c, c["champion"] - tol, message))
    return out


def _rare_recall(golden: Mapping[str, Any], policy: Policy) -> list[Reason]:
    out = []
    tol = policy.golden.rare_recall_tolerance
    for cls in policy.golden.critical_classes:
        c = golden["comparisons"].get(f"recall:{cls}")
        if c is None:
            continue
        message = (
            f"recall of {cls} {_fmt(c['candidate'])} vs champion {_fmt(c['champion'])} "
            f"(may drop at most {tol})"
        )
        out.append(_vs_champion("golden.rare_recall", f"recall:{cls}", c, c["champion"] - tol, message))
    return out


def _calibration(golden: Mapping[str, Any], policy: Policy) -> list[Reason]:
    cand_ece = golden["candidate"].get("ece")
    champ_ece = (golden.get("champion") or {}).get("ece")
    margin = policy.golden.ece_margin
    if margin is None or cand_ece is None or champ_ece is None:
        return []
    limit = champ_ece + margin
    return [
        Reason(
            "golden.calibration",
            "ece",
            "hard",
            cand_ece <= limit,
            f"ECE {_fmt(cand_ece)} vs champion {_fmt(champ_ece)} (+{margin} allowed)",
            value=cand_ece,
            baseline=champ_ece,
            threshold=limit,
        )
    ]


def _latency(golden: Mapping[str, Any], policy: Policy) -> list[Reason]:
    limit_ms = policy.golden.latency_p95_ms
    if limit_ms is None:
        return []
    p95 = (golden.get("latency") or {}).get("p95_ms")
    if p95 is None:
        message = "single-example latency not measured (predictions were submitted without it)"
        return [Reason("golden.latency", "latency_p95_ms", "info", True, message, threshold=limit_ms)]
    message = f"p95 latency {p95:.2f} ms (must be < {limit_ms} ms)"
    return [
        Reason(
            "golden.latency", "latency_p95_ms", "hard", p95 < limit_ms, message, value=p95, threshold=limit_ms
        )
    ]


def _calibration_and_latency(golden: Mapping[str, Any], policy: Policy) -> list[Reason]:
    return _calibration(golden, policy) + _latency(golden, policy)


def _safety(golden: Mapping[str, Any], policy: Policy) -> list[Reason]:
    failures = golden["candidate"].get("safety_failures")
    if failures is None:
        return []
    allowed = policy.generation.max_safety_failures
    return [
        Reason(
            "golden.safety",
            "safety_failures",
            "hard",
            failures <= allowed,
            f"{failures} safety failure(s) (at most {allowed} allowed)",
            value=float(failures),
            threshold=float(allowed),
        )
    ]


def golden_checks(golden: Mapping[str, Any], policy: Policy) -> list[Reason]:
    checks = _floors(golden, policy) + _safety(golden, policy)
    if golden.get("comparisons") is not None:
        checks += _tolerances(golden, policy) + _rare_recall(golden, policy)
    return checks + _calibration_and_latency(golden, policy)


# --- mode 2: slices -------------------------------------------------------------------------------


def is_safety_critical(dimensions: Mapping[str, str], policy: Policy) -> bool:
    """Single-dimension slices listed in ``safety_critical``, or intersections declared there as
    ``{"lang+cohort": ["ja+power"]}``."""
    key = "+".join(dimensions)
    value = "+".join(dimensions.values())
    return value in policy.slices.safety_critical.get(key, [])


def _slice_reason(
    row: Mapping[str, Any],
    severity: Severity,
    passed: bool,
    significant: bool | None,
    message: str,
    limit: float,
) -> Reason:
    return Reason(
        "slice",
        row.get("metric", "accuracy"),
        severity,
        passed,
        message,
        slice=row["slice"],
        value=row["candidate"],
        baseline=row.get("champion"),
        threshold=-limit,
        significant=significant,
        ci=_ci(row),
        p_value=row.get("p_value"),
    )


def unsupported(n: int, policy: Policy) -> bool:
    """The slice support rule: fewer than ``min_support`` examples are reported, never judged."""
    return n < policy.slices.min_support


def slice_support(table: Mapping[str, Any], policy: Policy) -> dict[str, Any]:
    """The slice table as stored: small slices marked insufficient data, their intervals withheld."""
    rows = []
    for row in table["rows"]:
        small = unsupported(row["n"], policy)
        withheld = {"ci_low": None, "ci_high": None, "p_value": None} if small else {}
        rows.append({**row, "insufficient_data": small, **withheld})
    return {**table, "min_support": policy.slices.min_support, "rows": rows}


def _critical_slice(r: Mapping[str, Any], limit: float) -> Reason:
    """A safety-critical slice fails on a regression beyond the limit that is significant on its own."""
    regressed, significant = r["delta"] < -limit, r["p_value"] is not None and r["p_value"] < ALPHA
    severity: Severity = "hard" if regressed and significant else ("soft" if regressed else "info")
    message = (
        f"safety-critical slice {r['slice']}: delta {r['delta']:+.4f} "
        f"(limit -{limit}, p={_fmt(r['p_value'])})"
    )
    return _slice_reason(r, severity, not regressed, significant, message, limit)


def _other_slices(rows: list[dict[str, Any]], policy: Policy) -> list[Reason]:
    """Other slices are flagged (soft) when Benjamini-Hochberg at the policy's FDR calls them significant."""
    limit, fdr = policy.slices.max_regression, policy.slices.fdr
    discoveries = benjamini_hochberg([r["p_value"] for r in rows], fdr) if rows else []
    out = []
    for r, discovered in zip(rows, discoveries, strict=True):
        regressed = r["delta"] < -limit
        severity: Severity = "soft" if regressed and discovered else "info"
        message = (
            f"slice {r['slice']}: delta {r['delta']:+.4f} (limit -{limit}, "
            f"{'significant' if discovered else 'not significant'} at FDR {fdr})"
        )
        out.append(
            _slice_reason(r, severity, not (regressed and discovered), bool(discovered), message, limit)
        )
    return out


def slice_checks(slices: Mapping[str, Any], policy: Policy) -> list[Reason]:
    limit = policy.slices.max_regression
    rows = [dict(r, metric=slices.get("metric", "accuracy")) for r in slices["rows"]]
    small = [r for r in rows if unsupported(r["n"], policy)]
    out = [
        _slice_reason(
            r, "info", True, None, f"insufficient data (n={r['n']} < {policy.slices.min_support})", limit
        )
        for r in small
    ]
    judged = [r for r in rows if not unsupported(r["n"], policy) and r.get("delta") is not None]
    out += [_critical_slice(r, limit) for r in judged if is_safety_critical(r["dimensions"], policy)]
    return out + _other_slices([r for r in judged if not is_safety_critical(r["dimensions"], policy)], policy)


# --- modes 3-5 -----------------------------------------------------------------------------------


def adversarial_checks(adversarial: Mapping[str, Any], policy: Policy) -> list[Reason]:
    ceiling = policy.adversarial.ceiling
    overall = adversarial["overall"]
    if overall.get("delta_error") is None:
        return [
            Reason(
                "adversarial",
                "error",
                "info",
                True,
                f"adversarial error {_fmt(overall['candidate_error'])} (no champion to compare)",
                value=overall["candidate_error"],
            )
        ]

    def reason(part: Mapping[str, Any], severity: Severity, name: str | None) -> Reason:
        ok = part["delta_error"] <= ceiling
        return Reason(
            "adversarial",
            "error",
            severity if not ok else "info",
            ok,
            f"{name or 'overall'}: error {_fmt(part['candidate_error'])} vs champion "
            f"{_fmt(part['champion_error'])} (ceiling +{ceiling}); flip rate "
            f"{_fmt(part['candidate_flip_rate'])} vs {_fmt(part.get('champion_flip_rate'))}",
            slice=name,
            value=part["candidate_error"],
            baseline=part["champion_error"],
            threshold=part["champion_error"] + ceiling,
            significant=_significant(part),
            ci=_ci(part),
            p_value=part.get("p_value"),
        )

    return [reason(overall, "hard", None)] + [
        reason(p, "soft", p["perturbation"]) for p in adversarial["by_type"]
    ]


def _replay_quality(replay: Mapping[str, Any], policy: Policy) -> list[Reason]:
    quality = replay.get("quality")
    if not quality:
        return []
    drop = policy.replay.max_quality_drop
    ok = quality["delta"] >= -drop
    message = (
        f"on {replay['n_labelled']} labelled sessions: {_fmt(quality['candidate'])} vs served "
        f"{_fmt(quality['champion'])}"
    )
    bound = quality["champion"] - drop
    return [_paired("replay", "routing_accuracy", "info" if ok else "soft", ok, message, quality, bound)]


def _replay_cost(replay: Mapping[str, Any], policy: Policy) -> list[Reason]:
    change = replay.get("cost_change_relative")
    if change is None:
        return []
    most = policy.replay.max_cost_increase
    ok, cost = change <= most, replay["cost"]
    message = (
        f"cost per session {cost['candidate']:.5f} vs served {cost['champion']:.5f} "
        f"({change:+.1%}, at most +{most:.0%})"
    )
    bound = cost["champion"] * (1 + most)
    return [_paired("replay", "cost_per_session", "info" if ok else "soft", ok, message, cost, bound)]


def replay_checks(replay: Mapping[str, Any], policy: Policy) -> list[Reason]:
    return _replay_quality(replay, policy) + _replay_cost(replay, policy)


def extended_canary(correlation: Mapping[str, Any] | None, policy: Policy) -> tuple[bool, str]:
    """Weak or unknown offline-online correlation (or an always-extended target) extends the canary."""
    if policy.always_extended_canary:
        return True, "target is always extended canary"
    pairs = (correlation or {}).get("n") or 0
    pearson = (correlation or {}).get("pearson")
    if pairs < policy.correlation.min_pairs:
        return True, f"only {pairs} offline-online pair(s) (< {policy.correlation.min_pairs})"
    if pearson is None or pearson < policy.correlation.min_corr:
        return True, f"offline-online correlation {_fmt(pearson)} < {policy.correlation.min_corr}"
    return False, f"offline-online correlation {pearson:.2f} over {pairs} promotions"


def replay_extension(checks: list[Reason], policy: Policy) -> str | None:
    """A significant replay flag (quality or cost) says offline evidence disagrees with what is served:
    the canary that follows watches longer, unless the policy turns this off."""
    if not policy.replay.extends_canary:
        return None
    flags = [c for c in checks if c.check == "replay" and not c.passed and c.significant]
    if not flags:
        return None
    return "significant replay flag(s): " + "; ".join(f"{c.metric} {c.message}" for c in flags)


def canary_plan(
    correlation: Mapping[str, Any] | None, checks: list[Reason], policy: Policy
) -> tuple[bool, str]:
    """Extended when the correlation says so or a replay flag does; every reason that applies is given."""
    extended, why = extended_canary(correlation, policy)
    replay_why = replay_extension(checks, policy)
    if replay_why is None:
        return extended, why
    return True, f"{why}; {replay_why}" if extended else replay_why


def decide(results: Mapping[str, Any], policy: Policy) -> GateDecision:
    """Apply the policy to the five modes' measurements."""
    checks = golden_checks(results["golden"], policy)
    if results.get("slices"):
        checks += slice_checks(results["slices"], policy)
    if results.get("adversarial"):
        checks += adversarial_checks(results["adversarial"], policy)
    if results.get("replay"):
        checks += replay_checks(results["replay"], policy)
    extended, why = canary_plan(results.get("correlation"), checks, policy)
    hard = [c for c in checks if c.severity == "hard" and not c.passed]
    soft = [c for c in checks if c.severity == "soft" and not c.passed]
    first = bool(results.get("first_model"))
    verdict: Literal["pass", "fail"] = "fail" if hard else "pass"
    summary = (
        f"{verdict.upper()}: {len(hard)} hard failure(s), {len(soft)} soft flag(s)"
        + ("; first model of the target, judged on floors alone" if first else "")
        + ("; next canary extended: " + why if extended and verdict == "pass" else "")
    )
    return GateDecision(verdict, first, checks, extended, why, summary, hard, soft)
