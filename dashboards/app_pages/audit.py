"""Audit log: every state change, newest first, filtered and paged by id (the API's keyset cursor)."""

from __future__ import annotations

import streamlit as st

from dashboards import common, data

st.title("Audit log")
api = common.reader()
cols = st.columns([2, 1, 1, 1, 1])
entity = cols[0].text_input("Entity id", key="au_entity", placeholder="candidate, evaluation or run id")
entity_type = cols[1].text_input("Entity type", key="au_entity_type", placeholder="candidate")
actor = cols[2].text_input("Actor", key="au_actor", placeholder="system")
action = cols[3].text_input("Action", key="au_action", placeholder="candidate.transition")
size = int(cols[4].selectbox("Page size", [25, 50, 100, 250], index=1, key="au_size"))

# Pages are a stack of cursors; new filters start again at the newest event.
filters = (entity.strip(), entity_type.strip(), actor.strip(), action.strip(), size)
if st.session_state.get("au_filters") != filters:
    st.session_state["au_filters"] = filters
    st.session_state["au_cursors"] = [None]
cursors: list[int | None] = st.session_state["au_cursors"]
query = data.AuditQuery(*filters[:4], before_id=cursors[-1], limit=size)
rows = common.require(common.load(data.audit, api, query, action="audit log"))
older = data.next_before_id(rows, size)

nav = st.columns([1, 1, 4])
if nav[0].button("← Newer", key="au_newer", disabled=len(cursors) == 1):
    cursors.pop()
    st.rerun()
if nav[1].button("Older →", key="au_older", disabled=older is None):
    cursors.append(older)
    st.rerun()
nav[2].caption(
    f"page {len(cursors)} · {len(rows)} event(s)"
    + (f" · ids {rows[-1]['id']}–{rows[0]['id']}" if rows else "")
)
frame = data.audit_frame(rows)
common.table(
    frame,
    hide_index=True,
    column_config={"at": st.column_config.DatetimeColumn("at", format="YYYY-MM-DD HH:mm:ss")},
    key="au_table",
)
if rows:
    by_id = {e["id"]: e for e in rows}
    pick = st.selectbox("Inspect event", list(by_id), key="au_pick")
    event = by_id[pick]
    st.markdown(
        f"**{event['action']}** on {event['entity_type']} `{event['entity_id']}` "
        f"by {event['actor']} at {event['at']}"
    )
    if event.get("note"):
        st.caption(event["note"])
    left, right = st.columns(2)
    left.markdown("before")
    left.json(event.get("before") or {})
    right.markdown("after")
    right.json(event.get("after") or {})
