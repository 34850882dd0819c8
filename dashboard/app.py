"""bmc-sim dashboard: explore scenarios of the bone metastasis course simulator.

    streamlit run dashboard/app.py            # serves on 127.0.0.1 (see .streamlit/config.toml)

Parameters are illustrative, not clinically validated.  The app holds no
model logic: it calls the same library functions as the command line
(``sim``) and reuses the report's figures (``sim.plots``, ``sim.figures``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import core  # noqa: E402

st.set_page_config(page_title="bmc-sim dashboard", page_icon="🦴", layout="wide")
try:  # never show a traceback in the page, whatever the server's options
    st.set_option("client.showErrorDetails", "none")
except Exception:  # noqa: BLE001 - an older or newer Streamlit without this option value
    pass

VIEWS = Path(__file__).resolve().parent / "views"
PAGES = [
    st.Page(VIEWS / "about.py", title="About", icon="📖", default=True),
    st.Page(VIEWS / "scenario.py", title="Scenario", icon="🛠️"),
    st.Page(VIEWS / "outcomes.py", title="Outcomes", icon="📈"),
    st.Page(VIEWS / "journeys.py", title="Journeys", icon="🧭"),
    st.Page(VIEWS / "services.py", title="Services", icon="🏥"),
    st.Page(VIEWS / "compare.py", title="Compare", icon="⚖️"),
    st.Page(VIEWS / "uncertainty.py", title="Uncertainty", icon="🎲"),
]

page = st.navigation(PAGES)
with st.sidebar:
    rec = core.current_run()
    if rec is not None:
        st.caption(f"Showing results of run {rec.label} ({len(core.runs())} run(s) this session).")
    else:
        st.caption("No run yet: start on the Scenario page.")
    core.illustrative()
page.run()
