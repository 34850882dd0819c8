"""The dashboard's run, without Streamlit: one scenario run (or a few
replications) with everything the dashboard's pages show of it.

:mod:`dashboard.core` caches :func:`compute` for the app; the benchmark
(:mod:`sim.experiments.bench`) measures the same function, so it times what
the app does without importing the app.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.engine.simulate import simulate
from sim.scenario.loader import with_overrides
from sim.scenario.model import Scenario

SWIMMER_SAMPLE = 40  # patients whose journeys a run keeps for the swimmer plot


def resolved_json(scenario: Scenario) -> str:
    """The canonical JSON of a scenario (the key of a cached run)."""
    return json.dumps(scenario.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def from_json(text_: str) -> Scenario:
    return Scenario.model_validate(json.loads(text_))


@dataclass
class RunOutput:
    """What the pages show of one run (cached; small enough to keep several)."""

    scenario_json: str
    name: str
    mode: str
    seed: int
    patients_requested: int
    replications: int
    patients: pd.DataFrame  # reported patients of the first replication
    outcomes: dict[str, Any]
    services: pd.DataFrame
    sample_events: pd.DataFrame
    sample_ids: list[int]
    replication_table: pd.DataFrame | None
    across: dict[str, dict[str, Any]] | None
    n_events: int
    simulate_seconds: float
    wall_seconds: float
    horizon_months: float

    @property
    def scenario(self) -> Scenario:
        return from_json(self.scenario_json)


def run_scenario_for(scenario: Scenario, seed: int, patients: int) -> Scenario:
    """The scenario as run: the seed and cohort size of the run settings.

    Fields the scenario leaves out of its dump (they do not change a run, e.g.
    the uncertainty distributions) are carried over from the original."""
    s = with_overrides(scenario, {"run.seed": int(seed), "run.patients": int(patients), "run.replication": 0})
    return keep_excluded(s, scenario)


def keep_excluded(copy: Scenario, original: Scenario) -> Scenario:
    """``copy`` with the values of ``original``'s fields that ``model_dump`` leaves out."""
    update = {
        n: getattr(original, n)
        for n, f in type(original).model_fields.items()
        if f.exclude and getattr(copy, n, None) != getattr(original, n)
    }
    return copy.model_copy(update=update) if update else copy


def compute(
    scenario_json: str, seed: int, patients: int, replications: int, progress: Callable[[int, int], None] | None
) -> RunOutput:
    from sim.analysis.summary import outcomes
    from sim.experiments.replications import across
    from sim.experiments.runner import run_replications

    t0 = time.perf_counter()
    s = run_scenario_for(from_json(scenario_json), seed, patients)
    tables: list[Any] = []
    if replications == 1:
        res = simulate(s, keep_events=False, event_sink=tables.append, progress=progress)
        table = None
        stats = None
    else:
        reps = run_replications(s, replications, first_sink=tables.append, progress=progress)
        res = reps.first
        table = reps.table
        stats = across(table)
    df = res.reported_patients
    ids = _sample(df, seed)
    events = _events_of(tables, ids)
    return RunOutput(
        scenario_json=resolved_json(s),
        name=s.name,
        mode=s.mode,
        seed=int(seed),
        patients_requested=int(patients),
        replications=int(replications),
        patients=df,
        outcomes=outcomes(df),
        services=res.services,
        sample_events=events,
        sample_ids=[int(i) for i in ids],
        replication_table=table,
        across=stats,
        n_events=int(res.n_events),
        simulate_seconds=float(res.wall_seconds),
        wall_seconds=time.perf_counter() - t0,
        horizon_months=float(res.report_to_months - res.report_from_months)
        if s.mode == "population"
        else float(s.run.horizon_months),
    )


def _sample(df: pd.DataFrame, seed: int) -> np.ndarray:
    from sim.present.course_figures import sample_ids

    return sample_ids(df, SWIMMER_SAMPLE, seed)


def _events_of(tables: list[Any], ids: np.ndarray) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.compute as pc

    cols = ["patient_id", "time_months", "event", "detail"]
    if not tables:
        return pd.DataFrame({c: [] for c in cols})
    keep = pa.array(ids, type=pa.int64())
    parts = [t.filter(pc.is_in(t["patient_id"], value_set=keep)).select(cols) for t in tables]
    out = pa.concat_tables(parts, promote_options="permissive").to_pandas()
    out["event"] = out["event"].astype(str)
    out["detail"] = out["detail"].astype(str)
    return out
