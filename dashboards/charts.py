"""Altair charts built from the frames in ``dashboards.data`` (no Streamlit here, so they are testable)."""

from __future__ import annotations

import altair as alt
import pandas as pd

PASS, FAIL, SOFT, NEUTRAL = "#0a7a35", "#b3261e", "#c98a00", "#4c6ef5"


def delta_chart(comparisons: pd.DataFrame) -> alt.LayerChart | None:
    """Candidate minus champion per golden metric, with the paired 95% CI as an error bar."""
    frame = comparisons.dropna(subset=["delta"])
    if frame.empty:
        return None
    base = alt.Chart(frame).encode(
        y=alt.Y("metric:N", sort=None, title=None, axis=alt.Axis(labelLimit=240, labelOverlap=False))
    )
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("ci low:Q", title="delta vs champion (95% CI)"), x2="ci high:Q"
    )
    points = base.mark_point(filled=True, size=70).encode(
        x="delta:Q",
        color=alt.condition(alt.datum.delta < 0, alt.value(FAIL), alt.value(PASS)),
        tooltip=["metric", "candidate", "champion", "delta", "ci low", "ci high", "p"],
    )
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 4], color="grey").encode(x="x:Q")
    return (bars + points + zero).properties(height=alt.Step(30))


def confusion_heatmap(confusion: pd.DataFrame) -> alt.LayerChart:
    """Rows are true labels; colour is the share of the true row so rare classes stay visible."""
    order = list(dict.fromkeys(confusion["true"]))
    base = alt.Chart(confusion).encode(
        x=alt.X("predicted:N", sort=order, title="predicted"),
        y=alt.Y("true:N", sort=order, title="true"),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="share of row"),
        tooltip=["true", "predicted", "count", alt.Tooltip("share:Q", format=".1%")],
    )
    text = base.mark_text(fontSize=11).encode(
        text="count:Q",
        color=alt.condition(alt.datum.share > 0.5, alt.value("white"), alt.value("black")),
    )
    return (cells + text).properties(height=36 * max(len(order), 1) + 40)


def reliability_chart(bins: pd.DataFrame, ece: float | None) -> alt.LayerChart:
    """Accuracy against mean confidence per bin; the diagonal is perfect calibration."""
    diagonal = (
        alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]}))
        .mark_line(strokeDash=[4, 4], color="grey")
        .encode(x="x:Q", y="y:Q")
    )
    curve = (
        alt.Chart(bins)
        .mark_line(point=True, color=NEUTRAL)
        .encode(
            x=alt.X("mean confidence:Q", scale=alt.Scale(domain=[0, 1]), title="mean confidence"),
            y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), title="accuracy"),
            tooltip=["bin", "mean confidence", "accuracy", "count"],
        )
    )
    sizes = (
        alt.Chart(bins)
        .mark_circle(color=NEUTRAL, opacity=0.25)
        .encode(x="mean confidence:Q", y="accuracy:Q", size=alt.Size("count:Q", title="examples"))
    )
    title = "Reliability diagram" + (f" (ECE {ece:.4f})" if ece is not None else "")
    return (diagonal + sizes + curve).properties(title=title, height=320)


def slice_delta_chart(slices: pd.DataFrame, top: int = 25) -> alt.LayerChart | None:
    """The worst judged slices by delta with their CIs, coloured by the decision's flag."""
    frame = slices[(slices["support"] == "judged") & slices["delta"].notna()].head(top)
    if frame.empty:
        return None
    frame = frame.assign(flag=frame["flag"].replace("", "none"))
    base = alt.Chart(frame).encode(
        y=alt.Y("slice:N", sort=None, title=None, axis=alt.Axis(labelLimit=320, labelOverlap=False))
    )
    rule = base.mark_rule().encode(x=alt.X("ci low:Q", title="delta vs champion (95% CI)"), x2="ci high:Q")
    point = base.mark_point(filled=True, size=60).encode(
        x="delta:Q",
        color=alt.Color(
            "flag:N",
            scale=alt.Scale(domain=["hard", "soft", "none"], range=[FAIL, SOFT, NEUTRAL]),
            title="flag",
        ),
        tooltip=["slice", "n", "candidate", "champion", "delta", "p", "support"],
    )
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 4], color="grey").encode(x="x:Q")
    return (rule + point + zero).properties(height=alt.Step(22), title=f"{len(frame)} worst judged slices")


def adversarial_chart(by_type: pd.DataFrame) -> alt.Chart:
    """Error per perturbation type, candidate beside champion."""
    long = by_type.melt(
        id_vars=["perturbation", "n"],
        value_vars=["candidate error", "champion error"],
        var_name="model",
        value_name="error",
    ).dropna(subset=["error"])
    long["model"] = long["model"].str.replace(" error", "", regex=False)
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y("perturbation:N", sort=None, title=None),
            yOffset="model:N",
            x=alt.X("error:Q", title="error rate"),
            color=alt.Color("model:N", scale=alt.Scale(range=[NEUTRAL, "#9aa3b5"])),
            tooltip=["perturbation", "model", alt.Tooltip("error:Q", format=".3f"), "n"],
        )
        .properties(height=max(160, 40 * by_type.shape[0]))
    )


def _padded(values: pd.Series) -> list[float]:
    """An axis domain around the points with some margin (one point alone would collapse the axis)."""
    low, high = float(values.min()), float(values.max())
    margin = max(0.1 * (high - low), 0.05 * max(abs(low), abs(high)), 0.01)
    return [low - margin, high + margin]


def correlation_chart(pairs: pd.DataFrame, offline: str, online: str) -> alt.LayerChart:
    """Offline primary metric against the 28-day online metric over past promotions."""
    base = alt.Chart(pairs).encode(
        x=alt.X("offline:Q", scale=alt.Scale(domain=_padded(pairs["offline"])), title=f"offline {offline}"),
        y=alt.Y("online:Q", scale=alt.Scale(domain=_padded(pairs["online"])), title=f"online {online}"),
    )
    points = base.mark_circle(size=90, color=NEUTRAL).encode(
        tooltip=["version", "offline", "online", "promoted"]
    )
    labels = base.mark_text(dx=14, dy=-8).encode(text="version:N")
    layers = points + labels
    if len(pairs) >= 2:
        layers = layers + base.transform_regression("offline", "online").mark_line(
            color="grey", strokeDash=[4, 4]
        )
    return layers.properties(height=300)


def epoch_chart(epochs: pd.DataFrame, metrics: list[str], title: str) -> alt.Chart:
    frame = epochs[epochs["metric"].isin(metrics)]
    return (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:O", title="epoch"),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            color=alt.Color("metric:N", title=None),
            tooltip=["epoch", "metric", alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(title=title, height=260)
    )


def routing_chart(routes: pd.DataFrame) -> alt.Chart:
    """Traffic share per served version (weights sum to 1)."""
    return (
        alt.Chart(routes)
        .mark_bar()
        .encode(
            y=alt.Y("version:N", title=None),
            x=alt.X("weight:Q", scale=alt.Scale(domain=[0, 1]), title="traffic share"),
            color=alt.Color("role:N", scale=alt.Scale(domain=["champion", "canary", "shadow"])),
            tooltip=["version", "role", "weight"],
        )
        .properties(height=alt.Step(28))
    )


# --- canary console ------------------------------------------------------------------------------

CANARY, HOLDOUT, BASELINE = NEUTRAL, "#8a94a6", "#343a40"
SERIES = {
    "canary": CANARY,
    "holdout": HOLDOUT,
    "baseline": BASELINE,
    "threshold": FAIL,
    "trigger threshold": FAIL,
}


def _series_scale(present: list[str]) -> alt.Scale:
    """Only the series a chart draws get a legend entry, always in the same colours."""
    names = [name for name in SERIES if name in present]
    return alt.Scale(domain=names, range=[SERIES[n] for n in names])


def _time_format(values: pd.Series) -> str:
    """Hours for a day or so, dates and hours for a week or so, dates beyond (labels never collide)."""
    stamps = pd.to_datetime(values.dropna(), utc=True)
    span = (stamps.max() - stamps.min()) if len(stamps) else pd.Timedelta(0)
    if span <= pd.Timedelta(hours=36):
        return "%H:%M"
    return "%m-%d %H:%M" if span <= pd.Timedelta(days=4) else "%m-%d"


def _time(field: str = "start", values: pd.Series | None = None) -> alt.X:
    fmt = _time_format(values) if values is not None else "%m-%d %H:%M"
    axis = alt.Axis(format=fmt, labelAngle=0, labelOverlap=True, tickCount=6, title=None)
    return alt.X(f"{field}:T", scale=alt.Scale(type="utc"), axis=axis)


def _canary_long(
    frame: pd.DataFrame, canary: str, holdout: str, threshold: str, baseline: pd.DataFrame | None
) -> pd.DataFrame:
    """One row per window and series, so that one line mark draws them all with one legend."""
    long = pd.concat(
        [
            pd.DataFrame({"start": frame["start"], "series": name, "value": frame[column]})
            for name, column in (("canary", canary), ("holdout", holdout), ("threshold", threshold))
        ],
        ignore_index=True,
    ).dropna(subset=["value"])
    if baseline is not None and not baseline.empty:
        long = pd.concat([long, baseline.assign(series="baseline")[["start", "series", "value"]]])
    return long


def _canary_lines(long: pd.DataFrame, x: alt.X, y: alt.Y, colours: alt.Scale, y_format: str) -> alt.Chart:
    """Canary, holdout and threshold as step lines (the threshold dashed); the baseline is drawn as points."""
    return (
        alt.Chart(long)
        .mark_line(strokeWidth=1.4, interpolate="step-after")
        .encode(
            x=x,
            y=y,
            color=alt.Color("series:N", scale=colours, title=None),
            strokeDash=alt.condition(alt.datum.series == "threshold", alt.value([5, 3]), alt.value([1, 0])),
            tooltip=[
                alt.Tooltip("start:T", format="%Y-%m-%d %H:%M", title="window (UTC)"),
                "series:N",
                alt.Tooltip("value:Q", format=y_format),
            ],
        )
        .transform_filter(alt.datum.series != "baseline")
    )


def _fired_spans(spans: pd.DataFrame) -> alt.Chart:
    """The windows where a rule fired, shaded."""
    return (
        alt.Chart(spans)
        .mark_rect(color=FAIL, opacity=0.18)
        .encode(
            x=alt.X("from:T", scale=alt.Scale(type="utc")), x2="to:T", tooltip=["rule:N", "from:T", "to:T"]
        )
    )


def _allowed_band(frame: pd.DataFrame, threshold: str, holdout: str, x: alt.X) -> alt.Chart:
    """The allowed region between the threshold and the holdout (the safety rule)."""
    return (
        alt.Chart(frame.dropna(subset=[threshold, holdout]))
        .mark_area(color=HOLDOUT, opacity=0.15, interpolate="step-after")
        .encode(x=x, y=alt.Y(f"{threshold}:Q"), y2=f"{holdout}:Q")
    )


def _baseline_points(long: pd.DataFrame, x: alt.X, y: alt.Y, colours: alt.Scale) -> alt.Chart:
    """The baseline series, drawn as points over the lines."""
    return (
        alt.Chart(long[long["series"] == "baseline"])
        .mark_point(filled=True, size=22)
        .encode(x=x, y=y, color=alt.Color("series:N", scale=colours, title=None))
    )


def _exact_thresholds(
    points: pd.DataFrame, exact: str, x: alt.X, colours: alt.Scale, y_format: str
) -> alt.Chart:
    """The per-window thresholds the trigger recorded, as triangles."""
    return (
        alt.Chart(points.assign(series="trigger threshold"))
        .mark_point(shape="triangle-up", filled=True, size=45)
        .encode(
            x=x,
            y=alt.Y(f"{exact}:Q"),
            color=alt.Color("series:N", scale=colours, title=None),
            tooltip=[alt.Tooltip("start:T", format="%H:%M"), alt.Tooltip(f"{exact}:Q", format=y_format)],
        )
    )


def canary_metric_chart(
    frame: pd.DataFrame,
    *,
    canary: str,
    holdout: str,
    threshold: str,
    title: str,
    y_title: str,
    y_format: str,
    spans: pd.DataFrame,
    baseline: pd.DataFrame | None = None,
    band: bool = False,
    exact: str | None = None,
) -> alt.LayerChart:
    """Canary vs holdout per window with the rule's threshold; the windows that fired are shaded.

    ``band`` shades the allowed region between the threshold and the holdout (the safety rule);
    ``exact`` names a column of per-window thresholds the trigger recorded, drawn as points.
    """
    long = _canary_long(frame, canary, holdout, threshold, baseline)
    exact_points = frame.dropna(subset=[exact]) if exact and exact in frame.columns else frame.iloc[:0]
    colours = _series_scale(
        list(long["series"].unique()) + (["trigger threshold"] if not exact_points.empty else [])
    )
    y = alt.Y("value:Q", title=y_title, axis=alt.Axis(format=y_format), scale=alt.Scale(zero=False))
    x = _time("start", long["start"])
    layers: list[alt.Chart] = [_fired_spans(spans)] if not spans.empty else []
    if band:
        layers.append(_allowed_band(frame, threshold, holdout, x))
    layers.append(_canary_lines(long, x, y, colours, y_format))
    if baseline is not None and not baseline.empty:
        layers.append(_baseline_points(long, x, y, colours))
    if not exact_points.empty and exact:
        layers.append(_exact_thresholds(exact_points, exact, x, colours, y_format))
    return alt.layer(*layers).properties(title=title, height=230)


STAGE_COLOURS = alt.Scale(
    domain=["done", "current", "paused (aborted)", "failed", "passed", "planned", "not reached"],
    range=[PASS, NEUTRAL, FAIL, "#6c757d", PASS, "#ced4da", "#e9ecef"],
)


def stage_timeline_chart(stages: pd.DataFrame, marks: pd.DataFrame) -> alt.LayerChart:
    """The plan as a Gantt: one bar per stage (share and days), current stage outlined, marks as rules."""
    y = alt.Y("label:N", sort=list(stages["label"]), title=None, axis=alt.Axis(labelLimit=200))
    bars = (
        alt.Chart(stages)
        .mark_bar(cornerRadius=3, height=18)
        .encode(
            x=alt.X("start:T", scale=alt.Scale(type="utc"), axis=alt.Axis(format="%m-%d", title=None)),
            x2="end:T",
            y=y,
            color=alt.Color("status:N", scale=STAGE_COLOURS, title="stage"),
            stroke=alt.condition(alt.datum.current, alt.value("#111111"), alt.value(None)),
            strokeWidth=alt.condition(alt.datum.current, alt.value(2), alt.value(0)),
            tooltip=[
                "stage",
                alt.Tooltip("share:Q", format=".0%"),
                "days",
                alt.Tooltip("start:T", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("end:T", format="%Y-%m-%d %H:%M"),
                "status",
            ],
        )
    )
    rules = (
        alt.Chart(marks)
        .mark_rule(strokeDash=[4, 3])
        .encode(
            x="at:T",
            color=alt.Color(
                "mark:N",
                scale=alt.Scale(
                    domain=["started", "aborted", "failed", "passed", "finished", "now"],
                    range=["#495057", FAIL, "#343a40", PASS, "#343a40", SOFT],
                ),
                title="mark",
            ),
            tooltip=["mark", alt.Tooltip("at:T", format="%Y-%m-%d %H:%M")],
        )
    )
    return (bars + rules).properties(height=alt.Step(30)).resolve_scale(color="independent")


# --- drift ---------------------------------------------------------------------------------------


def _threshold_rule(value: float, label: str) -> alt.LayerChart:
    frame = pd.DataFrame({"y": [value], "label": [label]})
    rule = alt.Chart(frame).mark_rule(color=FAIL, strokeDash=[6, 3]).encode(y="y:Q")
    text = (
        alt.Chart(frame)
        .mark_text(align="left", dx=4, dy=-6, color=FAIL, fontSize=11)
        .encode(y="y:Q", x=alt.value(0), text="label:N")
    )
    return rule + text


def psi_chart(frame: pd.DataFrame, threshold: float) -> alt.LayerChart:
    """PSI per feature per window (thin) and the max PSI (bold), against the PSI threshold; windows too
    small to count are drawn faint."""
    x = _time("window_start", frame["window_start"])
    features = frame[frame["feature"] != "max"]
    top = frame[frame["feature"] == "max"]
    tooltip = [
        alt.Tooltip("window_start:T", format="%Y-%m-%d %H:%M", title="window (UTC)"),
        "feature:N",
        alt.Tooltip("psi:Q", format=".3f"),
        "n:Q",
    ]
    lines = (
        alt.Chart(features)
        .mark_line(strokeWidth=1, opacity=0.7)
        .encode(
            x=x, y=alt.Y("psi:Q", title="PSI"), color=alt.Color("feature:N", title="feature"), tooltip=tooltip
        )
    )
    worst = (
        alt.Chart(top)
        .mark_line(color="#111111", strokeWidth=2.2, point=alt.OverlayMarkDef(size=14))
        .encode(
            x=x,
            y="psi:Q",
            opacity=alt.condition(alt.datum.counts, alt.value(1.0), alt.value(0.3)),
            tooltip=tooltip,
        )
    )
    return (lines + worst + _threshold_rule(threshold, f"PSI {threshold:g}")).properties(
        title="Input drift: PSI per feature, max PSI in black", height=260
    )


KL_LEVELS = alt.Scale(domain=["ok", "monitor", "alert", "retrain"], range=[PASS, SOFT, "#e8590c", FAIL])


def _level_bands(bands: pd.DataFrame) -> alt.Chart:
    """The KL level bands (ok, monitor, alert, retrain) behind the line."""
    return (
        alt.Chart(bands)
        .mark_rect(opacity=0.14)
        .encode(y="from:Q", y2="to:Q", color=alt.Color("level:N", scale=KL_LEVELS, title="KL level"))
    )


def threshold_chart(
    frame: pd.DataFrame,
    value: str,
    threshold: float,
    *,
    title: str,
    y_title: str,
    log: bool = False,
    bands: pd.DataFrame | None = None,
    y_format: str = ".3f",
) -> alt.LayerChart:
    """One statistic per window against its threshold (and optional level bands)."""
    data = frame.dropna(subset=[value])
    x = _time("window_start", data["window_start"])
    scale = alt.Scale(type="log") if log else alt.Scale(zero=True)
    layers: list[alt.Chart] = [_level_bands(bands)] if bands is not None else []
    layers.append(
        alt.Chart(data)
        .mark_line(color=NEUTRAL, point=alt.OverlayMarkDef(size=18, color=NEUTRAL))
        .encode(
            x=x,
            y=alt.Y(f"{value}:Q", title=y_title, scale=scale, axis=alt.Axis(format=y_format)),
            opacity=alt.condition(alt.datum.counts, alt.value(1.0), alt.value(0.3)),
            tooltip=[
                alt.Tooltip("window_start:T", format="%Y-%m-%d %H:%M", title="window (UTC)"),
                alt.Tooltip(f"{value}:Q", format=y_format),
                "n:Q",
                "counts:N",
            ],
        )
    )
    layers.append(_threshold_rule(threshold, f"{threshold:g}"))
    return alt.layer(*layers).properties(title=title, height=220)


# --- ranking and generation ----------------------------------------------------------------------


def distribution_chart(counts: pd.DataFrame, metric: str) -> alt.Chart:
    """Per-example values of candidate and champion as side-by-side histograms (``task_data.histogram``)."""
    order = list(dict.fromkeys(counts["bin"]))
    return (
        alt.Chart(counts)
        .mark_bar()
        .encode(
            x=alt.X("bin:O", sort=order, title=f"{metric} per query", axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("model:N", sort=["candidate", "champion"]),
            y=alt.Y("count:Q", title="queries"),
            color=alt.Color(
                "model:N", scale=alt.Scale(domain=["candidate", "champion"], range=[NEUTRAL, "#9aa3b5"])
            ),
            tooltip=["bin:O", "model:N", "count:Q"],
        )
        .properties(title=f"Distribution of {metric} over the golden queries", height=240)
    )


def interval_chart(frame: pd.DataFrame, label: str, value: str, title: str) -> alt.LayerChart:
    """Point estimates with their interval, one row each."""
    data = frame.dropna(subset=[value])
    base = alt.Chart(data).encode(y=alt.Y(f"{label}:N", sort=None, title=None, axis=alt.Axis(labelLimit=240)))
    rule = base.mark_rule(strokeWidth=2).encode(x=alt.X("ci low:Q", title=title), x2="ci high:Q")
    point = base.mark_point(filled=True, size=80, color=NEUTRAL).encode(
        x=f"{value}:Q", tooltip=[label, alt.Tooltip(f"{value}:Q", format=".4f"), "ci low", "ci high"]
    )
    return (rule + point).properties(height=alt.Step(36))
