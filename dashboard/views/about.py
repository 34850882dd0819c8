"""About page: what the model is for, how to read it, sources, how to cite."""

from __future__ import annotations

import streamlit as st

from dashboard import core
from sim import ILLUSTRATIVE, __version__

st.title("bmc-sim: the course of bone metastases and bone marrow carcinosis")
st.warning(
    f"**{ILLUSTRATIVE}** The dashboard is for planning exercises, teaching and analysis, not for decisions about a patient."
)
with core.guard("The About page"):
    core.page_text("about")
    st.caption(f"Model version {__version__}.")
    cff = core.ROOT / "CITATION.cff"
    if cff.exists():
        with st.expander("Citation file (CITATION.cff)"):
            st.code(cff.read_text(encoding="utf-8"), language="yaml")
