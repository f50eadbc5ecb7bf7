"""The Gatekeeper reviewer and on-call app: ``streamlit run dashboards/app.py`` (or ``gatekeeper dashboard``).

It reads the HTTP API only (GATEKEEPER_URL / GATEKEEPER_TOKEN, overridable in the sidebar), so it can run on
another machine than the service. Adding a page is one ``st.Page`` line below.
"""

from __future__ import annotations

import streamlit as st

from dashboards import common

st.set_page_config(page_title="Gatekeeper", page_icon=":material/shield:", layout="wide")

PAGES = {
    "Models": [
        st.Page("app_pages/registry.py", title="Registry", icon=":material/inventory_2:", default=True),
        st.Page(
            "app_pages/evaluation.py",
            title="Evaluation report",
            icon=":material/fact_check:",
            url_path="evaluation",
        ),
        st.Page(
            "app_pages/training.py",
            title="Training runs",
            icon=":material/model_training:",
            url_path="training",
        ),
    ],
    "Operations": [
        st.Page("app_pages/canary.py", title="Canary console", icon=":material/traffic:", url_path="canary"),
        st.Page("app_pages/drift.py", title="Drift", icon=":material/monitoring:", url_path="drift"),
        st.Page("app_pages/backtest.py", title="Backtest", icon=":material/replay:", url_path="backtest"),
        st.Page("app_pages/audit.py", title="Audit log", icon=":material/history:", url_path="audit"),
    ],
}


def sidebar() -> None:
    """The API connection; the values live in session state so every page reads the same ones."""
    url, token = common.connection()
    st.session_state.setdefault(common.URL_KEY, url)
    st.session_state.setdefault(common.TOKEN_KEY, token or "")
    with st.sidebar:
        st.markdown("**Gatekeeper API**")
        st.text_input("API URL", key=common.URL_KEY)
        st.text_input("Token", key=common.TOKEN_KEY, type="password", help="GATEKEEPER_TOKEN; any role reads")
        if not st.session_state[common.TOKEN_KEY]:
            st.warning("No token: the API will answer 401.", icon=":material/key:")
        else:
            me = common.whoami()
            with st.container(key="whoami"):
                if me is None:
                    st.caption("Connected as: unknown (the API did not accept the token)")
                else:
                    st.caption(f"Connected as **{me['name']}** · role **{me['role']}**")
        if st.button("Refresh data", key="refresh", help=f"answers are cached for {common.CACHE_TTL_S} s"):
            common.clear_cache()


navigation = st.navigation(PAGES)
sidebar()
navigation.run()
