"""Running a cohort: SimPy environment, patient processes, chunked recording.

With unlimited service capacity patients do not interact, so the cohort runs
in chunks of patients, each in its own SimPy environment; because random
numbers are addressed by (seed, replication, patient, process), the result
is the same for any chunk size.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import simpy

from .care import SERVICES, Care
from .compiled import compile_scenario
from .course import PATIENT_COLUMNS, STREAM_SIZES, Patient
from .events import CAUSES, Recorder
from .params import AGENTS, PRIMARIES
from .rng import PatientStreams
from .scenario import Scenario

DEFAULT_CHUNK = 5_000


@dataclass
class RunResult:
    """What one run produced: the patients table, the events (unless streamed
    elsewhere), service use, and run facts."""

    scenario: Scenario
    patients: pd.DataFrame
    events: pa.Table | None
    service_requests: dict[str, int]
    service_units: dict[str, float]
    n_events: int
    wall_seconds: float
    meta: dict[str, Any] = field(default_factory=dict)


def run_chunk(scenario: Scenario, ids: np.ndarray, recorder: Recorder, care: Care | None = None) -> Care:
    """Simulate the patients ``ids`` in one SimPy environment; rows and
    events go to ``recorder``."""
    m = compile_scenario(scenario) if care is None else care.m
    care = care or Care(m)
    env = simpy.Environment()
    streams = PatientStreams(scenario.run.seed, scenario.run.replication, ids, STREAM_SIZES)
    for i in range(len(ids)):
        env.process(Patient(env, m, care, recorder, streams, i).course())
    env.run()
    return care


def patients_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Build the patients table once from the per-patient rows."""
    cols = list(zip(*rows)) if rows else [[] for _ in PATIENT_COLUMNS]
    df = pd.DataFrame({name: list(col) for name, col in zip(PATIENT_COLUMNS, cols)})
    df["primary"] = pd.Categorical.from_codes(np.asarray(df["primary"], dtype=np.int8), categories=list(PRIMARIES))
    df["bone_targeted_agent"] = pd.Categorical.from_codes(
        np.asarray(df["bone_targeted_agent"], dtype=np.int8), categories=list(AGENTS)
    )
    df["death_cause"] = pd.Categorical(df["death_cause"], categories=list(CAUSES))
    inf_cols = [c for c in PATIENT_COLUMNS if c.endswith("_months")]
    for c in inf_cols:
        df[c] = np.asarray(df[c], dtype=np.float64)
        df.loc[~np.isfinite(df[c]), c] = np.nan
    df.insert(5, "entry_months", 0.0)
    df["censored"] = df["death_months"].isna()
    for c in ("n_sre", "n_pain_episodes", "n_hypercalcemia", "n_radiotherapy_courses", "n_radiotherapy_fractions",
              "n_radionuclide", "n_chemo_cycles", "n_rbc_units", "n_platelet_units", "n_surgery", "n_admissions",
              "n_scintigraphy", "n_biopsy"):
        df[c] = np.asarray(df[c], dtype=np.int32)
    for c in ("worst_anemia_grade", "worst_thrombocytopenia_grade", "worst_leukopenia_grade"):
        df[c] = np.asarray(df[c], dtype=np.int8)
    for c in ("visceral_disease", "dic", "leukoerythroblastic", "paralysis", "chemotherapy", "remission",
              "anemia_at_onset", "thrombocytopenia_at_onset", "leukopenia_at_onset"):
        df[c] = np.asarray(df[c], dtype=bool)
    df["patient_id"] = np.asarray(df["patient_id"], dtype=np.int64)
    return df


def simulate(
    scenario: Scenario,
    *,
    first_id: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    keep_events: bool = True,
    event_sink: Callable[[pa.Table], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Simulate ``scenario.run.patients`` patients (ids ``first_id`` ...).

    Events are handed chunk by chunk to ``event_sink`` (e.g. a Parquet
    writer) and/or kept in memory (``keep_events``).
    """
    t0 = time.perf_counter()
    n = scenario.run.patients
    m = compile_scenario(scenario)
    care = Care(m)
    rec = Recorder()
    rows: list[tuple[Any, ...]] = []
    tables: list[pa.Table] = []
    done = 0
    for start in range(first_id, first_id + n, chunk_size):
        ids = np.arange(start, min(start + chunk_size, first_id + n), dtype=np.int64)
        rec.clear()
        run_chunk(scenario, ids, rec, care)
        rows.extend(rec.rows)
        tab = rec.table()
        if event_sink is not None:
            event_sink(tab)
        if keep_events:
            tables.append(tab)
        done += len(ids)
        if progress is not None:
            progress(done, n)
    rows.sort(key=lambda r: r[0])
    patients = patients_frame(rows)
    events = None
    if keep_events:
        events = pa.concat_tables(tables).unify_dictionaries() if tables else None
    return RunResult(
        scenario=scenario,
        patients=patients,
        events=events,
        service_requests=dict(zip(SERVICES, care.requests)),
        service_units=dict(zip(SERVICES, care.units)),
        n_events=rec.n_events,
        wall_seconds=time.perf_counter() - t0,
    )
