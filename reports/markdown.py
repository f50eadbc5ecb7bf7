"""The CI comment: the decision first, then what failed or was flagged, then the tables."""

from __future__ import annotations

from typing import Any

from gatekeeper.evaluation.verdicts import need_text

WORST_SLICES = 12
# Unsupported slices named with their need N in the summary (the smallest first).
SMALL_SLICES = 8


def _n(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ci(low: Any, high: Any) -> str:
    return "–" if low is None or high is None else f"[{low:+.4f}, {high:+.4f}]"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(r) + " |" for r in rows
    ]


def _reasons(title: str, reasons: list[dict[str, Any]]) -> list[str]:
    if not reasons:
        return []
    rows = [
        [
            r["check"],
            r.get("slice") or "",
            r["metric"],
            _n(r.get("value")),
            _n(r.get("baseline")),
            _n(r.get("threshold")),
            _ci(*(r.get("ci") or (None, None))),
            _n(r.get("p_value"), 3),
            "yes" if r.get("significant") else ("no" if r.get("significant") is False else "–"),
        ]
        for r in reasons
    ]
    return [
        "",
        f"### {title}",
        "",
        *(f"- {r['message']}" for r in reasons),
        "",
        *_table(
            [
                "check",
                "slice",
                "metric",
                "value",
                "champion",
                "threshold",
                "95% CI (delta)",
                "p",
                "significant",
            ],
            rows,
        ),
    ]


# Task-specific rows shown beside the paired comparisons (when the report has them).
_EXTRA = {
    "classification": ("ece", "low_confidence_rate"),
    "ranking": ("ndcg@1", "ndcg@5", "recall@1", "recall@10"),
    "generation": ("tool_call_match", "safety_failures", "safety_pass_rate"),
}


def _golden(results: dict[str, Any]) -> list[str]:
    golden = results.get("golden") or {}
    cand, champ = golden.get("candidate") or {}, golden.get("champion") or {}
    comparisons = golden.get("comparisons") or golden.get("intervals") or {}
    rows = []
    for metric, c in comparisons.items():
        value = c.get("candidate", c.get("value", cand.get(metric)))
        rows.append(
            [
                metric,
                _n(value),
                _n(c.get("champion", champ.get(metric))),
                _n(c.get("delta")),
                _ci(c.get("ci_low"), c.get("ci_high")),
                _n(c.get("p_value"), 3),
            ]
        )
    for metric in _EXTRA.get(results.get("task", "classification"), ()):
        if metric in cand:
            rows.append([metric, _n(cand.get(metric)), _n(champ.get(metric)), "–", "–", "–"])
    latency = golden.get("latency") or {}
    if latency.get("p95_ms") is not None:
        rows.append(["latency p95 (ms)", _n(latency.get("p95_ms"), 2), "–", "–", "–", "–"])
    return [
        "",
        f"### Golden ({golden.get('n', 0)} examples)",
        "",
        *_table(["metric", "candidate", "champion", "delta", "95% CI", "p"], rows),
    ]


def _slices(results: dict[str, Any]) -> list[str]:
    table = results.get("slices")
    if not table:
        return []
    judged = [r for r in table["rows"] if r.get("delta") is not None and not r["insufficient_data"]]
    worst = sorted(judged, key=lambda r: r["delta"])[:WORST_SLICES]
    small = sum(1 for r in table["rows"] if r["insufficient_data"])
    rows = [
        [
            r["slice"],
            str(r["n"]),
            _n(r["candidate"]),
            _n(r["champion"]),
            f"{r['delta']:+.4f}",
            _ci(r["ci_low"], r["ci_high"]),
            _n(r["p_value"], 3),
        ]
        for r in worst
    ]
    return [
        "",
        f"### Slices: the {len(worst)} worst by delta ({table['metric']}; {small} slice(s) below "
        f"min support {table['min_support']} reported as insufficient data)",
        "",
        *_table(["slice", "n", "candidate", "champion", "delta", "95% CI", "p"], rows),
    ]


def _adversarial(results: dict[str, Any]) -> list[str]:
    adv = results.get("adversarial")
    if not adv:
        return []
    rows = [
        [
            p["perturbation"],
            str(p["n"]),
            _n(p["candidate_error"]),
            _n(p.get("champion_error")),
            _n(p["candidate_flip_rate"]),
            _n(p.get("champion_flip_rate")),
        ]
        for p in [{"perturbation": "overall", **adv["overall"]}, *adv["by_type"]]
    ]
    return [
        "",
        "### Adversarial",
        "",
        *_table(["perturbation", "n", "error", "champion error", "flip rate", "champion flip rate"], rows),
    ]


def _replay(results: dict[str, Any]) -> list[str]:
    replay = results.get("replay")
    if not replay:
        return []
    quality, cost = replay.get("quality") or {}, replay.get("cost")
    change = replay.get("cost_change_relative")
    lines = [
        "",
        f"### Counterfactual replay ({replay['n_sessions']} sessions, {replay['n_labelled']} judged)",
        "",
        f"- {quality.get('metric', 'quality')} {_n(quality.get('candidate'))} vs served "
        f"{_n(quality.get('champion'))} (CI of the difference "
        f"{_ci(quality.get('ci_low'), quality.get('ci_high'))})",
    ]
    counterfactual = replay.get("counterfactual")
    if counterfactual:
        lines.append(
            f"- top-result click-through: IPS {_n(counterfactual['ips']['value'])}, SNIPS "
            f"{_n(counterfactual['snips']['value'])} vs logging policy "
            f"{_n(counterfactual['logging_ctr']['value'])} (match rate {counterfactual['match_rate']:.1%}, "
            f"effective sample size {counterfactual['effective_sample_size']:.0f})"
        )
    if cost:
        lines.append(
            f"- cost per session {cost['candidate']:.5f} vs served {cost['champion']:.5f}"
            + (f" ({change:+.1%})" if change is not None else "")
        )
    lines.append(
        f"- decisions changed on {replay['changed_rate']:.1%} of sessions; {replay['rescued']} unhappy "
        f"session(s) the served model got wrong are rescued, {replay['broken']} it got right are broken"
    )
    return lines


def _correlation(results: dict[str, Any]) -> list[str]:
    corr = results.get("correlation") or {}
    return [
        "",
        "### Offline-online correlation",
        "",
        f"- {corr.get('n', 0)} promoted version(s) with both metrics; Pearson {_n(corr.get('pearson'), 3)}, "
        f"Spearman {_n(corr.get('spearman'), 3)}" + (f" ({corr['reason']})" if corr.get("reason") else ""),
    ]


def small_slice_needs(decision: dict[str, Any]) -> list[str]:
    """``lang=ja×cohort=new: need ≈ 240 more``, for the slices under min support, smallest first."""
    small = [
        r
        for r in decision.get("checks", [])
        if r.get("slice") and r.get("outcome") == "inconclusive" and "insufficient data" in r["message"]
    ]
    small.sort(key=lambda r: r.get("value") is None)
    return [f"{r['slice']}: {need_text(r.get('need_n'))}" for r in small]


def _need(decision: dict[str, Any]) -> list[str]:
    """What the evidence could not decide, and how many more examples would."""
    needs = [n["text"] for n in decision.get("need", [])]
    small = small_slice_needs(decision)
    if not needs and not small:
        return []
    lines = ["", "### Inconclusive: what more evidence would decide", "", *(f"- {t}" for t in needs)]
    if small:
        shown = "; ".join(small[:SMALL_SLICES]) + ("; …" if len(small) > SMALL_SLICES else "")
        lines.append(f"- {len(small)} slice(s) under min support (reported, not judged): {shown}")
    return lines


def render(report: dict[str, Any]) -> str:
    ev, decision = report["evaluation"], report.get("decision") or {}
    cand, champ = report["candidate"], report.get("champion")
    verdict = decision.get("verdict", ev["status"]).upper()
    icon = {"PASS": "✅", "FAIL": "❌", "INCONCLUSIVE": "❔"}.get(verdict, "⏳")
    lines = [
        f"## {icon} Gatekeeper {verdict}: {ev['target']} v{cand['version']}",
        "",
        f"**{decision.get('summary', ev['status'])}**",
        "",
        f"Candidate v{cand['version']} `{cand['artifact_sha256'][:12]}` vs "
        + (f"champion v{champ['version']} `{champ['artifact_sha256'][:12]}`" if champ else "no champion")
        + f" · policy v{ev['policy_version']} · evalset {report['evalset']['dir']} "
        f"{report['evalset']['version']} · evaluation `{ev['id']}`",
    ]
    if ev.get("error"):
        lines += ["", f"Evaluation error: {ev['error']}"]
    if decision:
        lines.append(
            f"- canary plan: {'extended' if decision.get('extended_canary') else 'standard'} "
            f"({decision.get('extended_reason', '')})"
        )
    lines += _reasons("Hard failures", decision.get("hard_failures", []))
    lines += _reasons("Soft flags", decision.get("soft_flags", []))
    lines += _need(decision)
    results = report.get("results") or {}
    if results:
        lines += (
            _golden(results)
            + _slices(results)
            + _adversarial(results)
            + _replay(results)
            + _correlation(results)
        )
    return "\n".join(lines) + "\n"
