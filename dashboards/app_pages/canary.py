"""Canary console: pick target -> canary (or arrive by ``?canary=<id>``); the stage timeline and traffic
share, canary vs holdout per metric with the abort rules' thresholds, the trigger that aborted it in plain
words, and the on-call actions (re-enable after the baseline check, manual abort, rollback)."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from dashboards import canary_data as cd
from dashboards import charts, common, data
from gatekeeper.canary.schemas import AbortIn, ReenableIn
from gatekeeper.registry.schemas import ReasonIn

NUM = st.column_config.NumberColumn(format="%.4f")
PCT = st.column_config.NumberColumn(format="percent")
WHEN = st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm", timezone="UTC")

st.title("Canary console")
api = common.reader()
now = datetime.now(UTC)

# --- the daemon that aborts: is it alive? ---------------------------------------------------------
status = common.load(cd.daemon, api, action="canary daemon status")
with st.container(key="ca_daemon"):
    if status is not None:
        health = cd.daemon_health(status)
        line = (
            f"Canary daemon: leader `{status.get('leader')}` · last heartbeat "
            f"{cd.age_text(status.get('age_seconds'))} ({common.when(status.get('heartbeat_at'))})"
            f" · {status.get('ticks', 0)} tick(s) since it became leader"
        )
        if health == "ok":
            st.caption(f":green[●] {line}")
        elif health == "stale":
            st.warning(f"{line}: late, auto-abort may not be running", icon=":material/schedule:")
        else:
            st.error(
                "No canary daemon has ever ticked: nothing aborts a bad canary.", icon=":material/error:"
            )

# --- pickers -------------------------------------------------------------------------------------
targets = common.require(common.load(data.targets, api, action="targets"))
if not targets:
    st.info("No targets yet.")
    st.stop()
by_name = {t["name"]: t for t in targets}
linked = common.query_param("canary")
if linked and st.session_state.get("ca_link") != linked:
    st.session_state["ca_link"] = linked
    found = common.load(cd.canary, api, linked, action="linked canary")
    if found:
        st.session_state.update(ca_target=found["target"], ca_pick=str(found["id"]))
cols = st.columns([1, 2])
target = cols[0].selectbox("Target", list(by_name), key="ca_target")
in_shadow = common.load(cd.shadows, api, target, action="shadows") or []
if in_shadow:
    st.markdown("#### In shadow")
    st.caption(
        "Shadow time is server time since the shadow started. The verdict is taken once, after min_hours "
        "with enough records (a fail ends the candidate); without enough records by max_hours it fails."
    )
    st.dataframe(
        cd.shadow_frame(in_shadow),
        hide_index=True,
        key="ca_shadows",
        column_config={"started_at": WHEN, "agreement": NUM},
    )
items = common.require(common.load(cd.canaries, api, target, action="canaries"))
if not items:
    st.info(
        f"No canary of {target} yet: a candidate gets one after its gate and its shadow pass "
        "(`POST /v1/candidates/{id}/canary`)."
    )
    st.stop()
labels = {str(c["id"]): cd.label(c) for c in items}
if st.session_state.get("ca_pick") not in labels:
    st.session_state.pop("ca_pick", None)
canary_id = cols[1].selectbox(
    "Canary (newest first)", list(labels), format_func=labels.__getitem__, key="ca_pick"
)
st.query_params["canary"] = canary_id
st.session_state["ca_link"] = canary_id
c = next(item for item in items if str(item["id"]) == canary_id)
policy = by_name[target].get("policy") or {}
rules = cd.rules_of(policy)

# --- where it stands -----------------------------------------------------------------------------
st.markdown(
    f"### {target} v{c['candidate_version']} {cd.badge(c['state'])}"
    + (" · extended" if c["extended"] else "")
)
st.caption(
    f"canary `{c['id']}` · candidate `{c['candidate_id']}` · champion `{c.get('champion_id') or 'none'}` · "
    f"started {common.when(c['started_at'])} · armed since {common.when(c['armed_since'])}"
)
plan = c.get("plan") or []
cols = st.columns(5)
cols[0].metric("State", c["state"])
cols[1].metric(
    "Stage",
    f"{c['stage'] + 1} of {len(plan)}",
    f"{plan[c['stage']]['share']:.0%} planned",
    delta_color="off",
    delta_arrow="off",
)
cols[2].metric("Traffic share now", f"{c['share']:.0%}")


def moment_metric(label: str, value: str, moment: object) -> None:
    """The fourth figure: a moment of the canary's life, how far off it is and when."""
    cols[3].metric(label, value, common.when(moment), delta_color="off", delta_arrow="off")


if c["state"] in ("running", "aborted"):
    moment_metric(
        "Stage ends" if c["state"] == "running" else "Stage would end",
        cd.until_text(c["stage_ends_at"], now) if c["state"] == "running" else "paused",
        c["stage_ends_at"],
    )
elif c["state"] == "baking":
    moment_metric("Bake ends", cd.until_text(c.get("bake_until"), now), c.get("bake_until"))
    st.info(
        f"Champion since {common.when(c.get('promoted_at'))}, "
        f"baking until {common.when(c.get('bake_until'))}: judged against the previous champion "
        "with the same abort rules; a breach rolls back to it."
    )
else:
    moment_metric("Finished", cd.until_text(c.get("finished_at"), now), c.get("finished_at"))
cols[4].metric("Re-enables", c["reenables"])
evidence = c.get("evidence")
if evidence:  # a running stage: what it has gathered against what it needs (the API's figures)
    have = cd.evidence_have_need(evidence)
    with st.container(key="ca_evidence"):
        ev_cols = st.columns(3)
        ev_cols[0].metric("Evaluable windows (have of need)", have["windows"])
        ev_cols[1].metric("Canary requests (have of need)", have["requests"])
        ev_cols[2].metric("Windows received", have["received"])
        if evidence.get("starved"):
            st.warning(
                f"Starved: the stage's time is up but its evidence is short, so it is held at "
                f"{c['share']:.0%}. Aborted as insufficient_evidence at {common.when(evidence['deadline'])} "
                f"({cd.until_text(evidence['deadline'], now)}) unless the evidence arrives.",
                icon=":material/hourglass_empty:",
            )
        else:
            st.caption(
                f"Evidence counted since {common.when(evidence['since'])}; the stage passes at its end only "
                f"with both needs met (progress deadline {common.when(evidence['deadline'])})."
            )
stages = cd.stage_frame(c)
st.altair_chart(charts.stage_timeline_chart(stages, cd.stage_marks(c, now)), width="stretch")
with st.expander("Stages and routing"):
    common.table(
        stages.drop(columns=["label", "current"]),
        hide_index=True,
        column_config={"share": PCT, "start": WHEN, "end": WHEN},
        key="ca_stages",
    )
    routes = common.load(data.routing, api, target, action="routing")
    if routes is not None:
        frame = data.routing_table(routes)
        st.caption(f"routing generation {routes['generation']}: who gets what share now")
        common.table(frame, hide_index=True, column_config={"weight": PCT}, key="ca_routes")
        if not frame.empty:
            st.altair_chart(charts.routing_chart(frame), width="stretch")

# --- the trigger ---------------------------------------------------------------------------------
trigger = c.get("trigger")
if trigger:
    summary = cd.trigger_summary(trigger)
    aborted = c["state"] in ("aborted", "failed") or not c["reenables"]
    st.subheader("Why it aborted" if aborted else f"The trigger it was re-enabled after ({c['reenables']}×)")
    decision = common.load(cd.abort_decision, api, str(c["candidate_id"]), canary_id, action="abort decision")
    said = ((decision or {}).get("reasons") or [{}])[0].get("message")
    window = (
        f"{summary['from']:%Y-%m-%d %H:%M}–{summary['to']:%H:%M} UTC"
        if summary["from"] is not None
        else "n/a"
    )
    span = summary["span_minutes"]
    with st.container(key="ca_trigger"):
        (st.error if aborted else st.warning)(
            f"**{summary['rule']}** on **{summary['metric']}**: {summary['sentence']}.  \n"
            + (f"{said}  \n" if said else "")
            + f"Fired at {common.when(trigger.get('fired_at'))} over {summary['windows']} window(s), {window}"
            + (f" ({span:.0f} min)" if span is not None else "")
            + (f"; the daemon aborted at {common.when(c['aborted_at'])}." if c.get("aborted_at") else "."),
            icon=":material/warning:",
        )
    st.markdown("**Per-window figures the rule judged**")
    common.table(
        cd.trigger_table(trigger),
        hide_index=True,
        column_config={"start": WHEN}
        | {k: NUM for k in ("canary_rate", "holdout_rate", "reference_rate", "ratio", "canary", "holdout")}
        | {"p_value": st.column_config.NumberColumn("p", format="%.2e")},
        key="ca_trigger_windows",
    )
elif c["state"] == "running":
    st.success("No rule has fired since the canary was (re-)armed.", icon=":material/check_circle:")

# --- the anytime-valid tests -----------------------------------------------------------------------
tests = common.load(cd.sequential, api, canary_id, action="sequential tests")
if tests and tests.get("effects"):
    with st.expander(f"Anytime-valid tests ({'they abort' if tests['aborts'] else 'advisory: rules=seed'})"):
        st.caption(
            "Confidence sequences valid at every look since the canary was armed; alpha "
            f"{tests['settings']['alpha']:g} split over the tests. A test fires when p <= its level's alpha."
        )
        common.table(cd.sequential_frame(tests), hide_index=True, key="ca_sequential")

# --- canary vs holdout ---------------------------------------------------------------------------
st.subheader("Canary vs holdout")
rows = common.load(cd.windows, api, canary_id, action="metric windows")
if rows:
    frame = cd.window_frame(rows)
    paired = cd.paired_frame(frame, rules)
    judged = paired[paired["judged"]]
    scope = st.radio(
        "Show",
        ["around the trigger (±3 h)", "whole canary"] if trigger else ["whole canary"],
        horizontal=True,
        key="ca_range",
    )
    focused = (lambda f: cd.focus(f, trigger)) if scope != "whole canary" else (lambda f: f)
    spans = cd.trigger_spans(trigger)
    skipped = len(paired) - len(judged)
    st.caption(
        f"{len(paired)} canary windows ({c['windows'].get('holdout', 0)} holdout, "
        f"{c['windows'].get('baseline', 0)} baseline); {skipped} with fewer than {rules.min_requests} "
        "requests on either side are not judged and not drawn. Shaded: the windows that fired. "
        f"Thresholds from the policy's abort_rules (v{by_name[target]['policy_version']})."
    )
    panels = [  # (column prefix, threshold column, title, y title, format, baseline column)
        (
            "error rate",
            "error threshold",
            f"Error rate (threshold {rules.error_ratio:g}× holdout)",
            "error rate",
            ".2%",
            "error_rate",
        ),
        (
            "p99 ms",
            "p99 threshold ms",
            f"p99 latency (threshold {rules.p99_ratio:g}× holdout)",
            "p99 (ms)",
            ".0f",
            "latency_p99_ms",
        ),
    ]
    for column, (name, threshold, title, y_title, y_format, base) in zip(st.columns(2), panels, strict=True):
        with column:
            st.altair_chart(
                charts.canary_metric_chart(
                    focused(judged),
                    canary=f"canary {name}",
                    holdout=f"holdout {name}",
                    threshold=threshold,
                    title=title,
                    y_title=y_title,
                    y_format=y_format,
                    spans=spans,
                    baseline=focused(cd.baseline_series(frame, base)),
                ),
                width="stretch",
            )
    metrics = list(rules.safety_metrics) or cd.safety_metrics(frame)
    safety_cols = st.columns(max(1, min(2, len(metrics))))
    for i, metric in enumerate(metrics):
        values = cd.safety_frame(frame, rules, metric, trigger)
        with safety_cols[i % len(safety_cols)]:
            if values.empty or values["canary"].isna().all():
                st.caption(f"No window reports {metric}: the safety rule has nothing to judge.")
                continue
            st.altair_chart(
                charts.canary_metric_chart(
                    focused(values[values["judged"]]),
                    canary="canary",
                    holdout="holdout",
                    threshold="threshold",
                    title=f"{metric} (threshold holdout − {rules.safety_sigma:g}σ, 24 h σ)",
                    y_title=metric,
                    y_format=".3f",
                    spans=spans,
                    baseline=focused(cd.baseline_series(frame, f"safety:{metric}")),
                    band=True,
                    exact="trigger threshold",
                ),
                width="stretch",
            )
    with st.expander("Exceptions over the whole canary"):
        common.table(
            cd.exceptions_table(rows),
            hide_index=True,
            column_config={
                "canary rate": st.column_config.NumberColumn(format="%.5f"),
                "holdout rate": st.column_config.NumberColumn(format="%.5f"),
            },
            key="ca_exceptions",
        )
elif rows is not None:
    st.info("No metric windows posted yet (`POST /v1/canaries/{id}/metrics`).")

# --- on-call actions -----------------------------------------------------------------------------
st.subheader("On-call actions")
st.caption(
    f"Re-enable, abort and rollback {common.role_hint('oncall')}. Every action is audited with its reason."
)
me = common.whoami() or {}
reenable_key, abort_key, rollback_key = (
    f"ca_outcome_{a}_{canary_id}" for a in ("reenable", "abort", "rollback")
)

with st.container(key="ca_reenable_box", border=True):
    st.markdown("**Re-enable** · re-runs the triggering rule against the pre-canary baseline hour")
    if c["state"] != "aborted":
        st.caption(f"Only an aborted canary can be re-enabled; this one is {c['state']}.")
    else:
        reason = st.text_area("Reason (required)", key="ca_reenable_reason", height=68)
        force = False
        if me.get("role") == "admin":
            force = st.checkbox("Force: skip the baseline check (admin override, audited)", key="ca_force")
        if st.button("Re-enable canary", key="ca_reenable", type="primary"):
            if len(reason.strip()) < 3:
                st.warning("Give a reason (at least 3 characters): it goes into the audit log.")
            else:
                common.run_action(
                    reenable_key,
                    lambda: common.writer().reenable_canary(
                        canary_id, ReenableIn(reason=reason.strip(), force=force)
                    ),
                    lambda done: (
                        f"Re-enabled: the canary is **{done['state']}** again, armed since "
                        f"{common.when(done['armed_since'])}; stage {done['stage'] + 1} at "
                        f"{done['share']:.0%} until {common.when(done['stage_ends_at'])}."
                    ),
                )
    done = common.outcome(reenable_key)
    if done is not None and not done["ok"] and done["status"] == 409 and isinstance(done["body"], dict):
        body = done["body"]
        st.error(f"Re-enable refused (HTTP 409): {done['detail']}", icon=":material/block:")
        baseline, rechecked = cd.recheck_tables(body)
        if baseline:
            st.markdown(f"**Pre-canary baseline** ({body.get('rule', '')} rule)")
            common.table(
                [{"figure": k, "value": v} for k, v in baseline.items()],
                hide_index=True,
                key="ca_recheck_baseline",
            )
        if not rechecked.empty:
            st.markdown("**The trigger's windows judged against the baseline**")
            common.table(
                rechecked,
                hide_index=True,
                column_config={
                    "start": WHEN,
                    "canary_rate": NUM,
                    "ratio": NUM,
                    "p_value": st.column_config.NumberColumn("p", format="%.2e"),
                },
                key="ca_recheck_windows",
            )
    else:
        common.show_outcome(reenable_key, "re-enable")

left, right = st.columns(2)
with left, st.container(key="ca_abort_box", border=True):
    st.markdown("**Abort for good** · the candidate becomes failed_promotion; routing stays on the champion")
    reason = st.text_input("Reason (required)", key="ca_abort_reason")
    live = c["state"] in ("running", "aborted")
    if st.button(
        "Abort canary",
        key="ca_abort",
        disabled=not live,
        help=None if live else f"the canary is {c['state']}",
    ):
        if len(reason.strip()) < 3:
            st.warning("Give a reason (at least 3 characters): it goes into the audit log.")
        else:
            common.run_action(
                abort_key,
                lambda: common.writer().abort_canary(canary_id, AbortIn(reason=reason.strip())),
                lambda done: f"Aborted: the canary is **{done['state']}**; routing is on the champion.",
            )
    common.show_outcome(abort_key, "abort")
with right, st.container(key="ca_rollback_box", border=True):
    st.markdown(f"**Roll back {target}** · the champion becomes failed_promotion, the previous one returns")
    reason = st.text_input("Reason (required)", key="ca_rollback_reason")
    if st.button(f"Roll back {target}", key="ca_rollback"):
        if len(reason.strip()) < 3:
            st.warning("Give a reason (at least 3 characters): it goes into the audit log.")
        else:
            common.run_action(
                rollback_key,
                lambda: common.writer().rollback(target, ReasonIn(reason=reason.strip())),
                lambda done: (
                    f"Rolled back: v{done['rolled_back']['version']} is {done['rolled_back']['status']}, "
                    f"v{done['champion']['version']} is champion again."
                ),
            )
    common.show_outcome(rollback_key, "rollback")
