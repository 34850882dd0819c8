"""bmc-sim dashboard: explore scenarios of the bone metastasis course simulator.

    streamlit run dashboard/app.py            # serves on 127.0.0.1 (see .streamlit/config.toml)

Parameters are illustrative, not clinically validated.  The app holds no
model logic: it calls the same library functions as the command line
(``sim``) and reuses the report's figures (``sim.present.cohort_figures``, ``sim.present.course_figures``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import core  # noqa: E402

st.set_page_config(page_title="bmc-sim dashboard", page_icon=":material/monitoring:", layout="wide")
try:  # never show a traceback in the page, whatever the server's options
    st.set_option("client.showErrorDetails", "none")
except Exception:  # noqa: BLE001 - an older or newer Streamlit without this option value
    pass

VIEWS = Path(__file__).resolve().parent / "views"
PAGES = [
    st.Page(VIEWS / "about.py", title="About", icon=":material/info:", default=True),
    st.Page(VIEWS / "scenario.py", title="Scenario", icon=":material/tune:"),
    st.Page(VIEWS / "outcomes.py", title="Outcomes", icon=":material/monitoring:"),
    st.Page(VIEWS / "journeys.py", title="Journeys", icon=":material/timeline:"),
    st.Page(VIEWS / "services.py", title="Services", icon=":material/local_hospital:"),
    st.Page(VIEWS / "compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page(VIEWS / "uncertainty.py", title="Uncertainty", icon=":material/casino:"),
]

page = st.navigation(PAGES)
try:
    page.run()
finally:  # the sidebar note is written after the page, so it names a run just made
    with st.sidebar:
        rec = core.current_run()
        if rec is not None:
            st.caption(f"Showing results of run {rec.label} ({len(core.runs())} run(s) this session).")
        else:
            st.caption("No run yet: start on the Scenario page.")
        core.illustrative()
