"""Journeys page (the teaching view): how different single courses are, and
one patient's story, also under a second scenario."""

from __future__ import annotations

import streamlit as st

from dashboard import core
from sim.present import course_figures as figures

st.title("Journeys")
core.page_text("journeys")
core.illustrative()


@st.cache_data(max_entries=64, show_spinner=False)
def story(scenario_json: str, patient_id: int) -> str:
    from sim.experiments.journey import render, simulate_patient

    return render(simulate_patient(core.from_json(scenario_json), patient_id))


@st.cache_data(max_entries=64, show_spinner=False)
def trajectories(scenario_json: str, patient_id: int):  # type: ignore[no-untyped-def]
    from sim.experiments.journey import simulate_patient

    scn = core.from_json(scenario_json)
    course = simulate_patient(scn, patient_id)
    if course.labs is None:
        return None
    return figures.lab_trajectories(course.labs, scn, title=f"Patient {patient_id}: blood counts and calcium")


@st.cache_data(max_entries=64, show_spinner=False)
def story_pair(a_json: str, b_json: str, patient_id: int) -> str:
    from sim.experiments.journey import render_compare, simulate_patient

    a = simulate_patient(core.from_json(a_json), patient_id)
    b = simulate_patient(core.from_json(b_json), patient_id)
    return render_compare(a, b, width=110)


with core.guard("The Journeys page"):
    rec = core.need_run()
    if rec is not None:
        run = rec.output
        sample = run.patients[run.patients["patient_id"].isin(run.sample_ids)]
        st.markdown(f"##### {len(sample)} courses drawn at random from run {rec.label}")
        st.pyplot(
            figures.swimmer(sample, run.sample_events, title=f"{len(sample)} courses of scenario {run.name} (random sample)")
        )

        st.markdown("##### One patient's story")
        ids = list(run.sample_ids)
        pid = st.selectbox("Patient (from the sample above)", ids, key=f"journey_pid|{rec.number}")
        if pid is not None:
            with st.spinner("Telling the story ..."):
                text_a = story(run.scenario_json, int(pid))
            st.code(text_a, language=None, wrap_lines=True)
            fig = trajectories(run.scenario_json, int(pid))
            if fig is not None:
                st.markdown("##### The blood picture")
                st.caption("Dotted lines: CTCAE grade boundaries; dashed: transfusion triggers. Values week by week.")
                st.pyplot(fig)

            st.markdown("##### The same patient under a second scenario")
            st.caption("Same seed, same patient, same random numbers: the stories part only where the scenarios differ.")
            others = {r.label: r.output.scenario_json for r in core.runs() if r.number != rec.number}
            for f in core.scenario_files():
                others[f"scenarios/{f}"] = f
            choice = st.selectbox("Second scenario", ["(none)", *others], key=f"journey_b|{rec.number}")
            if choice != "(none)":
                b = others[choice]
                if choice.startswith("scenarios/"):
                    b_scn = core.build(core.load_file(b), {}, b)
                else:
                    b_scn = core.from_json(b)
                b_scn = core.run_scenario_for(b_scn, run.seed, run.patients_requested)
                with st.spinner("Telling both stories ..."):
                    try:
                        pair = story_pair(run.scenario_json, core.resolved_json(b_scn), int(pid))
                    except ValueError as exc:  # e.g. a patient id the second scenario's run does not have
                        st.warning(f"This patient cannot be followed in {choice}: {exc}")
                    else:
                        st.code(pair, language=None)
