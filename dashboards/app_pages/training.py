"""Training runs: status, trainer, tags, metrics, per-epoch curves, log path and the candidate it became."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, common, data

st.title("Training runs")
api = common.reader()
targets = common.require(common.load(data.targets, api, action="targets"))
names = [t["name"] for t in targets]
target = st.selectbox("Target", ["all", *names], key="tr_target")
chosen_target = None if target == "all" else target
runs = common.require(common.load(data.training_runs, api, target=chosen_target, action="training runs"))
items = common.load(data.candidates, api, target=chosen_target, action="candidates") or []
table = data.run_table(runs, data.registered_candidates(items))
st.caption(f"{len(runs)} run(s), newest first")
if table.empty:
    st.info("No training runs recorded yet.")
    st.stop()
table["report"] = [f"evaluation?candidate={c}" if c else None for c in table["candidate id"]]
common.table(
    table.drop(columns=["candidate id"]),
    hide_index=True,
    column_config={
        "macro_f1": st.column_config.NumberColumn(format="%.4f"),
        "accuracy": st.column_config.NumberColumn(format="%.4f"),
        "report": st.column_config.LinkColumn("candidate report", display_text="open report"),
    },
    key="tr_table",
)

by_id = {str(r["id"]): r for r in runs}
linked = common.query_param("run")
if linked in by_id and st.session_state.get("tr_link") != linked:
    st.session_state["tr_link"] = linked
    st.session_state["tr_run"] = linked
run_labels = {
    rid: f"{r['trainer']} · {r['status']} · {r['created_at'][:19]} · {rid[:8]}" for rid, r in by_id.items()
}
run_id = st.selectbox("Run", list(run_labels), format_func=run_labels.__getitem__, key="tr_run")
run = by_id[run_id]
metrics = run.get("metrics") or {}
row = table[table["id"] == run_id].iloc[0]
cols = st.columns(4)
cols[0].metric("Status", run["status"])
cols[1].metric("Trainer", run["trainer"])
cols[2].metric("Macro-F1 (validation)", common.fmt(row["macro_f1"]))
cols[3].metric("Registered as", row["candidate"] or "not registered")
st.markdown(
    f"**Log**: `{run.get('log_path') or 'n/a'}` · **Output**: `{run.get('output_uri') or 'n/a'}`"
    + (f" · sha256 `{run['output_sha256'][:16]}…`" if run.get("output_sha256") else "")
)
if run.get("error"):
    st.error(run["error"])
epochs = data.epoch_frame(metrics)
if epochs.empty:
    st.caption("no per-epoch metrics recorded for this run")
else:
    left, right = st.columns(2)
    left.altair_chart(
        charts.epoch_chart(epochs, ["macro_f1", "accuracy", "rare_recall"], "Validation quality per epoch"),
        width="stretch",
    )
    right.altair_chart(
        charts.epoch_chart(epochs, ["train_loss", "val_loss"], "Loss per epoch"), width="stretch"
    )
left, right = st.columns(2)
with left:
    st.markdown("**Lineage tags**")
    st.json(run.get("tags") or {})
    st.markdown("**Parameters**")
    st.json(run.get("params") or {}, expanded=False)
with right:
    st.markdown("**Metrics**")
    st.json({k: v for k, v in metrics.items() if k != "epochs"}, expanded=False)
