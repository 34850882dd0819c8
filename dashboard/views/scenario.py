"""Scenario page: choose or upload a scenario, edit key parameters, set the
run, run it, download the edited scenario."""

from __future__ import annotations

import hashlib
import inspect
import time
from typing import Any

import streamlit as st

from dashboard import core
from sim import ScenarioError
from sim.scenario.loader import MAX_SCENARIO_BYTES, resolved_yaml
from sim.scenario.problems import Problem
from sim.scenario.reference import commented_yaml, parameters

# the browser refuses files over 1 MB before they are sent (where Streamlit
# supports it); read_upload then enforces sim.scenario.loader.MAX_SCENARIO_BYTES exactly
UPLOAD_CAP: dict[str, Any] = (
    {"max_upload_size": max(1, -(-MAX_SCENARIO_BYTES // 1_048_576))}
    if "max_upload_size" in inspect.signature(st.file_uploader).parameters
    else {}
)

st.title("Scenario")
core.page_text("scenario")
core.illustrative()


def _widget(path: str, current: Any, token: str) -> Any:
    """One parameter's widget; label, help and range from sim.scenario.reference."""
    p = parameters()[path]
    label = f"{p.description} ({p.unit})" if p.unit else p.description
    if path.startswith("services."):  # the same description for every service: name the service
        label = f"{path.split('.')[1].replace('_', ' ').capitalize()}: {label[0].lower()}{label[1:]}"
    key = f"w|{token}|{path}"
    helptext = core.param_help(path)
    if "true/false" in p.kind:
        return st.checkbox(label, value=bool(current), key=key, help=helptext)
    optional = "NoneType" in p.kind
    integer = p.kind.startswith("integer")
    if integer:
        ivalue = None if current is None else int(current)
        return st.number_input(label, value=ivalue, step=1, key=key, help=helptext, placeholder="unlimited" if optional else None)
    value = None if current is None else float(current)
    hi = p.maximum if p.maximum is not None else 1e9
    step = 0.01 if hi <= 1 else (0.1 if hi <= 100 else 1.0)
    return st.number_input(
        label,
        value=value,
        step=step,
        format="%.3f" if hi <= 1 else "%.2f",
        key=key,
        help=helptext,
        placeholder="not set" if optional else None,
    )


def _scenario_yaml(scenario: Any, label: str) -> str | None:
    """The edited scenario as a commented YAML file (sim.scenario.reference), or the
    plain resolved file (sim.scenario.loader) should the commented form fail."""
    try:
        return commented_yaml(scenario, f"{label} (written by the bmc-sim dashboard)")
    except Exception:  # noqa: BLE001 - a download must not take the page down
        core.log.exception("dashboard: commented_yaml failed; offering the resolved scenario instead")
    try:
        try:  # with the uncertainty distributions, where the model has them
            from sim.scenario.uncertainty import full_yaml

            return str(full_yaml(scenario))
        except ImportError:
            return resolved_yaml(scenario)
    except Exception:  # noqa: BLE001
        core.log.exception("dashboard: resolved_yaml failed")
        st.caption("The scenario cannot be offered for download here; `python run_sim.py run` writes it with the results.")
        return None


def _beside(path: str, problems: list[Problem]) -> list[Problem]:
    """Problems that concern the parameter at ``path`` (its own, or its section's)."""
    out = []
    for pr in problems:
        if pr.path == path or (pr.path and path.startswith(pr.path + ".") and pr.path.count(".") >= 1):
            out.append(pr)
    return out


with core.guard("The scenario page"):
    source = st.radio(
        "Where the scenario comes from",
        ["A scenario file of the project", "Upload a scenario file"],
        horizontal=True,
        key="source",
    )
    raw: dict[str, Any] | None = None
    token = ""
    load_problems: list[Problem] = []
    source_name = ""
    inherited: dict[str, dict[str, str]] = {}  # keys of uncertainty entries that come from a base file
    if source.startswith("A scenario file"):
        files = core.scenario_files()
        name = st.selectbox(
            "Scenario file (scenarios/)",
            files,
            index=files.index("baseline.yaml") if "baseline.yaml" in files else 0,
            key="scenario_file",
        )
        source_name = name
        token = f"file:{name}"
        try:
            raw = core.load_file(name, inherited)
        except ScenarioError as exc:
            load_problems = list(exc.problems)
    else:
        up = st.file_uploader(
            f"Scenario YAML file (at most {MAX_SCENARIO_BYTES // 1000:,} kB; it may `extends:` a file of scenarios/)",
            type=["yaml", "yml"],
            key="upload",
            **UPLOAD_CAP,
        )
        if up is None:
            st.info("Choose a YAML scenario file to upload. `python run_sim.py new` writes one to start from.")
        else:
            data = up.getvalue()
            source_name = up.name
            token = "upload:" + hashlib.sha256(data).hexdigest()[:16]
            try:
                raw = core.read_upload(up.name, data, inherited)
            except ScenarioError as exc:
                load_problems = list(exc.problems)

    base = None
    if raw is not None:
        try:
            base = core.build(raw, {}, source_name, inherited)
        except ScenarioError as exc:
            load_problems = list(exc.problems)

    if load_problems:
        st.error(
            f"**{source_name or 'The file'} cannot be used** ({len(load_problems)} problem{'s' if len(load_problems) != 1 else ''}):\n\n"
            + "\n".join(f"- {p}" for p in load_problems)
        )
        st.session_state["scenario_valid"] = False
        st.button("Run", type="primary", disabled=True, key="run_disabled", help="Fix the scenario first.")
        st.stop()
    if base is None:
        st.session_state["scenario_valid"] = False
        st.button("Run", type="primary", disabled=True, key="run_disabled", help="Choose a scenario first.")
        st.stop()

    st.subheader(base.name)
    if base.description:
        st.markdown(base.description)
    st.caption(
        f"Mode: **{base.mode}**"
        + (
            " — patients arrive over the years at the scenario's incidence; results count those who enter after the warm-up."
            if base.mode == "population"
            else " — a cohort enters at time 0."
        )
    )

    current = base.model_dump(mode="json")
    edits: dict[str, Any] = {}
    slots: dict[str, Any] = {}
    st.markdown("#### Key parameters")
    st.caption(
        "Defaults, units, valid ranges and sources come from the scenario schema (the ? beside each field). Everything else stays as in the file."
    )
    for group, paths in core.KEY_PARAMETERS.items():
        if group.startswith("Population") and base.mode != "population":
            continue
        with st.expander(group, expanded=group == "Disease course"):
            cols = st.columns(2)
            known = [p_ for p_ in paths if p_ in parameters()]
            for i, path in enumerate(known):
                with cols[i % 2]:
                    now = core.value_at(current, path)
                    value = _widget(path, now, token)
                    slots[path] = st.empty()
                    if value != now:
                        edits[path] = value

    scenario = None
    problems: list[Problem] = []
    try:
        scenario = core.build(raw or {}, edits, source_name, inherited) if edits else base
    except ScenarioError as exc:
        problems = list(exc.problems)
    for path, slot in slots.items():
        mine = _beside(path, problems)
        if mine:
            slot.error("\n\n".join(p.message for p in mine))

    st.markdown("#### Run settings")
    c1, c2, c3 = st.columns(3)
    population = base.mode == "population"
    with c1:
        patients = st.number_input(
            "Patients",
            value=min(int(base.run.patients), core.MAX_PATIENTS),
            step=1000,
            key=f"patients|{token}",
            disabled=population,
            help=core.param_help("run.patients")
            + f"  \nAt most {core.MAX_PATIENTS:,} in the dashboard."
            + ("  \nNot used in population mode: patients arrive at the scenario's incidence." if population else ""),
        )
        patients_slot = st.empty()
    with c2:
        seed = st.number_input(
            "Seed", value=int(base.run.seed), step=1, min_value=0, key=f"seed|{token}", help=core.param_help("run.seed")
        )
    with c3:
        replications = st.number_input(
            "Replications",
            value=1,
            step=1,
            key=f"reps|{token}",
            help=f"Independent replications (same seed, replication index 0, 1, ...); results then carry Student-t 95% intervals across them. At most {core.MAX_REPLICATIONS}.",
        )
        reps_slot = st.empty()
    patients = int(patients) if patients is not None else 0
    replications = int(replications) if replications is not None else 0
    limit_problems = []
    if not population and not 1 <= patients <= core.MAX_PATIENTS:
        limit_problems.append("patients")
        patients_slot.error(
            f"Use from 1 to {core.MAX_PATIENTS:,} patients per run in the dashboard (the command line runs more)."
        )
    if not 1 <= replications <= core.MAX_REPLICATIONS:
        limit_problems.append("replications")
        reps_slot.error(
            f"Use from 1 to {core.MAX_REPLICATIONS} replications per run in the dashboard (the command line runs more)."
        )

    valid = scenario is not None and not limit_problems
    st.session_state["scenario_valid"] = valid
    if problems:
        st.error(
            f"**The edited scenario is not valid** ({len(problems)} problem{'s' if len(problems) != 1 else ''}); fix the fields marked above:\n\n"
            + "\n".join(f"- {p}" for p in problems)
        )
    label = st.text_input(
        "Label of this run (shown on Compare)",
        value=base.name + (" (edited)" if edits else ""),
        key=f"label|{token}|{bool(edits)}",
    )
    if edits and scenario is not None:
        st.caption("Changed from the file: " + ", ".join(f"`{k}` = {v}" for k, v in edits.items()))

    b1, b2 = st.columns([1, 2])
    with b1:
        clicked = st.button(
            "Run", type="primary", disabled=not valid, key="run", help=None if valid else "Fix the marked fields first."
        )
    with b2:
        yaml_text = _scenario_yaml(scenario, label) if scenario is not None else None
        if scenario is not None and yaml_text is not None:
            st.download_button(
                "Download this scenario (YAML)",
                data=yaml_text,
                file_name=f"{scenario.name}.yaml",
                mime="application/x-yaml",
                key="download",
            )

    if clicked and valid and scenario is not None:
        with core.guard("The run"):
            t0 = time.perf_counter()
            out = core.run_with_progress(scenario, int(seed), patients, replications)
            took = time.perf_counter() - t0
            rec = core.add_run(label or scenario.name, out, scenario)
            how = "from the cache" if took < out.wall_seconds / 2 else f"simulation {out.simulate_seconds:.1f} s"
            st.session_state["last_message"] = (
                f"Run {rec.label} finished: {len(out.patients):,} patients reported, {out.n_events:,} events, "
                f"ready in {took:.1f} s ({how}). See **Outcomes**, **Journeys**, **Services** and **Compare**."
            )
    if st.session_state.get("last_message"):
        st.success(st.session_state["last_message"])
        latest = core.current_run()
        if latest is not None:
            tab = core.headline_table(latest.output)
            st.dataframe(tab, hide_index=True)
