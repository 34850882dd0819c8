"""Services page: utilisation, waits and annual counts per service."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import core
from sim.kernel.services import services_summary
from sim.present import course_figures as figures

st.title("Services")
core.page_text("services")
core.illustrative()

with core.guard("The Services page"):
    rec = core.need_run()
    if rec is not None:
        run = rec.output
        tab = run.services
        if run.mode != "population":
            st.info(
                "This run is a cohort (everybody enters at time 0), so its years are years since entry, not calendar years, "
                "and services have no capacity unless the scenario sets one. For planning figures, run a population-mode "
                "scenario such as `regional_baseline.yaml` or `rt_capacity_cut.yaml`."
            )
        summ = services_summary(tab)
        rows = []
        for name, d in summ.items():
            if not isinstance(d, dict):
                continue
            rows.append(
                {
                    "service": name.replace("_", " "),
                    "capacity": d["capacity"] if d["capacity"] is not None else "unlimited",
                    "requests": d["requests"],
                    "uses": d["uses"],
                    "units": d["units"],
                    "unit": d["unit"],
                    "mean utilisation": d["utilisation_mean"],
                    "mean wait (days)": d["wait_mean_days"],
                    "deaths while waiting": d["deaths_waiting"],
                    "cost": d["cost"],
                }
            )
        years = int(tab["year"].max()) if len(tab) else 0
        st.markdown(f"##### Totals over {years} reported year(s)")
        st.dataframe(pd.DataFrame(rows), hide_index=True)
        st.pyplot(figures.service_counts(tab))
        c1, c2 = st.columns(2)
        with c1:
            st.pyplot(figures.service_utilisation(tab))
        with c2:
            st.pyplot(figures.service_waits(tab))
        with st.expander("Per service and year"):
            show = tab.copy()
            show["service"] = show["service"].astype(str)
            st.dataframe(show, hide_index=True)
