"""Shared pieces of the dashboard: limits, page text, the scenario being
edited, cached runs and the runs of the session.

The dashboard holds no model logic: scenarios are read and validated by
:mod:`sim.scenario.loader`, widgets are described by :mod:`sim.scenario.reference`, runs are
made by :func:`sim.simulate` / :func:`sim.experiments.runner.run_replications`,
outcomes by :mod:`sim.analysis.summary` and :mod:`sim.analysis.survival`, comparisons by
:mod:`sim.experiments.compare`.  Everything a page shows goes through :func:`guard`, so
an unexpected error is a short message, never a traceback.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from sim import ILLUSTRATIVE, Scenario, ScenarioError
from sim.analysis.outcomes import CATALOGUE
from sim.analysis.outcomes import HEADLINE as HEADLINE_OUTCOMES
from sim.experiments.dashboard_run import (  # noqa: F401 - the run's pieces, as the pages use them
    SWIMMER_SAMPLE,
    RunOutput,
    compute,
    from_json,
    keep_excluded,
    resolved_json,
    run_scenario_for,
)
from sim.oserrors import describe
from sim.scenario.loader import (
    SCENARIO_DIR,
    apply_overrides,
    load_raw,
    parse_scenario_bytes,
    resolve_upload,
    validate,
)
from sim.scenario.problems import Problem
from sim.scenario.reference import parameters

log = logging.getLogger("bmc_sim.dashboard")

ROOT = Path(__file__).resolve().parent.parent
TEXT_DIR = Path(__file__).resolve().parent / "text"

# limits of one run in the app (the command line has none of these)
MAX_PATIENTS = 200_000
MAX_REPLICATIONS = 20
MAX_RUNS_KEPT = 12  # runs of the session kept for Compare
MAX_COMPARE_REPLICATIONS = 10
PROGRESS_FROM_PATIENTS = 20_000  # runs this large (patients x replications) show a progress bar

# the key parameters edited with widgets on the Scenario page (dotted paths);
# their description, unit, default, range and source come from sim.scenario.reference
# (a path the schema no longer has is left out, so the page keeps working)
KEY_PARAMETERS: dict[str, list[str]] = {
    "Disease course": [
        "carcinosis.probability",
        "hypercalcemia.probability",
        "cohort.visceral_disease_probability",
        "cohort.age.mean_years",
        "progression.hazard_ratio_after_sre",
        "pain.rate_per_month",
    ],
    "Care": [
        "care.chemotherapy.uptake",
        "care.radiotherapy.single_fraction_share",
        "pain.radiotherapy_probability",
        "care.transfusion.rbc_uptake",
    ],
    "Follow-up": ["run.horizon_months"],
    "Services (capacity empty = unlimited)": [
        "services.radiotherapy.capacity",
        "services.beds.capacity",
        "services.transfusion.capacity",
    ],
    "Population (population mode only)": [
        "population.incidence_per_100k",
        "population.horizon_years",
        "population.warmup_years",
    ],
}

# outcomes shown as headline figures (path in the summary's outcomes -> label; sim.analysis.outcomes)
HEADLINE = {str(CATALOGUE[n].key): CATALOGUE[n].label for n in HEADLINE_OUTCOMES}
UNITS = {str(CATALOGUE[n].key): CATALOGUE[n].unit for n in HEADLINE_OUTCOMES}


# ----------------------------------------------------------------------------- text and errors


def text(name: str) -> str:
    """The markdown of one page (dashboard/text/NAME.md)."""
    try:
        return (TEXT_DIR / f"{name}.md").read_text(encoding="utf-8")
    except OSError:
        return ""


def page_text(name: str) -> None:
    body = text(name)
    if body:
        st.markdown(body)


class UserError(Exception):
    """A problem the person can fix; its message is shown as it is."""


@contextlib.contextmanager
def guard(what: str) -> Iterator[None]:
    """Show a friendly message instead of a traceback when ``what`` fails."""
    try:
        yield
    except ScenarioError as exc:
        st.error(f"{what}: the scenario cannot be used.\n\n" + "\n".join(f"- {p}" for p in exc.problems))
    except UserError as exc:
        st.error(f"{what}: {exc}")
    except MemoryError:
        st.error(f"{what}: not enough memory for this run. Use fewer patients or replications.")
    except OSError as exc:  # disk full, read-only, permissions: the same words as the command line
        st.error(f"{what}: {describe(exc, elsewhere=None)}")
    except Exception as exc:  # noqa: BLE001 - the page must never show a traceback
        log.exception("dashboard: %s failed", what)
        st.error(
            f"{what} did not work ({type(exc).__name__}). Try a smaller run or another scenario; "
            "the details are in the server's log."
        )


def illustrative() -> None:
    st.caption(f"⚠️ {ILLUSTRATIVE}")


# ----------------------------------------------------------------------------- scenarios


def scenario_files() -> list[str]:
    return sorted(p.name for p in SCENARIO_DIR.glob("*.yaml"))


def read_upload(name: str, data: bytes, inherited: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """Raw scenario dict of an uploaded file: size-capped, UTF-8, safe YAML,
    a mapping; ``extends:`` resolved against scenarios/ by the loader, every
    message naming the upload by its own name.  ``inherited``: filled as by
    :func:`sim.scenario.loader.load_raw`, for :func:`build`."""
    raw = parse_scenario_bytes(data, name)
    return resolve_upload(raw, name, inherited)


def load_file(name: str, inherited: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    if name not in scenario_files():
        raise ScenarioError([Problem("", f"{name} is not a scenario in scenarios/")], name)
    return load_raw(SCENARIO_DIR / name, inherited)


def build(
    raw: dict[str, Any], edits: dict[str, Any], source: str, inherited: dict[str, dict[str, str]] | None = None
) -> Scenario:
    """The validated scenario: the raw file with the widget edits laid over it."""
    data = apply_overrides(raw, edits) if edits else raw
    return validate(data, source, inherited)


def value_at(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def param_help(path: str) -> str:
    p = parameters().get(path)
    if p is None:
        return ""
    bits = [p.description]
    if p.unit:
        bits.append(f"Unit: {p.unit}.")
    if p.range_text:
        bits.append(f"Valid range: {p.range_text}.")
    bits.append(f"Default: {p.default if p.default is not None else 'none (unlimited / not set)'}.")
    if p.source:
        bits.append(f"Source: {p.source}.")
    return "  \n".join(bits)


# ----------------------------------------------------------------------------- runs


@st.cache_data(max_entries=16, show_spinner=False)
def cached_run(
    scenario_json: str, seed: int, patients: int, replications: int, _progress: Callable[[int, int], None] | None = None
) -> RunOutput:
    """One run, cached by (resolved scenario JSON, seed, patients, replications)."""
    return compute(scenario_json, seed, patients, replications, _progress)


def check_limits(patients: int, replications: int, mode: str) -> list[str]:
    problems = []
    if mode != "population" and not 1 <= patients <= MAX_PATIENTS:
        problems.append(
            f"Patients per run must be from 1 to {MAX_PATIENTS:,} in the dashboard (use the command line for larger runs)."
        )
    if not 1 <= replications <= MAX_REPLICATIONS:
        problems.append(f"Replications must be from 1 to {MAX_REPLICATIONS} in the dashboard (use the command line for more).")
    return problems


def run_with_progress(scenario: Scenario, seed: int, patients: int, replications: int) -> RunOutput:
    """Run (or fetch from the cache) with a progress bar for larger runs."""
    problems = check_limits(patients, replications, scenario.mode)
    if problems:
        raise UserError(" ".join(problems))
    key = resolved_json(scenario)
    size = (patients if scenario.mode != "population" else 10_000) * replications
    if size < PROGRESS_FROM_PATIENTS:
        with st.spinner("Running the simulation ..."):
            return cached_run(key, int(seed), int(patients), int(replications))
    bar = st.progress(0.0, text="Running the simulation ...")
    # progress updates are made in the context of the page, not of the cached
    # function, so a cache hit never replays them into a container that is gone
    ctx = contextvars.copy_context()
    unit = "replications" if replications > 1 else ("patients" if scenario.mode != "population" else "patients")

    def progress(done: int, total: int) -> None:
        try:
            frac = min(1.0, done / total) if total else 1.0
            ctx.run(bar.progress, frac, text=f"Running the simulation: {done:,} of {total:,} {unit}")
        except Exception:  # noqa: BLE001 - progress is never worth failing a run for
            pass

    try:
        return cached_run(key, int(seed), int(patients), int(replications), _progress=progress)
    finally:
        bar.empty()


@st.cache_data(max_entries=16, show_spinner=False)
def cached_analysis(scenario_json: str, seed: int, patients: int, replications: int, _df: pd.DataFrame, horizon: float) -> Any:
    """sim.analysis.survival.analyse of a run's reported patients, cached by the run's key."""
    from sim.analysis.survival import analyse

    return analyse(_df, horizon)


def analysis_of(run: RunOutput) -> Any:
    return cached_analysis(
        run.scenario_json, run.seed, run.patients_requested, run.replications, run.patients, run.horizon_months
    )


# ----------------------------------------------------------------------------- runs of the session


@dataclass
class RunRecord:
    number: int
    label: str
    output: RunOutput
    scenario: Scenario | None = None  # the scenario as run, with everything model_dump leaves out
    settings: dict[str, Any] = field(default_factory=dict)


def runs() -> list[RunRecord]:
    return st.session_state.setdefault("runs", [])


def add_run(label: str, output: RunOutput, scenario: Scenario | None = None) -> RunRecord:
    rs = runs()
    number = st.session_state.get("run_counter", 0) + 1
    st.session_state["run_counter"] = number
    as_run = run_scenario_for(scenario, output.seed, output.patients_requested) if scenario is not None else None
    rec = RunRecord(
        number,
        f"#{number} {label}",
        output,
        as_run,
        {"seed": output.seed, "patients": output.patients_requested, "replications": output.replications},
    )
    rs.append(rec)
    while len(rs) > MAX_RUNS_KEPT:
        rs.pop(0)
    st.session_state["current_run"] = number
    return rec


def current_run() -> RunRecord | None:
    rs = runs()
    n = st.session_state.get("current_run")
    for r in rs:
        if r.number == n:
            return r
    return rs[-1] if rs else None


def need_run() -> RunRecord | None:
    """The current run, or a note pointing to the Scenario page."""
    rec = current_run()
    if rec is None:
        st.info("No results yet: choose a scenario and press **Run** on the Scenario page.")
        return None
    if len(runs()) > 1:
        labels = [r.label for r in runs()]
        pick = st.selectbox("Results of run", labels, index=labels.index(rec.label), key="pick_run")
        for r in runs():
            if r.label == pick:
                st.session_state["current_run"] = r.number
                rec = r
    return rec


def headline_table(run: RunOutput) -> pd.DataFrame:
    """Headline outcomes with 95% CIs (Wilson / Kaplan-Meier for one run,
    Student-t across replications when there are several)."""
    rows = []
    for key, label in HEADLINE.items():
        node: Any = run.outcomes
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        est, (lo, hi) = node.get("estimate"), node.get("ci95", [None, None])
        reason = node.get("reason")
        method = "Kaplan-Meier" if key.startswith("survival") else "Wilson"
        if run.across is not None and f"{key}.estimate" in run.across:
            st_ = run.across[f"{key}.estimate"]
            est, (lo, hi) = st_["mean"], st_["ci95"]
            method = f"t across {run.replications} replications"
            if key.startswith("survival") and 0 < st_["n"] < run.replications:
                # missing in some replications (beyond their follow-up): no mean of the others
                est, lo, hi = None, None, None
                reason = f"not estimable in {run.replications - st_['n']} of {run.replications} replications"
        unit = UNITS[key]
        note = "" if _f(est) is not None else str(reason or "not estimable")
        rows.append(
            {
                "outcome": label,
                "estimate": _f(est),
                "lower 95%": _f(lo),
                "upper 95%": _f(hi),
                "unit": unit,
                "method": method,
                "note": note,
            }
        )
    return pd.DataFrame(rows)


def deaths_table(run: RunOutput) -> pd.DataFrame:
    d = run.outcomes["deaths"]
    rows = [
        {"cause": c.replace("_", " "), "deaths": v["count"], "share of deaths": _f(v["share_of_deaths"])}
        for c, v in d["by_cause"].items()
        if v["count"]
    ]
    rows.append({"cause": "alive at end of follow-up (censored)", "deaths": d["censored"], "share of deaths": None})
    return pd.DataFrame(rows)


def _f(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and not np.isfinite(x)) else float(x)
