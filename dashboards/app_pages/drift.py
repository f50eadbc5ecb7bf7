"""Drift: per target, the four kinds over time against the thresholds pinned in the champion's reference,
the live events with their triage, an acknowledgement form for on-call and the Evidently report."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import streamlit as st

from dashboards import charts, common, data
from dashboards import drift_data as dd
from gatekeeper.drift.schemas import AckIn

NUM = st.column_config.NumberColumn(format="%.4f")
WHEN = st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm", timezone="UTC")
P_FLOOR = 1e-12  # a log axis cannot show p = 0

st.title("Drift")
api = common.reader()
targets = common.require(common.load(data.targets, api, action="targets"))
if not targets:
    st.info("No targets yet.")
    st.stop()
names = [t["name"] for t in targets]
wanted = common.query_param("target")
cols = st.columns([2, 1, 1])
target = cols[0].selectbox(
    "Target", names, index=names.index(wanted) if wanted in names else 0, key="dr_target"
)
since_day = cols[1].date_input(
    "Since (UTC)", value=datetime.now(UTC).date() - timedelta(days=7), key="dr_since"
)
live = cols[2].checkbox("Live figures", key="dr_live", help="the trailing windows computed now (not stored)")
since = datetime.combine(since_day if isinstance(since_day, date) else date.today(), time(), tzinfo=UTC)
drift = common.require(common.load(dd.view, api, target, since=since, live=live, action="drift"))
thr = dd.thresholds(drift)
ref = drift.get("reference")

# --- reference and latest ------------------------------------------------------------------------
if ref is None:
    st.info(
        f"{target} has no drift reference yet: one is pinned when a champion is promoted (it needs the "
        "champion's cached predictions on the evalset holdout). Nothing is judged until then."
    )
else:
    st.caption(
        f"Reference v{ref['version']} of champion `{ref['candidate_id']}` · {ref['rows']} rows · "
        f"pinned {common.when(ref['created_at'])} by {ref['created_by']} · policy v{ref['policy_version']} · "
        f"windows under {thr['min_samples']:.0f} samples ({thr['min_labelled']:.0f} labels for the daily "
        "kinds) never count and are drawn faint"
    )
latest = dd.latest_table(drift)
cols = st.columns(4)
for col, row in zip(cols, latest.to_dict("records"), strict=True):
    breached = row["breached"]
    state = "no window yet" if breached is None else ("beyond threshold" if breached else "within threshold")
    col.metric(
        f"{row['kind']} · {row['statistic']}",
        "n/a" if row["value"] is None else f"{row['value']:.4g}",
        f"{state} ({row['alerts when']} {row['threshold']:g})",
        delta_color="off" if breached is None else ("inverse" if breached else "normal"),
        delta_arrow="off",
    )
with st.expander("Latest window per kind"):
    common.table(latest, hide_index=True, column_config={"value": NUM, "window start": WHEN}, key="dr_latest")

# --- the four kinds over time --------------------------------------------------------------------
history = drift.get("history") or {}
with st.container(key="dr_input"):
    frame = dd.input_frame(history.get("input") or [], thr)
    if frame.empty:
        st.caption("no input windows since then")
    else:
        st.altair_chart(charts.psi_chart(frame, thr["psi"]), width="stretch")
        st.caption(
            f"alerts after {ref['thresholds'].get('psi_hours', 24) if ref else 24:g} h above {thr['psi']:g}"
        )
with st.container(key="dr_prediction"):
    frame = dd.prediction_frame(history.get("prediction") or [], thr)
    if frame.empty:
        st.caption("no prediction windows since then")
    else:
        left, right = st.columns(2)
        left.altair_chart(
            charts.threshold_chart(
                frame, "ks", thr["prediction_ks"], title="Prediction confidence: KS", y_title="KS"
            ),
            width="stretch",
        )
        top = float(frame["kl"].max()) if frame["kl"].notna().any() else thr["kl_retrain"]
        right.altair_chart(
            charts.threshold_chart(
                frame,
                "kl",
                thr["kl_alert"],
                title=f"Class mix: KL ({thr['kl_monitor']:g} / {thr['kl_alert']:g} / {thr['kl_retrain']:g})",
                y_title="KL",
                bands=dd.kl_bands(thr, top * 1.1),
            ),
            width="stretch",
        )
label_col, concept_col = st.columns(2)
with label_col:
    frame = dd.label_frame(history.get("label") or [], thr)
    if frame.empty:
        st.caption("no labelled daily windows since then")
    else:
        frame["p (display)"] = frame["p"].clip(lower=P_FLOOR)
        st.altair_chart(
            charts.threshold_chart(
                frame,
                "p (display)",
                thr["label_chi2_p"],
                title=f"Label mix: χ² p-value (drift below {thr['label_chi2_p']:g})",
                y_title="p",
                log=True,
                y_format=".0e",
            ),
            width="stretch",
        )
with concept_col:
    frame = dd.concept_frame(history.get("concept") or [], thr)
    if frame.empty:
        st.caption("no labelled daily windows since then")
    else:
        st.altair_chart(
            charts.threshold_chart(
                frame,
                "delta_f1",
                thr["concept_delta_f1"],
                title="Concept: macro-F1 drop vs reference (ΔF1)",
                y_title="ΔF1",
            ),
            width="stretch",
        )
if drift.get("live"):
    with st.expander("Live figures (trailing windows, computed now)"):
        st.json(drift["live"], expanded=False)

# --- events --------------------------------------------------------------------------------------
st.subheader("Events")
status = st.selectbox("Status", ["live", "open", "acknowledged", "resolved", "all"], key="dr_status")
items = common.load(dd.events, api, target, None if status == "all" else status, action="drift events") or []
table = dd.event_table(items)
if table.empty:
    st.caption(f"no {status if status != 'all' else ''} drift events".replace("  ", " "))
else:
    common.table(
        table,
        hide_index=True,
        column_config={
            "value": NUM,
            "since": WHEN,
            "paged": WHEN,
            "seasonal until": WHEN,
            "retrain run": st.column_config.LinkColumn("retrain run", display_text=r"run=(.{8})"),
        },
        key="dr_events",
    )
    by_id = {str(e["id"]): e for e in items}
    pick = st.selectbox(
        "Inspect event", list(by_id), format_func=lambda i: dd.event_label(by_id[i]), key="dr_event_pick"
    )
    event = by_id[pick]
    left, right = st.columns(2)
    with left:
        st.markdown(f"**Suggested action: {event['action']}**")
        for reason in event.get("reasons") or ["no reason recorded"]:
            st.markdown(f"- {reason}")
        run = event.get("training_run_id")
        if run:
            st.markdown(f"Retrain: [training run {str(run)[:8]}](training?run={run})")
        elif event.get("retrain_note"):
            st.caption(f"Retrain: {event['retrain_note']}")
        st.caption("Paged at " + common.when(event["paged_at"]) if event.get("paged_at") else "Not paged")
    with right:
        st.markdown("**Triage**")
        st.json(event.get("triage") or {}, expanded=False)
        st.markdown("**Figures**")
        st.json(event.get("figures") or {}, expanded=False)

# --- acknowledge ---------------------------------------------------------------------------------
live_events = [e for e in items if e["status"] in ("open", "acknowledged")] if items else []
with st.container(key="dr_ack_box", border=True):
    st.markdown(f"**Acknowledge an event** · {common.role_hint('oncall')}")
    if not live_events:
        st.caption("no open or acknowledged event to acknowledge in this list")
    else:
        ack_ids = {str(e["id"]): e for e in live_events}
        chosen = st.selectbox(
            "Event", list(ack_ids), format_func=lambda i: dd.event_label(ack_ids[i]), key="dr_ack_event"
        )
        reason = st.text_input("Reason (required)", key="dr_ack_reason")
        seasonal = st.checkbox(
            "Seasonal (a known pattern): no action, and this kind's alerts are suppressed until…",
            key="dr_ack_seasonal",
        )
        until = None
        if seasonal:
            ucols = st.columns(2)
            day = ucols[0].date_input(
                "Until (UTC)", value=datetime.now(UTC).date() + timedelta(days=3), key="dr_ack_until_day"
            )
            at = ucols[1].time_input("at", value=time(0, 0), key="dr_ack_until_time")
            until = datetime.combine(day, at, tzinfo=UTC)
        key = f"dr_outcome_{chosen}"
        if st.button("Acknowledge", key="dr_ack"):
            if not reason.strip():
                st.warning("Give a reason: it goes into the audit log.")
            else:
                common.run_action(
                    key,
                    lambda: common.writer().ack_drift_event(
                        chosen, AckIn(reason=reason.strip(), seasonal=seasonal, until=until)
                    ),
                    lambda done: (
                        f"Acknowledged by {done['ack']['by']}: the {done['kind']} event is "
                        f"**{done['status']}**, action {done['action']}"
                        + (
                            f", suppressed until {common.when(done['ack']['until'])}"
                            if done["ack"]["until"]
                            else ""
                        )
                        + "."
                    ),
                )
        common.show_outcome(key, "acknowledge")

# --- Evidently -----------------------------------------------------------------------------------
st.subheader("Evidently report")
st.caption(
    "Evidently's data-drift report of the latest input window against the reference (built once by the API, "
    "a few MB): download it, or open it here."
)
if st.button("Load the report", key="dr_report"):
    html = common.load(dd.report_html, api, target, action="Evidently report")
    if html is not None:
        st.session_state["dr_report_html"] = (target, html)
loaded = st.session_state.get("dr_report_html")
if loaded and loaded[0] == target:
    html = loaded[1]
    st.download_button(
        f"Download the report ({len(html.encode()) / 1e6:.1f} MB)",
        html,
        file_name=f"drift-{target}.html",
        mime="text/html",
        key="dr_report_download",
    )
    if st.checkbox("Show it here", key="dr_report_embed"):
        st.components.v1.html(html, height=900, scrolling=True)
