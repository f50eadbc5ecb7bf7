"""The gate decision: ``decide(results, policy) -> GateDecision``.

Pure: it reads the measurements of the five modes (plain dicts, as stored with the evaluation) and the
pinned policy, and returns every check with its figures. All thresholds are applied here and nowhere
else, so this is the one place to read (and test) to know why a candidate passed or failed.

Significance. Contract checks (golden floors, ECE, latency, adversarial ceiling) apply the policy to
point estimates, as the seed's gate table does. Non-inferiority comparisons with the champion (golden
tolerances, critical-class recall, slices, replay) have three outcomes (``non_inferiority``): fail when
the point estimate breaches the bound (the seed's contract), pass when the whole 95% CI clears it, and
inconclusive when the CI straddles it, with the sample size that would decide it. A regression beyond
the limit on a safety-critical slice fails only when it is significant (p < 0.05); elsewhere it is a
soft flag when Benjamini-Hochberg at the policy's FDR still calls it significant across judged slices.
The candidate's verdict: fail on any hard failure, else inconclusive on any hard inconclusive check,
else pass; the policy's ``on_inconclusive`` says whether an inconclusive candidate may go on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from gatekeeper.evaluation.stats import benjamini_hochberg, samples_to_decide
from gatekeeper.evaluation.verdicts import Verdict, combine, need_text
from gatekeeper.policy.schema import Policy

Severity = Literal["hard", "soft", "info"]
ALPHA = 0.05
# A CI bound equal to the comparison's bound (e.g. identical models, tolerance 0) clears it despite rounding.
_EPS = 1e-12


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
    # Neither passed nor failed: the CI straddles the bound (or the slice is under min_support).
    inconclusive: bool = False
    # How many more examples would decide it at the observed spread (``samples_to_decide``).
    need_n: int | None = None

    @property
    def outcome(self) -> Verdict:
        return "inconclusive" if self.inconclusive else ("pass" if self.passed else "fail")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ci"] = list(self.ci) if self.ci else None
        data["outcome"] = self.outcome
        return data


@dataclass(frozen=True)
class GateDecision:
    verdict: Verdict
    first_model: bool
    checks: list[Reason]
    extended_canary: bool
    extended_reason: str
    summary: str = ""
    hard_failures: list[Reason] = field(default_factory=list)
    soft_flags: list[Reason] = field(default_factory=list)
    # Hard and soft checks the evidence cannot decide yet, each with its need N.
    inconclusive: list[Reason] = field(default_factory=list)
    # Whether the candidate may go on to shadow (a pass, or inconclusive under on_inconclusive: pass).
    promotable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "promotable": self.promotable,
            "first_model": self.first_model,
            "summary": self.summary,
            "extended_canary": self.extended_canary,
            "extended_reason": self.extended_reason,
            "hard_failures": [r.to_dict() for r in self.hard_failures],
            "soft_flags": [r.to_dict() for r in self.soft_flags],
            "inconclusive": [r.to_dict() for r in self.inconclusive],
            "need": [need_of(r) for r in self.inconclusive],
            "checks": [r.to_dict() for r in self.checks],
        }


def _unit(check: str) -> str:
    """What a check counts: golden examples, or logged sessions for replay."""
    return "golden examples" if check.startswith("golden") else "sessions"


def need_of(r: Reason) -> dict[str, Any]:
    """One line of "need N": which comparison, how many more examples, in words."""
    unit = "examples" if r.slice else _unit(r.check)
    where = f"slice {r.slice}" if r.slice else f"{r.check} {r.metric}"
    return {
        "check": r.check,
        "metric": r.metric,
        "slice": r.slice,
        "need_n": r.need_n,
        "text": f"{where}: {need_text(r.need_n, unit)}",
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


def non_inferiority(
    point_ok: bool, delta_bound: float, ci: tuple[float, float] | None, *, lower_is_better: bool
) -> Verdict:
    """The one rule of every non-inferiority comparison with the champion (on the paired delta).

    Fail when the point estimate breaches the bound (``point_ok`` is False: the seed's contract, unchanged);
    pass when the whole CI clears it (or no CI was computed, as for off-policy replay estimates);
    otherwise the evidence cannot tell and the comparison is inconclusive.
    """
    if not point_ok:
        return "fail"
    if ci is None:
        return "pass"
    clears = ci[1] <= delta_bound + _EPS if lower_is_better else ci[0] >= delta_bound - _EPS
    return "pass" if clears else "inconclusive"


def _need(c: Mapping[str, Any], delta_bound: float, outcome: Verdict) -> int | None:
    if outcome != "inconclusive" or c.get("n") is None:
        return None
    ci = _ci(c) or (None, None)
    total = samples_to_decide(
        n=int(c["n"]), estimate=c["delta"], bound=delta_bound, ci_low=ci[0], ci_high=ci[1]
    )
    return None if total is None else total - int(c["n"])


def _paired(
    check: str,
    metric: str,
    severity: Severity,
    outcome: Verdict,
    message: str,
    c: Mapping[str, Any],
    bounds: tuple[float, float],
) -> Reason:
    """A check of a paired comparison: both figures, the bound (on the candidate, and on the delta), the
    comparison's CI and p-value, and its need N when inconclusive."""
    need = _need(c, bounds[1], outcome)
    if outcome == "inconclusive":
        message += f"; CI {_fmt_ci(c)} straddles the bound: {need_text(need, _unit(check))}"
    return Reason(
        check,
        metric,
        severity,
        outcome == "pass",
        message,
        value=c["candidate"],
        baseline=c["champion"],
        threshold=bounds[0],
        significant=_significant(c),
        ci=_ci(c),
        p_value=c.get("p_value"),
        inconclusive=outcome == "inconclusive",
        need_n=need,
    )


def _fmt_ci(c: Mapping[str, Any]) -> str:
    ci = _ci(c)
    return "n/a" if ci is None else f"[{ci[0]:+.4f}, {ci[1]:+.4f}]"


def _vs_champion(check: str, metric: str, c: Mapping[str, Any], tol: float, message: str) -> Reason:
    """A hard check of the candidate against the champion minus what the policy lets it lose."""
    bound = c["champion"] - tol
    outcome = non_inferiority(c["candidate"] >= bound, -tol, _ci(c), lower_is_better=False)
    return _paired(check, metric, "hard", outcome, message, c, (bound, -tol))


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
        out.append(_vs_champion("golden.vs_champion", metric, c, tol, message))
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
        out.append(_vs_champion("golden.rare_recall", f"recall:{cls}", c, tol, message))
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
    outcome: Verdict,
    significant: bool | None,
    message: str,
    limit: float,
) -> Reason:
    need = row.get("need_n") if row.get("insufficient_data") else _need(row, -limit, outcome)
    if outcome == "inconclusive":
        message += f"; {need_text(need)}"
    return Reason(
        "slice",
        row.get("metric", "accuracy"),
        severity,
        outcome == "pass",
        message,
        slice=row["slice"],
        value=row["candidate"],
        baseline=row.get("champion"),
        threshold=-limit,
        significant=significant,
        ci=_ci(row),
        p_value=row.get("p_value"),
        inconclusive=outcome == "inconclusive",
        need_n=need,
    )


def unsupported(n: int, policy: Policy) -> bool:
    """The slice support rule: fewer than ``min_support`` examples are reported, never judged."""
    return n < policy.slices.min_support


def small_slice_need(row: Mapping[str, Any], policy: Policy) -> int:
    """More examples an unsupported slice needs: to reach ``min_support``, and to decide its comparison
    with the champion at the spread observed on the examples it has (``samples_to_decide``)."""
    decide_at = None
    if row.get("delta") is not None:
        decide_at = samples_to_decide(
            n=row["n"],
            estimate=row["delta"],
            bound=-policy.slices.max_regression,
            ci_low=row.get("ci_low"),
            ci_high=row.get("ci_high"),
        )
    return max(policy.slices.min_support, decide_at or 0) - row["n"]


def slice_support(table: Mapping[str, Any], policy: Policy) -> dict[str, Any]:
    """The slice table as stored: small slices marked insufficient data with their need N, their
    intervals withheld."""
    rows = []
    for row in table["rows"]:
        small = unsupported(row["n"], policy)
        withheld = {"ci_low": None, "ci_high": None, "p_value": None} if small else {}
        need = {"need_n": small_slice_need(row, policy)} if small else {}
        rows.append({**row, "insufficient_data": small, **need, **withheld})
    return {**table, "min_support": policy.slices.min_support, "rows": rows}


def _critical_slice(r: Mapping[str, Any], limit: float) -> Reason:
    """A safety-critical slice fails on a regression beyond the limit that is significant on its own,
    passes when its CI clears the limit, and is otherwise inconclusive (a hard check not yet decided)."""
    regressed, significant = r["delta"] < -limit, r["p_value"] is not None and r["p_value"] < ALPHA
    outcome = non_inferiority(not (regressed and significant), -limit, _ci(r), lower_is_better=False)
    severity: Severity = "info" if outcome == "pass" else "hard"
    message = (
        f"safety-critical slice {r['slice']}: delta {r['delta']:+.4f} "
        f"(limit -{limit}, p={_fmt(r['p_value'])})"
    )
    return _slice_reason(r, severity, outcome, significant, message, limit)


def _other_slices(rows: list[dict[str, Any]], policy: Policy) -> list[Reason]:
    """Other slices are flagged (soft) when Benjamini-Hochberg at the policy's FDR calls them significant."""
    limit, fdr = policy.slices.max_regression, policy.slices.fdr
    discoveries = benjamini_hochberg([r["p_value"] for r in rows], fdr) if rows else []
    out = []
    for r, discovered in zip(rows, discoveries, strict=True):
        flagged = r["delta"] < -limit and discovered
        outcome = non_inferiority(not flagged, -limit, _ci(r), lower_is_better=False)
        severity: Severity = "soft" if flagged else "info"
        message = (
            f"slice {r['slice']}: delta {r['delta']:+.4f} (limit -{limit}, "
            f"{'significant' if discovered else 'not significant'} at FDR {fdr})"
        )
        out.append(_slice_reason(r, severity, outcome, bool(discovered), message, limit))
    return out


def slice_checks(slices: Mapping[str, Any], policy: Policy) -> list[Reason]:
    limit = policy.slices.max_regression
    rows = [dict(r, metric=slices.get("metric", "accuracy")) for r in slices["rows"]]
    small = [r for r in rows if unsupported(r["n"], policy)]
    out = [
        _slice_reason(
            {**r, "insufficient_data": True},
            "info",
            "inconclusive",
            None,
            f"insufficient data (n={r['n']} < {policy.slices.min_support})",
            limit,
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
    outcome = non_inferiority(quality["delta"] >= -drop, -drop, _ci(quality), lower_is_better=False)
    message = (
        f"on {replay['n_labelled']} labelled sessions: {_fmt(quality['candidate'])} vs served "
        f"{_fmt(quality['champion'])}"
    )
    bounds = (quality["champion"] - drop, -drop)
    severity: Severity = "info" if outcome == "pass" else "soft"
    return [_paired("replay", "routing_accuracy", severity, outcome, message, quality, bounds)]


def _replay_cost(replay: Mapping[str, Any], policy: Policy) -> list[Reason]:
    change = replay.get("cost_change_relative")
    if change is None:
        return []
    most, cost = policy.replay.max_cost_increase, replay["cost"]
    bounds = (cost["champion"] * (1 + most), cost["champion"] * most)
    outcome = non_inferiority(change <= most, bounds[1], _ci(cost), lower_is_better=True)
    message = (
        f"cost per session {cost['candidate']:.5f} vs served {cost['champion']:.5f} "
        f"({change:+.1%}, at most +{most:.0%})"
    )
    severity: Severity = "info" if outcome == "pass" else "soft"
    return [_paired("replay", "cost_per_session", severity, outcome, message, cost, bounds)]


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
    flags = [c for c in checks if c.check == "replay" and c.outcome == "fail" and c.significant]
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


def promotable(verdict: Verdict, policy: Policy) -> bool:
    """A pass goes on; an inconclusive candidate only where the policy says ``on_inconclusive: pass``."""
    return verdict == "pass" or (verdict == "inconclusive" and policy.on_inconclusive == "pass")


def _all_checks(results: Mapping[str, Any], policy: Policy) -> list[Reason]:
    checks = golden_checks(results["golden"], policy)
    if results.get("slices"):
        checks += slice_checks(results["slices"], policy)
    if results.get("adversarial"):
        checks += adversarial_checks(results["adversarial"], policy)
    if results.get("replay"):
        checks += replay_checks(results["replay"], policy)
    return checks


def _summary(verdict: Verdict, counts: tuple[int, int, int], go: bool) -> str:
    hard, soft, undecided = counts
    text = f"{verdict.upper()}: {hard} hard failure(s), {soft} soft flag(s)"
    if undecided:
        text += f", {undecided} inconclusive check(s)"
    if verdict == "inconclusive":
        text += (
            "; let through by on_inconclusive: pass"
            if go
            else "; promotion blocked until more evidence decides it (on_inconclusive: block)"
        )
    return text


def decide(results: Mapping[str, Any], policy: Policy) -> GateDecision:
    """Apply the policy to the five modes' measurements."""
    checks = _all_checks(results, policy)
    extended, why = canary_plan(results.get("correlation"), checks, policy)
    hard = [c for c in checks if c.severity == "hard" and c.outcome == "fail"]
    soft = [c for c in checks if c.severity == "soft" and c.outcome == "fail"]
    undecided = [c for c in checks if c.inconclusive and c.severity != "info"]
    first = bool(results.get("first_model"))
    verdict = combine(c.outcome for c in checks if c.severity == "hard")
    go = promotable(verdict, policy)
    summary = (
        _summary(verdict, (len(hard), len(soft), len(undecided)), go)
        + ("; first model of the target, judged on floors alone" if first else "")
        + ("; next canary extended: " + why if extended and go else "")
    )
    return GateDecision(verdict, first, checks, extended, why, summary, hard, soft, undecided, go)
