"""Compare page: runs of the session side by side, and a paired comparison
of two or more scenarios under common random numbers."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import core
from sim import with_overrides
from sim.experiments.compare import KEY_OUTCOMES
from sim.present import course_figures as figures

st.title("Compare")
core.page_text("compare")
core.illustrative()


@st.cache_data(max_entries=8, show_spinner=False)
def paired(
    scenario_jsons: tuple[str, ...], names: tuple[str, ...], seed: int, patients: int, replications: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """sim.experiments.compare.compare of the scenarios (same seed, same replication indices)."""
    from sim.experiments.compare import compare

    scns = []
    for js, name in zip(scenario_jsons, names, strict=False):
        s = core.run_scenario_for(core.from_json(js), seed, patients)
        scns.append(with_overrides(s, {"name": name[:100]}))
    c = compare(scns, replications, seed=seed)
    return c.key_table(), c.differences


def _label(metric: str) -> str:
    if metric in KEY_OUTCOMES:
        return KEY_OUTCOMES[metric]
    return metric.replace("services.", "").replace("_", " ").replace(".", ": ")


with core.guard("The Compare page"):
    rs = core.runs()
    st.markdown("##### Runs of this session side by side")
    if not rs:
        st.info(f"No runs yet. Each run made on the Scenario page is kept here (up to {core.MAX_RUNS_KEPT}) to compare against.")
    else:
        rows = []
        for r in rs:
            head = core.headline_table(r.output)
            for _, h in head.iterrows():
                rows.append(
                    {
                        "run": r.label,
                        "outcome": h["outcome"],
                        "estimate": h["estimate"],
                        "lower": h["lower 95%"],
                        "upper": h["upper 95%"],
                        "note": h["note"],
                    }
                )
        long = pd.DataFrame(rows)
        wide = long.pivot_table(index="outcome", columns="run", values="estimate", sort=False, dropna=False)
        wide = wide.reindex(index=list(dict.fromkeys(long["outcome"])), columns=list(dict.fromkeys(long["run"])))
        st.dataframe(wide.reset_index(), hide_index=True)
        missing = long[long["note"] != ""]
        if len(missing):
            st.caption("Empty cells: " + "; ".join(f"{m.run}, {m.outcome}: {m.note}" for m in missing.itertuples()) + ".")
        st.pyplot(
            figures.outcome_bars(long, list(core.HEADLINE.values()), title="Headline outcomes of the session's runs (95% CI)")
        )
        st.caption(
            "Runs side by side differ by chance as well as by scenario; the paired comparison below removes most of the chance."
        )

    st.markdown("##### Paired comparison (common random numbers)")
    options: dict[str, str] = {r.label: r.output.scenario_json for r in rs}
    for f in core.scenario_files():
        options[f"scenarios/{f}"] = f
    default = (
        [r.label for r in rs[-2:]]
        if len(rs) >= 2
        else [o for o in ("scenarios/baseline.yaml", "scenarios/high_carcinosis.yaml") if o in options]
    )
    chosen = st.multiselect("Scenarios to compare (the first is the reference)", list(options), default=default, key="cmp_choice")
    c1, c2, c3 = st.columns(3)
    with c1:
        patients = st.number_input(
            "Patients per scenario",
            value=2000,
            step=500,
            key="cmp_patients",
            help=f"Cohort scenarios; population-mode scenarios use their own incidence. At most {core.MAX_PATIENTS:,}.",
        )
    with c2:
        reps = st.number_input(
            "Replications",
            value=3,
            step=1,
            key="cmp_reps",
            help=f"2 to {core.MAX_COMPARE_REPLICATIONS}; paired differences get a Student-t 95% CI across them.",
        )
    with c3:
        seed = st.number_input("Seed", value=20261125, step=1, min_value=0, key="cmp_seed")
    problems = []
    if len(chosen) < 2:
        problems.append("Choose at least two scenarios.")
    if patients is None or not 1 <= int(patients) <= core.MAX_PATIENTS:
        problems.append(f"Use from 1 to {core.MAX_PATIENTS:,} patients per scenario.")
    if reps is None or not 2 <= int(reps) <= core.MAX_COMPARE_REPLICATIONS:
        problems.append(f"Use from 2 to {core.MAX_COMPARE_REPLICATIONS} replications (a paired CI needs at least two).")
    for p in problems:
        st.error(p)
    if st.button("Compare", type="primary", disabled=bool(problems), key="cmp_run"):
        with core.guard("The comparison"):
            jsons, names = [], []
            for label in chosen:
                v = options[label]
                if label.startswith("scenarios/"):
                    s = core.build(core.load_file(v), {}, v)
                    v = core.resolved_json(s)
                jsons.append(v)
                names.append(label)
            with st.spinner(f"Running {len(jsons)} scenarios x {int(reps)} replications ..."):
                key, diffs = paired(tuple(jsons), tuple(names), int(seed), int(patients), int(reps))
            st.session_state["cmp_result"] = (key, diffs)
    if st.session_state.get("cmp_result") is not None:
        key, diffs = st.session_state["cmp_result"]
        show = key.copy()
        show.insert(0, "outcome", [_label(m) for m in show["metric"]])
        st.dataframe(show.drop(columns=["metric"]), hide_index=True)
        labels = {k: v for k, v in KEY_OUTCOMES.items() if k in set(diffs["metric"])}
        st.pyplot(figures.paired_differences(diffs, labels))
