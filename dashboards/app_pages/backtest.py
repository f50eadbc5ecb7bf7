"""Backtest: replay simulated canaries through a target's abort rules (and a policy to compare), or read a
saved ``gatekeeper backtest --format json`` report; show the tables and the charts."""

from __future__ import annotations

import json

import streamlit as st

from dashboards import backtest_data, common, data
from gatekeeper.errors import GatekeeperError

st.title("Canary rules backtest")
api = common.reader()
targets = common.require(common.load(data.targets, api, action="targets"))
by_name = {t["name"]: t for t in targets}
if not by_name:
    st.info("No targets yet.")
    st.stop()
left, right = st.columns(2)
target = left.selectbox("Target (its current policy)", sorted(by_name), key="bt_target")
specs = left.text_input("Simulate", "healthy:20, error_ratio=2.0:10", key="bt_simulate")
days = left.number_input("Days per canary", 0.5, 17.0, 2.0, key="bt_days")
other = right.text_area("Compare with (policy YAML, optional)", key="bt_compare", height=140)
saved = right.file_uploader("…or read a saved report (JSON)", type=["json"], key="bt_saved")

report = None
if saved is not None:
    report = json.loads(saved.getvalue())
elif st.button("Run backtest", key="bt_run", type="primary"):
    try:
        report = backtest_data.run(by_name[target]["policy"], other, specs, float(days))
        st.session_state["bt_report"] = report
    except GatekeeperError as exc:  # a bad spec or policy: its one readable line
        st.error(exc.detail, icon=":material/error:")
        st.stop()
report = report or st.session_state.get("bt_report")
if report is None:
    st.caption(
        "Simulated canaries come from the shipped simulator; recorded ones: `gatekeeper backtest --target`."
    )
    st.stop()
st.caption(f"{report.get('streams', 0)} stream(s), schema {report.get('schema')}")
for key, title, frame in backtest_data.frames(report):
    st.subheader(title)
    common.table(frame, hide_index=True, key=f"bt_{key}")
for svg in backtest_data.charts(report):
    st.html(svg)
