"""Registry: targets and champions, candidates with lineage, routing at a glance, and the few write
actions a reviewer's colleagues need (the API decides who may)."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, common, data
from gatekeeper.registry.schemas import ReasonIn

st.title("Registry")
api = common.reader()
targets = common.require(common.load(data.targets, api, action="targets"))
if not targets:
    st.info("No targets yet: an admin creates one with `gatekeeper target create`.")
    st.stop()
names = [t["name"] for t in targets]
champions = data.champions_of(targets)

st.subheader("Targets")
common.table(data.target_table(targets), hide_index=True, key="reg_targets")

st.subheader("Candidates")
wanted = common.query_param("target")
left, right = st.columns(2)
target = left.selectbox(
    "Target",
    ["all", *names],
    index=(names.index(wanted) + 1) if wanted in names else 0,
    key="reg_target",
)
status = right.selectbox("Status", ["any", *data.STATUSES], key="reg_status")
items = common.require(
    common.load(
        data.candidates,
        api,
        target=None if target == "all" else target,
        status=None if status == "any" else status,
        action="candidates",
    )
)
table = data.candidate_table(items)
table["report"] = [f"evaluation?candidate={c}" for c in table["id"]]
table["training run"] = [f"training?run={r}" if r else None for r in table["training run"]]
st.caption(f"{len(items)} candidate(s), newest first")
common.table(
    table,
    hide_index=True,
    column_config={
        "report": st.column_config.LinkColumn("report", display_text="open report"),
        "training run": st.column_config.LinkColumn("training run", display_text=r"run=(.{8})"),
        "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm:ss"),
    },
    key="reg_candidates",
)

st.subheader("Recent evaluations")
ecols = st.columns([1, 3])
ev_status = ecols[0].selectbox("Evaluation status", ["any", *data.EVALUATION_STATUSES], key="reg_ev_status")
recent = common.load(
    data.recent_evaluations,
    api,
    target=None if target == "all" else target,
    status=None if ev_status == "any" else ev_status,
    action="recent evaluations",
)
if recent is not None:
    versions = {str(c["id"]): c["version"] for c in items}
    running = sum(1 for e in recent if e["status"] in ("queued", "running"))
    ecols[1].caption(f"{len(recent)} newest evaluation(s); {running} queued or running")
    if recent:
        common.table(
            data.evaluation_table(recent, versions),
            hide_index=True,
            column_config={
                "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0),
                "report": st.column_config.LinkColumn("report", display_text="open report"),
                "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm:ss"),
                "finished": st.column_config.DatetimeColumn("finished", format="YYYY-MM-DD HH:mm:ss"),
            },
            key="reg_evaluations",
        )

st.subheader("Champion and routing")
for name in names if target == "all" else [target]:
    champ = champions.get(name)
    routes = common.load(data.routing, api, name, action=f"routing of {name}")
    cols = st.columns([1, 3])
    cols[0].metric(f"{name} champion", f"v{champ['version']}" if champ else "none yet")
    if routes is not None:
        frame = data.routing_table(routes)
        with cols[1]:
            st.caption(f"routing generation {routes['generation']}")
            if frame.empty:
                st.caption("no routes: nothing is served yet")
            else:
                common.table(frame, hide_index=True, key=f"reg_routes_{name}")
                st.altair_chart(charts.routing_chart(frame), width="stretch")

with st.expander(
    "Actions (need the right role: ci evaluates, admin promotes a first champion, oncall rolls back)"
):
    if not items:
        st.caption("no candidate in this view")
    else:
        labels = {c["id"]: f"{c['target']} v{c['version']} · {c['status']} · {c['id'][:8]}" for c in items}
        chosen = st.selectbox("Candidate", list(labels), format_func=labels.__getitem__, key="act_candidate")
        reason = st.text_input("Reason (promote, roll back)", key="act_reason")
        cols = st.columns(3)
        picked = next(c for c in items if c["id"] == chosen)
        if cols[0].button("Request evaluation", key="act_evaluate"):
            with common.api_errors("request evaluation"):
                queued = common.writer().request_evaluation(chosen)
                common.clear_cache()
                st.success(f"evaluation {queued['id']} queued")
        if cols[1].button("Promote as first champion", key="act_promote"):
            with common.api_errors("promote"):
                done = common.writer().promote_first(chosen, ReasonIn(reason=reason))
                common.clear_cache()
                st.success(f"v{done.version} is now {done.status}")
        if cols[2].button(f"Roll back {picked['target']}", key="act_rollback"):
            with common.api_errors("roll back"):
                rolled = common.writer().rollback(picked["target"], ReasonIn(reason=reason))
                common.clear_cache()
                st.success(f"champion is v{rolled['champion'].version} again")
