"""The evaluation report as Streamlit sections. What every task shares (decision, golden comparisons,
slices, correlation, examples) is rendered generically; task-specific views of a mode live in
``TASK_VIEWS`` so ranking and generation add functions, not a branch in every section."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from dashboards import charts, common, data
from dashboards import task_data as td
from dashboards.common import fmt
from gatekeeper.evaluation.progress import progress_line

Results = Mapping[str, Any]
NUM = st.column_config.NumberColumn(format="%.4f")
P_VALUE = st.column_config.NumberColumn("p", format="%.3f")
# a candidate-vs-champion table: figures, the delta and its CI, the p-value
COMPARISON_COLUMNS = {c: NUM for c in ("candidate", "champion", "delta", "ci low", "ci high")} | {
    "p": P_VALUE
}


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
        st.progress(fraction, text=progress_line(progress))  # the mode, its examples, the modes done
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
    elif dec.get("verdict") == "inconclusive":
        needs = "\n".join(f"- {n['text']}" for n in dec.get("need") or [])
        st.info(f"### Gate {verdict}\n{summary}\n\n{needs}", icon=":material/help:")
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
    undecided = dec.get("inconclusive") or []
    _reason_lines(f"Inconclusive: not decided by this evidence ({len(undecided)})", undecided, st.info)
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
        column_config=COMPARISON_COLUMNS,
        key="ev_golden_table",
    )
    chart = charts.delta_chart(table)
    if chart is not None:
        st.altair_chart(chart, width="stretch")


CLASSIFICATION_CARDS = (
    ("Accuracy", "accuracy"),
    ("Macro-F1", "macro_f1"),
    ("ECE", "ece"),
    ("Low-confidence rate", "low_confidence_rate"),
)
LOWER_IS_BETTER = ("ece", "low_confidence_rate")


def _classification_cards(cand: Results, champ: Results, latency: Results) -> None:
    """The candidate's summary figures with the change against the champion, then the latency."""
    cols = st.columns(5)
    for col, (label, key) in zip(cols, CLASSIFICATION_CARDS, strict=False):
        value, base = cand.get(key), champ.get(key)
        change = value - base if value is not None and base is not None else None
        colour = "inverse" if key in LOWER_IS_BETTER else "normal"
        col.metric(
            label,
            fmt(value),
            None if change is None else f"{change:+.4f} vs champion",
            delta_color="off" if change == 0 else colour,
        )
    cols[4].metric(
        "Latency p95", f"{latency['p95_ms']:.2f} ms" if latency.get("p95_ms") is not None else "n/a"
    )


def _confusion_and_calibration(cand: Results, champ: Results) -> None:
    """The candidate's confusion matrix beside its reliability diagram."""
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


def classification_golden(golden: Mapping[str, Any]) -> None:
    """Classification only: summary figures, per-class table, confusion matrix, reliability diagram."""
    cand = golden.get("candidate") or {}
    champ = golden.get("champion") or {}
    _classification_cards(cand, champ, golden.get("latency") or {})
    st.markdown("**Per class** (candidate; champion F1 and recall beside it)")
    common.table(
        data.per_class_table(golden),
        hide_index=True,
        column_config={
            c: NUM for c in ("precision", "recall", "f1", "champion recall", "champion f1", "delta f1")
        },
        key="ev_per_class",
    )
    _confusion_and_calibration(cand, champ)


# --- slices --------------------------------------------------------------------------------------


def _highlight(row: pd.Series) -> list[str]:
    colour = {
        "hard": "background-color: #fce8e6",
        "soft": "background-color: #fff4d6",
        "inconclusive": "background-color: #e8eefc",
    }.get(row["flag"], "")
    return [colour] * len(row)


def slices(api: data.Reader, ev: Mapping[str, Any], results: Results) -> None:
    table = data.slice_frame(results["slices"], ev.get("decision"))
    n_flagged = int((table["flag"] != "").sum())
    st.markdown(
        f"**{len(table)} slices** of the holdout ({results['slices'].get('metric', 'accuracy')}), "
        "worst delta first; "
        f"{n_flagged} flagged by the decision; slices under {results['slices'].get('min_support')} examples "
        "are reported as insufficient data, not judged; **need** is how many more examples would decide "
        "a slice the evidence leaves undecided."
    )
    common.table(
        table.style.apply(_highlight, axis=1),
        hide_index=True,
        column_config=COMPARISON_COLUMNS,
        key="ev_slices",
    )
    chart = charts.slice_delta_chart(table)
    if chart is not None:
        st.altair_chart(chart, width="stretch")
    st.markdown("**Drill down**: the holdout examples of one slice")
    key = st.selectbox("Slice", table["slice"].tolist(), key="ev_slice_pick")
    if key:
        query = data.ExampleQuery(role="holdout", slice=key, limit=100)
        found = common.load(
            data.examples, api, str(ev["id"]), query, action="slice examples", task=results.get("task")
        )
        if found is not None:
            total, frame = found
            st.caption(f"{total} examples in {key}" + (" (first 100 shown)" if total > 100 else ""))
            common.table(frame, hide_index=True, key="ev_slice_examples")


# --- adversarial, replay, correlation ------------------------------------------------------------


@dataclass(frozen=True)
class Words:
    """How a task names the figures the shared adversarial and replay views show."""

    error: str = "error rate"
    flips: str = "the perturbation alone changed the candidate's answer"
    flip_columns: tuple[str, ...] = tuple(data.FLIP_FIELDS)
    renamed: tuple[tuple[str, str], ...] = ()
    quality: str = "Routing accuracy"
    quality_row: str = "routing accuracy"
    served: str = "served"
    changed: str = "Changed routes"
    rescue: str = (
        "Of the sessions the champion misrouted and the user then escalated or abandoned, the candidate "
        "would have routed **{rescued}** right; it would have broken **{broken}** that the champion "
        "routed right."
    )


CLASSIFICATION_WORDS = Words()
RANKING_WORDS = Words(
    error="1 − NDCG@10",
    flips="the perturbation alone changed the candidate's top result",
    flip_columns=("perturbation", "query", "source query", "candidate top now", "id"),
    renamed=(("text", "query"), ("source_id", "source query"), ("candidate", "candidate top now")),
)
GENERATION_WORDS = Words(
    error="failure rate (assertions or safety)",
    flips="the perturbation alone changed whether the candidate's answer passes",
    flip_columns=("perturbation", "question", "source example", "candidate passes now", "id"),
    renamed=(("text", "question"), ("source_id", "source example"), ("candidate", "candidate passes now")),
    quality="Answer pass rate",
    quality_row="answer pass rate",
    changed="Changed pass/fail",
    rescue=(
        "Of the sessions whose served answer failed and whose user then escalated or abandoned, the "
        "candidate's answer passes in **{rescued}**; it fails in **{broken}** whose served answer passed."
    ),
)


def adversarial(adv: Mapping[str, Any], words: Words = CLASSIFICATION_WORDS) -> None:
    by_type, flips = data.adversarial_frames(adv)
    if words.renamed:
        raw = pd.DataFrame(adv.get("flips") or []).rename(columns=dict(words.renamed))
        flips = raw.reindex(columns=[c for c in words.flip_columns if c in raw.columns or raw.empty])
    overall = adv["overall"]
    cols = st.columns(3)
    cols[0].metric("Adversarial examples", overall["n"])
    cols[1].metric(
        f"Candidate {words.error}",
        fmt(overall["candidate_error"]),
        f"{overall['delta_error']:+.4f} vs champion" if overall.get("delta_error") is not None else None,
        delta_color="inverse",
    )
    cols[2].metric("Candidate flip rate", fmt(overall["candidate_flip_rate"]))
    if words is not CLASSIFICATION_WORDS:
        st.caption(f"error here is {words.error}; a flip: {words.flips}")
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
    st.markdown(f"**Example flips** ({len(flips)} shown): {words.flips}")
    common.table(flips, hide_index=True, key="ev_adv_flips")


def replay(rep: Mapping[str, Any], words: Words = CLASSIFICATION_WORDS) -> None:
    quality, cost = rep.get("quality") or {}, rep.get("cost") or {}
    cols = st.columns(4)
    cols[0].metric("Logged sessions", rep["n_sessions"], f"{rep['n_labelled']} labelled", delta_color="off")
    cols[1].metric(
        words.quality,
        fmt(quality.get("candidate")),
        f"{quality['delta']:+.4f} vs {words.served}" if quality.get("delta") is not None else None,
    )
    change = rep.get("cost_change_relative")
    cols[2].metric(
        "Cost per session",
        fmt(cost.get("candidate"), 5),
        f"{change:+.1%} vs {words.served}" if change is not None else None,
        delta_color="inverse",
    )
    cols[3].metric(words.changed, f"{rep.get('changed_rate', 0):.1%}")
    st.markdown(words.rescue.format(rescued=rep.get("rescued", 0), broken=rep.get("broken", 0)))
    rows = [
        {
            "figure": words.quality_row,
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


# --- ranking -------------------------------------------------------------------------------------


def _card(
    col: Any, label: str, value: Any, delta: Any, ci: tuple[Any, Any] = (None, None), inverse: bool = False
) -> None:
    help_text = f"paired 95% CI of the delta [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci[0] is not None else None
    col.metric(
        label,
        fmt(value),
        None if delta is None else f"{delta:+.4f} vs champion",
        delta_color="off" if not delta else ("inverse" if inverse else "normal"),
        help=help_text,
    )


def _worst_queries(per_query: pd.DataFrame) -> None:
    """The ten golden queries whose NDCG@10 the candidate loses most on against the champion."""
    worst = per_query.dropna(subset=["delta"]).sort_values("delta").head(10)
    st.markdown("**Queries the candidate ranks worst against the champion** (NDCG@10)")
    common.table(
        worst,
        hide_index=True,
        column_config={c: NUM for c in ("candidate", "champion", "delta")},
        key="ev_rank_worst",
    )


def ranking_golden(golden: Mapping[str, Any], ctx: ViewContext | None = None) -> None:
    """Ranking: NDCG@10 / MRR / recall@5 cards, every cut-off, the per-query NDCG@10 distribution."""
    cand = golden.get("candidate") or {}
    comparisons = golden.get("comparisons") or {}
    latency = golden.get("latency") or {}
    cols = st.columns(4)
    for col, (label, key) in zip(cols, td.RANKING_CARDS, strict=False):
        c = comparisons.get(key) or {}
        _card(col, label, cand.get(key), c.get("delta"), (c.get("ci_low"), c.get("ci_high")))
    cols[3].metric(
        "Latency p95", f"{latency['p95_ms']:.1f} ms" if latency.get("p95_ms") is not None else "n/a"
    )
    st.caption(
        f"{cand.get('n', 'n/a')} golden queries ({cand.get('n_without_relevant', 0)} without a relevant "
        "product); graded relevance 0-3, exponential gain, ties broken by doc id"
    )
    left, right = st.columns([2, 3])
    with left:
        st.markdown("**Every cut-off** (means over the golden queries)")
        common.table(
            td.ranking_metric_table(golden),
            hide_index=True,
            column_config={c: NUM for c in ("candidate", "champion", "delta")},
            key="ev_rank_metrics",
        )
    per_query = td.per_query_frame(golden)
    with right:
        if not per_query.empty:
            st.altair_chart(
                charts.distribution_chart(td.histogram(td.per_query_long(per_query)), "NDCG@10"),
                width="stretch",
            )
    if per_query["delta"].notna().any():
        _worst_queries(per_query)


CTR_CARDS = (
    ("candidate (SNIPS)", "CTR, SNIPS"),
    ("candidate (IPS)", "CTR, IPS"),
    ("logging policy (observed)", "Logging CTR"),
)


def _ctr_cards(cols: list[Any], frame: pd.DataFrame) -> None:
    """SNIPS, IPS and the logging CTR, each estimate against the logging policy's observed CTR."""
    by_name = {r["estimate"]: r for r in frame.to_dict("records")}
    logged = by_name["logging policy (observed)"]["ctr"]
    for col, (name, label) in zip(cols, CTR_CARDS, strict=True):
        row = by_name[name]
        delta = (
            None
            if row["ctr"] is None or name.startswith("logging") or logged is None
            else row["ctr"] - logged
        )
        col.metric(
            label,
            fmt(row["ctr"]),
            None if delta is None else f"{delta:+.4f} vs logging",
            help=f"95% CI [{row['ci low']:.4f}, {row['ci high']:.4f}]" if row["ci low"] is not None else None,
        )


def ranking_replay(rep: Mapping[str, Any], ctx: ViewContext | None = None) -> None:
    """Counterfactual replay: the candidate's top-slot CTR by IPS and SNIPS against the logging CTR."""
    cf = rep.get("counterfactual") or {}
    frame = td.counterfactual_frame(rep)
    cols = st.columns(4)
    _ctr_cards(cols[:3], frame)
    ips = cf.get("ips") or {}
    cols[3].metric(
        "Matched impressions",
        f"{ips.get('matched', 0)} of {ips.get('n', rep.get('n_sessions'))}",
        f"effective n {cf.get('effective_sample_size', 0):.1f}",
        delta_color="off",
        delta_arrow="off",
    )
    st.caption(
        "Only impressions whose logged top product is the candidate's top product inform the estimate "
        f"(match rate {cf.get('match_rate', 0):.1%}); each is weighted by 1 / the logging propensity. SNIPS "
        "normalises the weights; its interval is the bootstrap 95% CI."
    )
    left, right = st.columns([3, 2])
    with left:
        st.altair_chart(
            charts.interval_chart(frame, "estimate", "ctr", "top-slot CTR (95% CI)"), width="stretch"
        )
    with right:
        common.table(
            frame, hide_index=True, column_config={c: NUM for c in ("ctr", "ci low", "ci high")}, key="ev_ips"
        )


# --- generation ----------------------------------------------------------------------------------


def _safety_failures(failing: list[Any], ctx: ViewContext | None) -> None:
    """Each golden safety failure with the reasons the gate's check gives for the candidate's output."""
    if not failing:
        st.success("No safety failure on the golden set.", icon=":material/verified_user:")
        return
    st.markdown(f"**Safety failures ({len(failing)})**: the reasons the gate's safety check gives for each")
    items: list[dict[str, Any]] = []
    if ctx is not None:
        query = data.ExampleQuery(role="golden", limit=500)
        found = common.load(data.examples_raw, ctx.api, str(ctx.ev["id"]), query, action="safety failures")
        items = found or []
    common.table(td.safety_failures(failing, items), hide_index=True, key="ev_gen_safety")


def generation_golden(golden: Mapping[str, Any], ctx: ViewContext | None = None) -> None:
    """Generation: tool calls, safety (with each failure's reasons), BERTScore, promptfoo and RAGAS."""
    cand = golden.get("candidate") or {}
    cards = td.generation_cards(golden)
    cols = st.columns(len(cards))
    for col, card in zip(cols, cards, strict=True):
        _card(col, card["label"], card["candidate"], card["delta"], card["ci"])
    latency = golden.get("latency") or {}
    st.caption(
        f"{cand.get('n', 'n/a')} golden examples · {cand.get('safety_failures', 0)} safety failure(s)"
        + (f" · latency p95 {latency['p95_ms']:.0f} ms" if latency.get("p95_ms") is not None else "")
    )
    _safety_failures(list(cand.get("safety_failure_ids") or []), ctx)
    left, right = st.columns(2)
    with left:
        st.markdown(
            f"**promptfoo** · pass rate {fmt(cand.get('promptfoo_pass'))} "
            "(every assertion of an example passes)"
        )
        stats = td.promptfoo_table(golden)
        if stats.empty:
            st.caption("promptfoo did not run (no assertions in the evalset)")
        else:
            common.table(stats, hide_index=True, key="ev_gen_promptfoo")
    with right:
        st.markdown("**RAGAS** · non-LLM metrics, and the judged ones (they need a judge endpoint)")
        common.table(
            td.ragas_table(golden),
            hide_index=True,
            column_config={c: NUM for c in ("candidate", "champion")},
            key="ev_gen_ragas",
        )


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


def _side_by_side(frame: pd.DataFrame) -> None:
    """One picked generation example: the candidate's and the champion's answers and tool calls."""
    pick = st.selectbox("Side by side", list(frame["id"]), key="ex_side")
    row = frame[frame["id"] == pick].iloc[0]
    st.markdown(f"**{row['question']}**")
    left, right = st.columns(2)
    with left, st.container(border=True, key="ex_side_candidate"):
        st.markdown("**Candidate**")
        st.write(row["candidate output"] or "(no text)")
        if row["candidate tool calls"]:
            st.code(row["candidate tool calls"], language="text")
    with right, st.container(border=True, key="ex_side_champion"):
        st.markdown("**Champion**")
        st.write(row["champion output"] if row["champion output"] is not None else "(no champion)")
        if row["champion tool calls"]:
            st.code(row["champion tool calls"], language="text")
    if row.get("reference"):
        st.caption(f"Reference answer: {row['reference']}")


def task_example_browser(api: data.Reader, ev: Mapping[str, Any], task: str) -> None:
    """Ranking and generation: the set, language and disagreement filters, answers side by side."""
    cols = st.columns([1, 1, 1, 1])
    role = cols[0].selectbox("Set", data.EXAMPLE_ROLES, key="ex_role")
    lang = cols[1].selectbox("Language", ["any", "en", "ja", "mixed"], key="ex_lang")
    disagree = cols[2].checkbox(
        "Different answers only",
        key="ex_disagree",
        disabled=not ev.get("champion_id"),
        help="the champion's output differs from the candidate's (scores, text or tool calls)",
    )
    page = cols[3].number_input("Page", min_value=1, value=1, step=1, key="ex_page")
    size = 50
    query = data.ExampleQuery(
        role=role,
        lang=None if lang == "any" else lang,
        disagree=bool(disagree),
        limit=size,
        offset=(int(page) - 1) * size,
    )
    found = common.load(data.examples, api, str(ev["id"]), query, action="examples", task=task)
    if found is None:
        return
    total, frame = found
    st.caption(f"{total} matching examples · page {int(page)} of {max(1, -(-total // size))}")
    common.table(
        frame,
        hide_index=True,
        column_config={c: NUM for c in ("candidate ndcg@10", "champion ndcg@10")},
        key="ex_table",
    )
    if task == "generation" and not frame.empty:
        _side_by_side(frame)


# --- the whole report ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewContext:
    """What a task view may need beyond its mode's results: the API and the evaluation."""

    api: data.Reader
    ev: Mapping[str, Any]


ModeView = Callable[[Mapping[str, Any], "ViewContext | None"], None]


def _plain(view: Callable[..., None], **kwargs: Any) -> ModeView:
    return lambda part, ctx: view(part, **kwargs)


# Task-specific views of a mode's results. A task without a view for a mode gets its raw JSON, so a new
# task renders from day one and gains charts by adding functions here.
TASK_VIEWS: dict[str, dict[str, ModeView]] = {
    "classification": {
        "golden": _plain(classification_golden),
        "adversarial": _plain(adversarial),
        "replay": _plain(replay),
    },
    "ranking": {
        "golden": ranking_golden,
        "adversarial": _plain(adversarial, words=RANKING_WORDS),
        "replay": ranking_replay,
    },
    "generation": {
        "golden": generation_golden,
        "adversarial": _plain(adversarial, words=GENERATION_WORDS),
        "replay": _plain(replay, words=GENERATION_WORDS),
    },
}


def _mode(results: Results, mode: str, empty: str, ctx: ViewContext | None = None) -> None:
    part = results.get(mode)
    if not part:
        st.info(empty)
        return
    view = TASK_VIEWS.get(str(results.get("task")), {}).get(mode)
    if view is not None:
        view(part, ctx)
    elif mode != "golden":  # golden's common view follows
        st.json(part, expanded=False)


def evaluation(api: data.Reader, ev: Mapping[str, Any], policy: Mapping[str, Any] | None) -> None:
    """A finished evaluation: decision first, then every mode, then the example browser."""
    results: Results = ev.get("results") or {}
    ctx = ViewContext(api, ev)
    task = str(results.get("task") or "classification")
    decision(ev.get("decision"))
    downloads(api, str(ev["id"]))
    tabs = ["Golden", "Slices", "Adversarial", "Replay", "Correlation", "Examples"]
    golden_tab, slice_tab, adv_tab, replay_tab, corr_tab, ex_tab = st.tabs(tabs)
    golden = results.get("golden") or {}
    with golden_tab:
        _mode(results, "golden", "No golden results.", ctx)
        if golden:
            golden_common(golden)
    with slice_tab:
        if results.get("slices"):
            slices(api, ev, results)
        else:
            st.info("No holdout set: no slice results.")
    with adv_tab:
        _mode(results, "adversarial", "No adversarial results.", ctx)
    with replay_tab:
        _mode(results, "replay", "No replay results.", ctx)
    with corr_tab:
        correlation(
            results.get("correlation") or {},
            ev.get("decision"),
            str((policy or {}).get("primary_metric", "")),
        )
    with ex_tab:
        if task == "classification":
            labels = list((golden.get("candidate") or {}).get("labels") or [])
            example_browser(api, ev, labels)
        else:
            task_example_browser(api, ev, task)
