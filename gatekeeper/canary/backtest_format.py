"""A backtest report (the JSON of ``backtest.compare``) as text: ``table`` (terminal), ``md``, ``json`` or
``html`` (the tables plus inline SVG bar charts: no plotting dependency, no script). Pure."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

FORMATS = ("table", "json", "md", "html")
STREAMS_SHOWN = 50  # per policy in the text formats; --format json has every stream


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def _ci(pair: Sequence[float | None]) -> str:
    return f"[{_num(pair[0])}, {_num(pair[1])}]"


def healthy_rows(result: dict[str, Any]) -> list[list[str]]:
    """One row per policy and view: false aborts on healthy streams."""
    rows = []
    for p in result["policies"]:
        for view, s in p["summary"]["healthy"].items():
            rows.append([
                p["name"], view, str(s["streams"]), str(s["aborted"]), f"{s['canary_weeks']:.1f}",
                _num(s["false_aborts_per_week"]), _ci(s["per_week_ci"]), _num(s["aborted_share"]),
            ])  # fmt: skip
    return rows


def detection_rows(result: dict[str, Any]) -> list[list[str]]:
    """One row per regression size, policy and view: detection rate and delay."""
    rows = []
    labels = sorted({label for p in result["policies"] for label in p["summary"]["regressions"]})
    for label in labels:
        for p in result["policies"]:
            for view, s in p["summary"]["regressions"].get(label, {}).items():
                rows.append([
                    label, p["name"], view, str(s["streams"]), _num(s["detection_rate"]),
                    _num(s["delay_median_minutes"], 4), _num(s["delay_p90_minutes"], 4),
                    str(s["aborted_before_regression"]),
                ])  # fmt: skip
    return rows


def stream_rows(result: dict[str, Any], limit: int = STREAMS_SHOWN) -> list[list[str]]:
    """The first trigger of each stream that aborted (the first ``limit`` per policy)."""
    rows = []
    for p in result["policies"]:
        fired = [s for s in p["streams"] if s["aborted"]]
        for s in fired[:limit]:
            rule = s["rule"] + (f":{s['metric']}" if s["metric"] else "")
            rows.append([p["name"], s["stream"], s["regression"] or "healthy", rule, s["fired_at"]])
        if len(fired) > limit:
            rows.append([p["name"], f"... {len(fired) - limit} more (--format json)", "", "", ""])
    return rows


HEADERS = {
    "healthy": ["policy", "view", "streams", "aborted", "canary-weeks", "aborts/week", "95% CI", "share"],
    "detection": ["regression", "policy", "view", "streams", "detected", "median min", "p90 min", "early"],
    "streams": ["policy", "stream", "regression", "first trigger", "at"],
}
TITLES = {
    "healthy": "False aborts on healthy streams",
    "detection": "Detection of injected regressions (delay after the regression began)",
    "streams": "First trigger of each aborted stream",
}


def sections(result: dict[str, Any]) -> list[tuple[str, list[list[str]]]]:
    """The report's tables, each under its key in ``HEADERS``."""
    found = [("healthy", healthy_rows(result)), ("detection", detection_rows(result))]
    return [*found, ("streams", stream_rows(result))]


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _footer(result: dict[str, Any]) -> str:
    return f"{result.get('streams', 0)} streams in {result.get('elapsed_seconds', 0):.1f} s"


def render(result: dict[str, Any], fmt: str) -> str:
    """The report in one of ``FORMATS``."""
    if fmt == "json":
        return json.dumps(result, indent=2)
    if fmt == "html":
        return render_html(result)
    table, heading = (md_table, "## ") if fmt == "md" else (text_table, "")
    parts = [
        f"{heading}{TITLES[key]}\n\n{table(HEADERS[key], rows)}" for key, rows in sections(result) if rows
    ]
    return "\n\n".join([*parts, _footer(result)]) + "\n"


def _bars(title: str, bars: Sequence[tuple[str, float | None]], unit: str) -> str:
    """A horizontal bar chart as inline SVG (a missing value draws no bar)."""
    top = max([v for _, v in bars if v is not None] + [1e-12])
    rows = []
    for i, (label, value) in enumerate(bars):
        y, width = 24 + 20 * i, 0 if value is None else 300 * value / top
        rows.append(
            f'<text x="0" y="{y + 12}" font-size="11">{html.escape(label)}</text>'
            f'<rect x="260" y="{y}" width="{width:.1f}" height="14" fill="#4c78a8"/>'
            f'<text x="{265 + width:.1f}" y="{y + 12}" font-size="11">{_num(value)} {unit}</text>'
        )
    height = 34 + 20 * len(bars)
    head = f'<text x="0" y="14" font-size="13" font-weight="bold">{html.escape(title)}</text>'
    return (
        f'<svg width="720" height="{height}" xmlns="http://www.w3.org/2000/svg">{head}{"".join(rows)}</svg>'
    )


def charts(result: dict[str, Any]) -> list[str]:
    """False aborts per week per policy and view, then median delay per regression size."""
    out = []
    healthy = [(f"{p['name']} / {v}", s["false_aborts_per_week"]) for p in result["policies"]
               for v, s in p["summary"]["healthy"].items()]  # fmt: skip
    if healthy:
        out.append(_bars("False aborts per canary-week (healthy streams)", healthy, "/week"))
    labels = sorted({label for p in result["policies"] for label in p["summary"]["regressions"]})
    for label in labels:
        bars = [(f"{p['name']} / {v}", s["delay_median_minutes"]) for p in result["policies"]
                for v, s in p["summary"]["regressions"].get(label, {}).items()]  # fmt: skip
        out.append(_bars(f"Median detection delay, {label}", bars, "min"))
    return out


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(result: dict[str, Any]) -> str:
    """A self-contained page: the charts, then the tables."""
    tables = [f"<h2>{TITLES[k]}</h2>{_html_table(HEADERS[k], rows)}" for k, rows in sections(result) if rows]
    style = "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font:12px sans-serif}"
    body = "".join(charts(result)) + "".join(tables) + f"<p>{html.escape(_footer(result))}</p>"
    head = f"<head><meta charset='utf-8'><title>Backtest</title><style>{style}</style></head>"
    return f"<!doctype html><html>{head}<body><h1>Canary rules backtest</h1>{body}</body></html>\n"
