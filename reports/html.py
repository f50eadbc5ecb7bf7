"""The archive page: one self-contained HTML file (inline CSS and SVG, no scripts, no network)."""

from __future__ import annotations

from html import escape
from typing import Any

from gatekeeper.evaluation.verdicts import need_text
from reports import markdown

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#1d2433}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dde}
table{border-collapse:collapse;margin:.5rem 0;font-size:13px}td,th{border:1px solid #dde;padding:3px 7px;text-align:right}
th{background:#f4f6fb}td:first-child,th:first-child{text-align:left}.pass{color:#0a7a35}.fail{color:#b3261e}
.banner{padding:.8rem 1rem;border-radius:6px;font-weight:600}.banner.pass{background:#e6f4ea}.banner.fail{background:#fce8e6}
.banner.inconclusive{background:#e8eefc}tr.undecided td{background:#e8eefc}
tr.hard td{background:#fce8e6}tr.soft td{background:#fff4d6}.muted{color:#6b7385}code{font-size:12px}
"""


def _fmt(value: Any, digits: int = 4) -> str:
    return markdown._n(value, digits)


def _table(header: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        f"<tr class='{(classes or [''] * len(rows))[i]}'>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _reasons(title: str, reasons: list[dict[str, Any]], css: str) -> str:
    if not reasons:
        return ""
    rows = [
        [
            escape(r["check"]),
            escape(r.get("slice") or ""),
            escape(r["metric"]),
            _fmt(r.get("value")),
            _fmt(r.get("baseline")),
            _fmt(r.get("threshold")),
            markdown._ci(*(r.get("ci") or (None, None))),
            _fmt(r.get("p_value"), 3),
            escape(r["message"]),
        ]
        for r in reasons
    ]
    return f"<h2>{escape(title)}</h2>" + _table(
        ["check", "slice", "metric", "value", "champion", "threshold", "95% CI", "p", "why"],
        rows,
        [css] * len(rows),
    )


def _confusion(report: dict[str, Any], labels: list[str]) -> str:
    matrix = report.get("confusion_matrix")
    if not matrix:
        return ""
    rows = []
    for i, row in enumerate(matrix):
        total = max(sum(row), 1)
        cells = []
        for j, count in enumerate(row):
            share = count / total
            colour = f"rgba(40,90,200,{share:.2f})" if i == j else f"rgba(200,40,40,{min(share * 3, 1):.2f})"
            cells.append(f"<span style='display:block;background:{colour}'>{count}</span>")
        rows.append([escape(labels[i])] + cells)
    return "<h2>Confusion matrix (candidate, golden; rows = true)</h2>" + _table(
        ["true \\ predicted"] + labels, rows
    )


def _reliability_svg(curve: list[dict[str, Any]], ece: Any) -> str:
    size, pad = 260, 30
    bars = []
    for b in curve:
        if not b.get("count"):
            continue
        x = pad + b["bin_lower"] * size
        width = (b["bin_upper"] - b["bin_lower"]) * size - 1
        height = b["accuracy"] * size
        bars.append(
            f"<rect x='{x:.1f}' y='{pad + size - height:.1f}' width='{width:.1f}' height='{height:.1f}' "
            f"fill='#4a74d9' opacity='.75'><title>conf {b['mean_confidence']:.2f}: acc {b['accuracy']:.2f} "
            f"(n={b['count']})</title></rect>"
        )
    diagonal = f"<line x1='{pad}' y1='{pad + size}' x2='{pad + size}' y2='{pad}' stroke='#999' stroke-dasharray='4'/>"
    axes = (
        f"<text x='{pad + size / 2}' y='{pad + size + 24}' font-size='11' text-anchor='middle'>confidence</text>"
        f"<text x='8' y='{pad + size / 2}' font-size='11' transform='rotate(-90 8 {pad + size / 2})'>accuracy</text>"
    )
    return (
        f"<h2>Reliability diagram (ECE {_fmt(ece)})</h2><svg width='{size + 2 * pad}' height='{size + 2 * pad}' "
        f"xmlns='http://www.w3.org/2000/svg'><rect x='{pad}' y='{pad}' width='{size}' height='{size}' fill='none' "
        f"stroke='#ccd'/>{diagonal}{''.join(bars)}{axes}</svg>"
    )


def _slices(results: dict[str, Any], reasons: dict[str, str], decision: dict[str, Any]) -> str:
    table = results.get("slices")
    if not table:
        return ""
    needs = {
        r["slice"]: need_text(r.get("need_n"))
        for r in decision.get("checks", [])
        if r.get("slice") and r.get("outcome") == "inconclusive"
    }
    rows, classes = [], []
    for r in sorted(table["rows"], key=lambda r: (r.get("delta") is None, r.get("delta") or 0)):
        rows.append(
            [
                escape(r["slice"]),
                str(r["n"]),
                _fmt(r["candidate"]),
                _fmt(r.get("champion")),
                _fmt(r.get("delta")),
                markdown._ci(r.get("ci_low"), r.get("ci_high")),
                _fmt(r.get("p_value"), 3),
                ("insufficient data" if r["insufficient_data"] else reasons.get(r["slice"], ""))
                + (f"; {escape(needs[r['slice']])}" if r["slice"] in needs else ""),
            ]
        )
        classes.append(reasons.get(r["slice"], ""))
    return f"<h2>Slices ({escape(table['metric'])}, sorted by delta)</h2>" + _table(
        ["slice", "n", "candidate", "champion", "delta", "95% CI", "p", "flag"], rows, classes
    )


def _scatter(results: dict[str, Any]) -> str:
    corr = results.get("correlation") or {}
    pairs = corr.get("pairs") or []
    if not pairs:
        return "<h2>Offline-online correlation</h2><p class='muted'>No promoted version has both metrics yet.</p>"
    xs, ys = [p["offline"] for p in pairs], [p["online"] for p in pairs]
    lo_x, hi_x, lo_y, hi_y = min(xs), max(xs), min(ys), max(ys)
    span = lambda lo, hi: (hi - lo) or 1.0  # noqa: E731
    dots = "".join(
        f"<circle cx='{30 + (x - lo_x) / span(lo_x, hi_x) * 240:.1f}' cy='{270 - (y - lo_y) / span(lo_y, hi_y) * 240:.1f}'"
        f" r='5' fill='#d9534f'><title>v{p['version']}: offline {x:.4f}, online {y:.4f}</title></circle>"
        for p, x, y in zip(pairs, xs, ys, strict=True)
    )
    return (
        f"<h2>Offline-online correlation (Pearson {_fmt(corr.get('pearson'), 3)}, Spearman "
        f"{_fmt(corr.get('spearman'), 3)}, n={corr.get('n')})</h2><svg width='300' height='300' "
        f"xmlns='http://www.w3.org/2000/svg'><rect x='30' y='30' width='240' height='240' fill='none' "
        f"stroke='#ccd'/>{dots}</svg>"
    )


def _flagged(decision: dict[str, Any]) -> dict[str, str]:
    """Row class per slice: hard or soft where it failed, undecided where it is inconclusive."""
    return {
        r["slice"]: r["severity"]
        for r in decision.get("hard_failures", []) + decision.get("soft_flags", [])
        if r.get("slice")
    } | {r["slice"]: "undecided" for r in decision.get("inconclusive", []) if r.get("slice")}


def _decision(decision: dict[str, Any]) -> list[str]:
    return [
        _reasons("Hard failures", decision.get("hard_failures", []), "hard"),
        _reasons("Soft flags", decision.get("soft_flags", []), "soft"),
        _reasons(
            "Inconclusive: the evidence cannot decide these yet",
            decision.get("inconclusive", []),
            "undecided",
        ),
    ]


def render(report: dict[str, Any]) -> str:
    ev, decision, results = report["evaluation"], report.get("decision") or {}, report.get("results") or {}
    verdict = decision.get("verdict", ev["status"])
    golden = results.get("golden") or {}
    cand_report = golden.get("candidate") or {}
    labels = list(cand_report.get("per_class", {}))
    md_tables = markdown._golden(results) if results else []
    per_class = [
        [escape(label), _fmt(v["precision"]), _fmt(v["recall"]), _fmt(v["f1"]), str(v["support"])]
        for label, v in cand_report.get("per_class", {}).items()
    ]
    body = [
        f"<h1>Gatekeeper evaluation: {escape(ev['target'])} v{report['candidate']['version']}</h1>",
        f"<div class='banner {escape(verdict)}'>{escape(verdict.upper())}: {escape(decision.get('summary', ''))}</div>",
        f"<p class='muted'>evaluation <code>{escape(ev['id'])}</code> · policy v{ev['policy_version']} · evalset "
        f"{escape(str(report['evalset']['dir']))} {escape(str(report['evalset']['version']))} · canary plan "
        f"{'extended' if decision.get('extended_canary') else 'standard'} ({escape(decision.get('extended_reason', ''))})"
        "</p>",
        *_decision(decision),
        "<h2>Golden</h2><pre>" + escape("\n".join(md_tables[3:])) + "</pre>" if md_tables else "",
        "<h2>Per class (candidate, golden)</h2>"
        + _table(["class", "precision", "recall", "f1", "support"], per_class)
        if per_class
        else "",
        _confusion(cand_report, labels),
        _reliability_svg(cand_report.get("reliability") or [], cand_report.get("ece"))
        if cand_report.get("reliability")
        else "",
        _slices(results, _flagged(decision), decision),
        "<h2>Adversarial, replay</h2><pre>"
        + escape("\n".join(markdown._adversarial(results) + markdown._replay(results)))
        + "</pre>",
        _scatter(results),
    ]
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Gatekeeper {escape(ev['id'])}</title>"
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )
