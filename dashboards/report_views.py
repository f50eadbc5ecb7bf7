"""The evaluation report as Streamlit sections. What every task shares (decision, golden comparisons,
slices, correlation, examples) is rendered generically; task-specific views of a mode live in
``TASK_VIEWS`` so ranking and generation add functions, not a branch in every section."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import streamlit as st

from dashboards import charts, common, data
from dashboards.common import fmt

Results = Mapping[str, Any]
NUM = st.column_config.NumberColumn(format="%.4f")
P_VALUE = st.column_config.NumberColumn("p", format="%.3f")


def header(
    ev: Mapping[str, Any], candidate: Mapping[str, Any] | None, champion: Mapping[str, Any] | None
) -> None:
    cols = st.columns(4)
    cols[0].metric("Candidate", f"v{candidate['version']}" if candidate else str(ev["candidate_id"])[:8])
    cols[1].metric("Champion", f"v{champion['version']}" if champion else "none (first model)")
    cols[2].metric("Status", ev["status"])
    cols[3].metric("Evalset", ev.get("manifest_version") or "n/a")
    timings = ev.get("timings") or {}
    st.caption(
        f"{ev['target']} · evaluation `{ev['id']}` · {ev['mode']} mode · policy v{ev['policy_version']} · "
        "requested by "
        f"{ev['requested_by']} at {ev['created_at']}"
        + (f" · finished {ev['finished_at']}" if ev.get("finished_at") else "")
        + (f" · total {timings['total_s']:.1f} s" if isinstance(timings.get("total_s"), int | float) else "")
    )


def pending(ev: Mapping[str, Any]) -> None:
    """Queued or running: what the worker last reported, and a way to look again."""
    progress = ev.get("progress") or {}
    stage = progress.get("stage") or ev["status"]
    st.info(
        f"Evaluation is **{ev['status']}**" + (f": {stage}" if stage != ev["status"] else ""),
        icon=":material/hourglass_top:",
    )
    fraction = data.progress_fraction(progress)
    if fraction is not None:
        st.progress(fraction, text=f"{progress['done']} / {progress['total']}")
    if progress.get("at"):
        st.caption(f"last progress report at {progress['at']}")
    if st.button("Refresh", key="ev_refresh"):
        common.clear_cache()
        st.rerun()


def errored(ev: Mapping[str, Any]) -> None:
    st.error(f"Evaluation failed with an error (the candidate was handed back):\n\n{ev.get('error')}")


def _reason_lines(title: str, reasons: list[Mapping[str, Any]], box: Callable[..., Any]) -> None:
    if not reasons:
        return
    lines = []
    for r in reasons:
        figures = [f"value {fmt(r.get('value'))}"]
        if r.get("baseline") is not None:
            figures.append(f"champion {fmt(r.get('baseline'))}")
        if r.get("threshold") is not None:
            figures.append(f"threshold {fmt(r.get('threshold'))}")
        if r.get("ci"):
            figures.append(f"95% CI {data._ci_text(r['ci'])}")
        if r.get("p_value") is not None:
            figures.append(f"p={r['p_value']:.3f}")
        if r.get("significant") is not None:
            figures.append("significant" if r["significant"] else "not significant")
        where = f" [{r['slice']}]" if r.get("slice") else ""
        lines.append(f"- **{r['check']}**{where}: {r['message']}  \n  _{' · '.join(figures)}_")
    box(f"**{title}**\n\n" + "\n".join(lines))


def decision(dec: Mapping[str, Any] | None) -> None:
    """The verdict first, then every hard failure and soft flag in plain words with its figures."""
    if not dec:
        st.warning("No decision recorded for this evaluation.")
        return
    verdict = str(dec.get("verdict", "")).upper()
    summary = dec.get("summary") or verdict
    if dec.get("verdict") == "pass":
        st.success(f"### Gate {verdict}\n{summary}", icon=":material/check_circle:")
    else:
        st.error(f"### Gate {verdict}\n{summary}", icon=":material/block:")
    if dec.get("extended_canary") is not None:
        st.caption(
            ("Next canary **extended**: " if dec["extended_canary"] else "Standard canary: ")
            + str(dec.get("extended_reason") or "")
        )
    _reason_lines(
        f"Hard failures ({len(dec.get('hard_failures') or [])})", dec.get("hard_failures") or [], st.error
    )
    _reason_lines(f"Soft flags ({len(dec.get('soft_flags') or [])})", dec.get("soft_flags") or [], st.warning)
    with st.expander(f"All {len(dec.get('checks') or [])} checks"):
        common.table(
            data.reasons_table(dec.get("checks") or []),
            hide_index=True,
            column_config={"value": NUM, "champion": NUM, "threshold": NUM, "p": P_VALUE},
            key="ev_checks",
        )


def downloads(api: data.Reader, evaluation_id: str) -> None:
    cols = st.columns(len(data.REPORT_FORMATS))
    for col, (fmt_name, mime) in zip(cols, data.REPORT_FORMATS.items(), strict=True):
        with col:
            text = common.load(data.report, api, evaluation_id, fmt_name, action=f"{fmt_name} report")
            if text is not None:
                st.download_button(
                    f"Download {fmt_name.upper()} report",
                    text,
                    file_name=f"evaluation-{evaluation_id}.{fmt_name}",
                    mime=mime,
                    key=f"ev_dl_{fmt_name}",
                )


# --- golden --------------------------------------------------------------------------------------


def golden_common(golden: Mapping[str, Any]) -> None:
    """Every task: the golden metrics with paired CIs and deltas (or the candidate's CI, first model)."""
    table = data.comparisons_table(golden)
    st.markdown(f"**Golden set** · {golden.get('n', 'n/a')} examples")
    common.table(
        table,
        hide_index=True,
        column_config={c: NUM for c in ("candidate", "champion", "delta", "ci low", "ci high")}
        | {"p": P_VALUE},
        key="ev_golden_table",
    )
    chart = charts.delta_chart(table)
    if chart is not None:
        st.altair_chart(chart, width="stretch")


def classification_golden(golden: Mapping[str, Any]) -> None:
    """Classification only: summary figures, per-class table, confusion matrix, reliability diagram."""
    cand = golden.get("candidate") or {}
    champ = golden.get("champion") or {}
    latency = golden.get("latency") or {}
    cols = st.columns(5)
    for col, (label, key) in zip(
        cols,
        [
            ("Accuracy", "accuracy"),
            ("Macro-F1", "macro_f1"),
            ("ECE", "ece"),
            ("Low-confidence rate", "low_confidence_rate"),
        ],
        strict=False,
    ):
        value, base = cand.get(key), champ.get(key)
        change = value - base if value is not None and base is not None else None
        colour = "inverse" if key in ("ece", "low_confidence_rate") else "normal"
        col.metric(
            label,
            fmt(value),
            None if change is None else f"{change:+.4f} vs champion",
            delta_color="off" if change == 0 else colour,
        )
    cols[4].metric(
        "Latency p95", f"{latency['p95_ms']:.2f} ms" if latency.get("p95_ms") is not None else "n/a"
    )
    st.markdown("**Per class** (candidate; champion F1 and recall beside it)")
    common.table(
        data.per_class_table(golden),
        hide_index=True,
        column_config={
            c: NUM for c in ("precision", "recall", "f1", "champion recall", "champion f1", "delta f1")
        },
        key="ev_per_class",
    )
    left, right = st.columns(2)
    with left:
        st.markdown("**Confusion matrix** (candidate, golden; rows are true labels)")
        confusion = data.confusion_frame(cand)
        if not confusion.empty:
            st.altair_chart(charts.confusion_heatmap(confusion), width="stretch")
    with right:
        bins = data.reliability_frame(cand)
        st.markdown(f"**Calibration** · ECE {fmt(cand.get('ece'))} (champion {fmt(champ.get('ece'))})")
        if not bins.empty:
            st.altair_chart(charts.reliability_chart(bins, cand.get("ece")), width="stretch")
        else:
            st.caption("no confidences: the reliability diagram needs probabilities")


# --- slices --------------------------------------------------------------------------------------


def _highlight(row: pd.Series) -> list[str]:
    colour = {"hard": "background-color: #fce8e6", "soft": "background-color: #fff4d6"}.get(row["flag"], "")
    return [colour] * len(row)


def slices(api: data.Reader, ev: Mapping[str, Any], results: Results) -> None:
    table = data.slice_frame(results["slices"], ev.get("decision"))
    n_flagged = int((table["flag"] != "").sum())
    st.markdown(
        f"**{len(table)} slices** of the holdout ({results['slices'].get('metric', 'accuracy')}), "
        "worst delta first; "
        f"{n_flagged} flagged by the decision; slices under {results['slices'].get('min_support')} examples "
        "are reported as insufficient data, not judged."
    )
    common.table(
        table.style.apply(_highlight, axis=1),
        hide_index=True,
        column_config={c: NUM for c in ("candidate", "champion", "delta", "ci low", "ci high")}
        | {"p": P_VALUE},
        key="ev_slices",
    )
    chart = charts.slice_delta_chart(table)
    if chart is not None:
        st.altair_chart(chart, width="stretch")
    st.markdown("**Drill down**: the holdout examples of one slice")
    key = st.selectbox("Slice", table["slice"].tolist(), key="ev_slice_pick")
    if key:
        query = data.ExampleQuery(role="holdout", slice=key, limit=100)
        found = common.load(data.examples, api, str(ev["id"]), query, action="slice examples")
        if found is not None:
            total, frame = found
            st.caption(f"{total} examples in {key}" + (" (first 100 shown)" if total > 100 else ""))
            common.table(frame, hide_index=True, key="ev_slice_examples")


# --- adversarial, replay, correlation ------------------------------------------------------------


def adversarial(adv: Mapping[str, Any]) -> None:
    by_type, flips = data.adversarial_frames(adv)
    overall = adv["overall"]
    cols = st.columns(3)
    cols[0].metric("Adversarial examples", overall["n"])
    cols[1].metric(
        "Candidate error",
        fmt(overall["candidate_error"]),
        f"{overall['delta_error']:+.4f} vs champion" if overall.get("delta_error") is not None else None,
        delta_color="inverse",
    )
    cols[2].metric("Candidate flip rate", fmt(overall["candidate_flip_rate"]))
    common.table(
        by_type,
        hide_index=True,
        column_config={
            c: NUM
            for c in (
                "candidate error",
                "champion error",
                "delta error",
                "ci low",
                "ci high",
                "candidate flip rate",
                "champion flip rate",
            )
        }
        | {"p": P_VALUE},
        key="ev_adv_types",
    )
    st.altair_chart(charts.adversarial_chart(by_type[by_type["perturbation"] != "overall"]), width="stretch")
    st.markdown(
        f"**Example flips** ({len(flips)} shown): the perturbation alone changed the candidate's answer"
    )
    common.table(flips, hide_index=True, key="ev_adv_flips")


def replay(rep: Mapping[str, Any]) -> None:
    quality, cost = rep.get("quality") or {}, rep.get("cost") or {}
    cols = st.columns(4)
    cols[0].metric("Logged sessions", rep["n_sessions"], f"{rep['n_labelled']} labelled", delta_color="off")
    cols[1].metric(
        "Routing accuracy",
        fmt(quality.get("candidate")),
        f"{quality['delta']:+.4f} vs served" if quality.get("delta") is not None else None,
    )
    change = rep.get("cost_change_relative")
    cols[2].metric(
        "Cost per session",
        fmt(cost.get("candidate"), 5),
        f"{change:+.1%} vs served" if change is not None else None,
        delta_color="inverse",
    )
    cols[3].metric("Changed routes", f"{rep.get('changed_rate', 0):.1%}")
    st.markdown(
        f"Of the sessions the champion misrouted and the user then escalated or abandoned, the candidate "
        f"would have routed **{rep.get('rescued', 0)}** right; it would have broken "
        f"**{rep.get('broken', 0)}** "
        "that the champion routed right."
    )
    rows = [
        {
            "figure": "routing accuracy",
            **{k: quality.get(k) for k in ("candidate", "champion", "delta", "ci_low", "ci_high", "p_value")},
        },
        {
            "figure": "cost per session",
            **{k: cost.get(k) for k in ("candidate", "champion", "delta", "ci_low", "ci_high", "p_value")},
        },
    ]
    common.table(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={c: NUM for c in ("candidate", "champion", "delta", "ci_low", "ci_high")}
        | {"p_value": P_VALUE},
        key="ev_replay",
    )


def correlation(corr: Mapping[str, Any], dec: Mapping[str, Any] | None, primary: str) -> None:
    pairs = data.correlation_frame(corr)
    cols = st.columns(3)
    cols[0].metric("Past promotions with online metric", len(pairs))
    cols[1].metric("Pearson", fmt(corr.get("pearson"), 3))
    cols[2].metric("Spearman", fmt(corr.get("spearman"), 3))
    if dec and dec.get("extended_reason"):
        st.caption(f"Canary: {dec['extended_reason']}")
    if pairs.empty:
        st.info("No promoted version has an online metric yet: the next canary is extended.")
        return
    st.altair_chart(
        charts.correlation_chart(pairs, primary, str(corr.get("online_metric") or "online")),
        width="stretch",
    )
    common.table(pairs, hide_index=True, key="ev_corr_pairs")


# --- example browser -----------------------------------------------------------------------------


def example_browser(api: data.Reader, ev: Mapping[str, Any], labels: list[str]) -> None:
    """Filter the examples and compare candidate and champion side by side."""
    cols = st.columns(4)
    role = cols[0].selectbox("Set", data.EXAMPLE_ROLES, key="ex_role")
    label = cols[1].selectbox("True label", ["any", *labels], key="ex_label")
    predicted = cols[2].selectbox("Candidate predicted", ["any", *labels], key="ex_predicted")
    lang = cols[3].selectbox("Language", ["any", "en", "ja", "mixed"], key="ex_lang")
    cols = st.columns([2, 1, 1])
    low, high = cols[0].slider("Candidate confidence", 0.0, 1.0, (0.0, 1.0), 0.05, key="ex_conf")
    disagree = cols[1].checkbox("Disagreements only", key="ex_disagree", disabled=not ev.get("champion_id"))
    page = cols[2].number_input("Page", min_value=1, value=1, step=1, key="ex_page")
    size = 50
    query = data.ExampleQuery(
        role=role,
        label=None if label == "any" else label,
        predicted=None if predicted == "any" else predicted,
        lang=None if lang == "any" else lang,
        min_confidence=low if low > 0 else None,
        max_confidence=high if high < 1 else None,
        disagree=bool(disagree),
        limit=size,
        offset=(int(page) - 1) * size,
    )
    found = common.load(data.examples, api, str(ev["id"]), query, action="examples")
    if found is None:
        return
    total, frame = found
    st.caption(f"{total} matching examples · page {int(page)} of {max(1, -(-total // size))}")
    common.table(
        frame,
        hide_index=True,
        column_config={"candidate conf": NUM, "champion conf": NUM},
        key="ex_table",
    )


# --- the whole report ----------------------------------------------------------------------------

ModeView = Callable[[Mapping[str, Any]], None]
# Task-specific views of a mode's results. A task without a view for a mode gets its raw JSON, so a new
# task (ranking, generation) renders from day one and gains charts by adding functions here.
TASK_VIEWS: dict[str, dict[str, ModeView]] = {
    "classification": {"golden": classification_golden, "adversarial": adversarial, "replay": replay},
}


def _mode(results: Results, mode: str, empty: str) -> None:
    part = results.get(mode)
    if not part:
        st.info(empty)
        return
    view = TASK_VIEWS.get(str(results.get("task")), {}).get(mode)
    if view is not None:
        view(part)
    elif mode != "golden":  # golden's common view follows
        st.json(part, expanded=False)


def evaluation(api: data.Reader, ev: Mapping[str, Any], policy: Mapping[str, Any] | None) -> None:
    """A finished evaluation: decision first, then every mode, then the example browser."""
    results: Results = ev.get("results") or {}
    decision(ev.get("decision"))
    downloads(api, str(ev["id"]))
    tabs = ["Golden", "Slices", "Adversarial", "Replay", "Correlation", "Examples"]
    golden_tab, slice_tab, adv_tab, replay_tab, corr_tab, ex_tab = st.tabs(tabs)
    golden = results.get("golden") or {}
    with golden_tab:
        _mode(results, "golden", "No golden results.")
        if golden:
            golden_common(golden)
    with slice_tab:
        if results.get("slices"):
            slices(api, ev, results)
        else:
            st.info("No holdout set: no slice results.")
    with adv_tab:
        _mode(results, "adversarial", "No adversarial results.")
    with replay_tab:
        _mode(results, "replay", "No replay results.")
    with corr_tab:
        correlation(
            results.get("correlation") or {},
            ev.get("decision"),
            str((policy or {}).get("primary_metric", "")),
        )
    with ex_tab:
        labels = list((golden.get("candidate") or {}).get("labels") or [])
        example_browser(api, ev, labels)
