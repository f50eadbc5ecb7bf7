"""Evaluation report: pick target -> candidate -> evaluation (or arrive by ``?evaluation=<id>`` or
``?candidate=<id>``), then the decision first and every mode below it."""

from __future__ import annotations

import streamlit as st

from dashboards import common, data, report_views

st.title("Evaluation report")
api = common.reader()

# A link (?evaluation= / ?candidate=) preselects the pickers once; after that the pickers rule.
link = (common.query_param("evaluation"), common.query_param("candidate"))
if any(link) and st.session_state.get("ev_link") != link:
    st.session_state["ev_link"] = link
    if link[0]:
        linked = common.load(data.evaluation, api, link[0], action="linked evaluation")
        if linked:
            st.session_state.update(
                ev_target=linked["target"],
                ev_candidate=str(linked["candidate_id"]),
                ev_pick=str(linked["id"]),
            )
    elif link[1]:
        linked = common.load(data.candidate, api, link[1], action="linked candidate")
        if linked:
            st.session_state.update(ev_target=linked["target"], ev_candidate=str(linked["id"]))
            st.session_state.pop("ev_pick", None)

targets = common.require(common.load(data.targets, api, action="targets"))
if not targets:
    st.info("No targets yet.")
    st.stop()
by_name = {t["name"]: t for t in targets}
cols = st.columns(3)
target = cols[0].selectbox("Target", list(by_name), key="ev_target")
items = common.require(common.load(data.candidates, api, target=target, action="candidates"))
if not items:
    st.info(f"No candidate of {target} yet.")
    st.stop()
labels = {c["id"]: f"v{c['version']} · {c['status']} · {c['id'][:8]}" for c in items}
if st.session_state.get("ev_candidate") not in labels:
    st.session_state.pop("ev_candidate", None)
candidate_id = cols[1].selectbox(
    "Candidate", list(labels), format_func=labels.__getitem__, key="ev_candidate"
)
runs = common.require(common.load(data.evaluations_of, api, candidate_id, action="evaluations"))
if not runs:
    st.info("This candidate has not been evaluated yet (Registry → Actions → Request evaluation).")
    st.stop()
run_labels = {str(e["id"]): f"{e['created_at'][:19]} · {e['status']} · {str(e['id'])[:8]}" for e in runs}
if st.session_state.get("ev_pick") not in run_labels:
    st.session_state.pop("ev_pick", None)
evaluation_id = cols[2].selectbox(
    "Evaluation", list(run_labels), format_func=run_labels.__getitem__, key="ev_pick"
)
st.query_params.pop("candidate", None)
st.query_params["evaluation"] = evaluation_id
st.session_state["ev_link"] = (evaluation_id, None)

ev = common.require(common.load(data.evaluation, api, evaluation_id, action="evaluation"))
candidate = next((c for c in items if c["id"] == str(ev["candidate_id"])), None)
champion = common.load(data.candidate, api, str(ev["champion_id"])) if ev.get("champion_id") else None
report_views.header(ev, candidate, champion)

if ev["status"] in ("queued", "running"):
    report_views.pending(ev)
elif ev["status"] == "error":
    report_views.errored(ev)
else:
    report_views.evaluation(api, ev, by_name[target].get("policy"))
