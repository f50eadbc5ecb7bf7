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
