"""Canary console: PLACEHOLDER until the canary API lands.

The lead fills this page with the on-call views of DESIGN section 8 once ``GET /v1/canaries/{id}`` and its
abort / re-enable routes exist: current stage and share, metric windows (canary vs holdout vs baseline),
triggers with their figures, and the abort / re-enable (with the 409 baseline-check figures) actions.
No canary endpoint is called here on purpose: the API is not invented in the dashboard.
"""

from __future__ import annotations

import streamlit as st

st.title("Canary console")
st.info(
    "**Placeholder.** The canary console arrives with the canary API (stages, metric windows, auto-abort "
    "triggers, abort and re-enable). Until then: `GET /v1/targets/{t}/routing` on the Registry page shows "
    "who gets what share of traffic, and the Audit log shows every abort, re-enable and rollback.",
    icon=":material/construction:",
)
