"""Uncertainty page: probabilistic and one-way sensitivity analysis, when the
library has them (sim.experiments.psa); until then, an explanation."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import core

st.title("Uncertainty")
core.illustrative()

# functions of sim.experiments.psa the page calls when the module exists: (label, names tried in turn)
ANALYSES = (
    ("Probabilistic sensitivity analysis", ("probabilistic", "run_psa", "psa")),
    ("One-way sensitivity analysis", ("one_way", "one_way_sensitivity", "tornado")),
)


def _psa_module() -> Any:
    try:
        if importlib.util.find_spec("sim.experiments.psa") is None:
            return None
    except (ImportError, ValueError):
        return None
    return importlib.import_module("sim.experiments.psa")


def _show(result: Any) -> None:
    from matplotlib.figure import Figure

    items = result if isinstance(result, (list, tuple)) else [result]
    for item in items:
        if isinstance(item, Figure):
            st.pyplot(item)
        elif isinstance(item, pd.DataFrame):
            st.dataframe(item, hide_index=True)
        elif isinstance(item, dict):
            st.json(item)
        elif item is not None:
            for attr in ("table", "summary", "figure"):
                if hasattr(item, attr):
                    _show(getattr(item, attr))
                    break
            else:
                st.write(item)


with core.guard("The Uncertainty page"):
    psa = _psa_module()
    if psa is None:
        core.page_text("uncertainty")
        st.info("Probabilistic and one-way sensitivity analysis are not available in this version of the model yet.")
    else:
        core.page_text("uncertainty_available")
        if psa.__doc__:
            st.markdown(psa.__doc__)
        rec = core.current_run()
        if rec is None:
            st.info("Run a scenario on the Scenario page first; the analyses start from it.")
        else:
            for title, names in ANALYSES:
                fn = next((getattr(psa, n) for n in names if callable(getattr(psa, n, None))), None)
                if fn is None:
                    continue
                st.markdown(f"##### {title}")
                if st.button(f"Run the {title.lower()} of {rec.label}", key=f"psa|{title}"):
                    with core.guard(title), st.spinner(f"{title} ..."):
                        try:
                            result = fn(rec.scenario if rec.scenario is not None else rec.output.scenario)
                        except ValueError as exc:  # the analysis refuses this scenario and says why
                            st.warning(f"{title}: {exc}")
                        else:
                            _show(result)
