"""Outcomes page: headline figures with confidence intervals, deaths by cause,
survival by primary, cumulative incidence, state occupancy."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import core
from sim.present import cohort_figures as plots


def _not_estimable_caption(table: pd.DataFrame) -> None:
    """Empty cells of a curve table are beyond the follow-up: say so under it."""
    notes = sorted({str(n) for n in table.get("note", []) if n})
    if notes:
        st.caption("Empty cells: " + "; ".join(notes) + ". A curve is not read beyond the follow-up.")


st.title("Outcomes")
core.page_text("outcomes")
core.illustrative()

with core.guard("The Outcomes page"):
    rec = core.need_run()
    if rec is not None:
        run = rec.output
        st.caption(
            f"Run {rec.label}: scenario **{run.name}** ({run.mode}), seed {run.seed}, "
            f"{len(run.patients):,} patients reported, {run.replications} replication(s)."
        )
        head = core.headline_table(run)
        cols = st.columns(len(head))
        for col, (_, row) in zip(cols, head.iterrows(), strict=False):
            est = row["estimate"]
            if est is None or est != est:
                # not estimable: beyond the follow-up, a median not reached, nobody reported
                col.metric(row["outcome"], "not estimable" if "estimable" in row["note"] else "not reached", help=row["note"])
                continue
            months = row["unit"] == "months"
            value = f"{est:.1f}" if months else f"{100 * est:.1f}%"
            lo, hi = row["lower 95%"], row["upper 95%"]
            ci = (
                ""
                if lo is None or hi is None
                else (f"95% CI {lo:.1f}–{hi:.1f}" if months else f"95% CI {100 * lo:.1f}–{100 * hi:.1f}%")
            )
            col.metric(row["outcome"], value, help=f"{ci} ({row['method']})" if ci else row["method"])
        st.markdown("##### Headline outcomes with 95% confidence intervals")
        st.dataframe(head, hide_index=True)
        st.markdown("##### Deaths by cause")
        st.dataframe(core.deaths_table(run), hide_index=True)
        with st.spinner("Estimating survival and incidence curves ..."):
            a = core.analysis_of(run)
        st.markdown("##### Survival by primary tumour")
        st.pyplot(plots.survival_by_primary(a))
        st.dataframe(a.tables["survival"], hide_index=True)
        _not_estimable_caption(a.tables["survival"])
        st.markdown("##### Cumulative incidence (death as competing risk)")
        st.pyplot(plots.cumulative_incidence(a))
        st.dataframe(a.tables["incidence"], hide_index=True)
        _not_estimable_caption(a.tables["incidence"])
        st.markdown("##### State occupancy")
        st.pyplot(plots.state_occupancy(a.occupancy))
        with st.expander("More: survival from carcinosis diagnosis, SRE-free survival, days in hospital"):
            if a.from_diagnosis:
                st.pyplot(plots.survival_from_diagnosis(a))
            st.pyplot(plots.sre_free_survival(a))
            st.pyplot(plots.hospital_days(a.bed_days))
            st.dataframe(a.tables["hospital"], hide_index=True)
        if run.replication_table is not None:
            st.markdown("##### Precision across replications")
            from sim.analysis.outcomes import PRECISION, flat_labels

            cols_ = {k: v for k, v in flat_labels(PRECISION).items() if k in run.replication_table}
            st.pyplot(plots.replication_precision(run.replication_table, cols_))
