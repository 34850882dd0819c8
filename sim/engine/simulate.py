"""Running a scenario: SimPy environment, patient processes, services,
chunked recording.

Cohort mode with every service unlimited: patients do not interact, so the
cohort runs in chunks of patients, each in its own SimPy environment;
because random numbers are addressed by (seed, replication, patient,
process) the result is the same for any chunk size.  With a finite service,
or in population mode, all patients share one environment and queue for the
same places.
"""

from __future__ import annotations

import ctypes
import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import simpy

from sim.engine.streams import PatientStreams, uniforms
from sim.kernel.care import Care
from sim.kernel.constants import compile_scenario
from sim.kernel.course import STREAM_SIZES, Patient, run_direct
from sim.kernel.events import CAUSES, Recorder, typed_array
from sim.kernel.services import MONTHS_PER_YEAR, SERVICES, Pools, ServiceLog, service_table
from sim.kernel.vocabulary import ARRIVAL_PROCESS, COUNT, FLAG, GRADE, ID, MONTHS, PATIENT_COLUMN_KIND, PATIENT_COLUMNS
from sim.scenario.fields import AGENTS, PRIMARIES
from sim.scenario.model import Scenario

DEFAULT_CHUNK = 5_000
P_ARRIVALS = ARRIVAL_PROCESS  # stream process id of the arrival process (not a patient process)
ARRIVAL_STREAM_ID = 2**32 - 1  # the arrival stream's "patient" address
PREVALENT_ID0 = 2**31  # prevalent patients' ids start here, so arrivals keep their ids across scenarios
USE_DIRECT = True  # uncapacitated cohorts run without SimPy's scheduler (same tables; tests compare both)


@dataclass
class RunResult:
    """What one run produced: the patients table, the events (unless streamed
    elsewhere), service use per year, and run facts."""

    scenario: Scenario
    patients: pd.DataFrame
    events: pa.Table | None
    services: pd.DataFrame
    service_log: pd.DataFrame
    n_events: int
    wall_seconds: float
    n_timeouts: int = 0
    labs: pa.Table | None = None  # kept trajectories: patient_id, time_months, analyte, value
    report_from_months: float = 0.0
    report_to_months: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def reported_patients(self) -> pd.DataFrame:
        """Patients whose outcomes are reported (population mode: entered after warm-up)."""
        if self.scenario.mode == "population":
            return self.patients[self.patients["entry_months"] >= self.report_from_months].reset_index(drop=True)
        return self.patients

    @property
    def service_requests(self) -> dict[str, int]:
        return {n: int(self.services.loc[self.services["service"] == n, "requests"].sum()) for n in SERVICES}

    @property
    def service_units(self) -> dict[str, float]:
        return {n: float(self.services.loc[self.services["service"] == n, "units"].sum()) for n in SERVICES}


def arrival_times(scenario: Scenario) -> np.ndarray:
    """Calendar months of Poisson arrivals over the population horizon,
    from their own random stream (the same arrivals in every scenario with
    the same incidence and seed)."""
    pop = scenario.population
    assert pop is not None
    rate = pop.arrivals_per_year / MONTHS_PER_YEAR
    end = pop.horizon_years * MONTHS_PER_YEAR
    times: list[np.ndarray] = []
    t, block = 0.0, 0
    ids = np.array([ARRIVAL_STREAM_ID])
    while t < end:
        n = 4096
        u = uniforms(scenario.run.seed, scenario.run.replication, ids, P_ARRIVALS, block, n // 2)[0]
        block += n // 2
        gaps = -np.log(u) / rate
        cum = t + np.cumsum(gaps)
        times.append(cum[cum < end])
        t = float(cum[-1])
    return np.concatenate(times) if times else np.empty(0)


def _run_group(
    scenario: Scenario,
    ids: np.ndarray,
    entries: np.ndarray | None,
    end: float,
    rec: Recorder,
    log: ServiceLog,
    finite: bool,
    m: Any,
) -> None:
    streams = PatientStreams(scenario.run.seed, scenario.run.replication, ids, STREAM_SIZES)
    if USE_DIRECT and not finite and entries is None:
        # course after course, in id order: the events and requests come in the canonical order
        run_direct(m, Care(m, None, log), rec, streams, len(ids), end)
        return
    env = simpy.Environment()
    pools = Pools(env, scenario) if finite else None
    care = Care(m, pools, log)
    patients = []
    for i in range(len(ids)):
        entry = float(entries[i]) if entries is not None else 0.0
        p = Patient(env, m, care, rec, streams, i, entry, end)
        p.proc = env.process(p.course())
        patients.append(p)
    if finite and np.isfinite(end):
        env.run(until=end)
        # courses still open at the end of the run are censored there, never dropped
        for p in patients:
            if not p.done:
                p.close_at_horizon()
    else:
        env.run()
    # the courses shared one scheduler: their events and requests sorted (stably) into the canonical order
    rec.canonical()
    log.canonical()


def run_chunk(scenario: Scenario, ids: np.ndarray, recorder: Recorder, log: ServiceLog | None = None) -> None:
    """Simulate cohort patients ``ids`` (entering at time 0) in one SimPy
    environment; rows and events go to ``recorder``."""
    m = compile_scenario(scenario)
    finite = any(getattr(scenario.services, n).capacity is not None for n in SERVICES)
    _run_group(
        scenario, np.asarray(ids, dtype=np.int64), None, scenario.run.horizon_months, recorder, log or ServiceLog(), finite, m
    )


def _column(name: str, values: Any) -> Any:
    """One column of the patients table in its final type (its kind in
    :data:`sim.kernel.vocabulary.PATIENT_COLUMN_SPECS`), straight from the rows."""
    kind = PATIENT_COLUMN_KIND[name]
    if name == "primary":
        return pd.Categorical.from_codes(np.asarray(values, dtype=np.int8), categories=list(PRIMARIES))
    if name == "bone_targeted_agent":
        return pd.Categorical.from_codes(np.asarray(values, dtype=np.int8), categories=list(AGENTS))
    if name == "death_cause":
        return pd.Categorical(list(values), categories=list(CAUSES))
    if kind == MONTHS:
        x = np.asarray(values, dtype=np.float64)
        x[~np.isfinite(x)] = np.nan
        return x
    if kind == COUNT:
        return typed_array(values, np.int32)
    if kind == GRADE:
        return typed_array(values, np.int8)
    if kind == FLAG:
        return typed_array(values, np.bool_)
    if kind == ID:
        return typed_array(values, np.int64)
    return np.asarray(values, dtype=np.float64)


def release_freed_memory() -> None:
    """Hand memory freed by joined chunks back to the operating system
    (glibc keeps freed heap memory for reuse; the next large table would
    otherwise add to the peak).  Does nothing where there is no glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def patient_parts(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The columns of the patients table for one chunk's rows, each converted
    once, straight to its final type (arrays and categoricals)."""
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [[] for _ in PATIENT_COLUMNS]
    out = {name: _column(name, col) for name, col in zip(PATIENT_COLUMNS, cols, strict=True)}
    out["censored"] = np.isnan(out["death_months"])
    return out


def parts_of(df: pd.DataFrame) -> dict[str, Any]:
    """A patients table as independent columns (for :func:`join_patients`)."""
    return {c: df[c].array if isinstance(df[c].dtype, pd.CategoricalDtype) else df[c].to_numpy() for c in df.columns}


def join_patients(parts: list[dict[str, Any]]) -> pd.DataFrame:
    """One patients table from the columns of each chunk, joined column by
    column and each chunk's column released as it is joined, so joining
    needs one column's copy at a time rather than the whole table twice.
    ``parts`` is emptied."""
    data: dict[str, Any] = {}
    for c in list(parts[0]):
        pieces = [p.pop(c) for p in parts]
        if isinstance(pieces[0], pd.Categorical):
            data[c] = pd.Categorical.from_codes(np.concatenate([x.codes for x in pieces]), categories=pieces[0].categories)
        else:
            data[c] = np.concatenate(pieces)
        del pieces
    parts.clear()
    return pd.DataFrame(data, copy=False)


def patients_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Build the patients table once from the per-patient rows."""
    return pd.DataFrame(patient_parts(rows))


def simulate(
    scenario: Scenario,
    *,
    first_id: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    keep_events: bool = True,
    event_sink: Callable[[pa.Table], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    keep_service_log: bool = True,
    services_table: bool = True,
) -> RunResult:
    """Simulate a scenario.

    Cohort mode: ``scenario.run.patients`` patients (ids ``first_id`` ...)
    at time 0.  Population mode: Poisson arrivals over
    ``population.horizon_years`` (plus any prevalent patients at time 0).
    Events are handed chunk by chunk to ``event_sink`` (e.g. a Parquet
    writer) and/or kept in memory (``keep_events``).  With
    ``keep_service_log=False`` the request-level service log is dropped once
    the per-year ``services`` table is built (about 40 bytes per request).
    With ``services_table=False`` that table is not built (``services`` is
    empty): for a part of a cohort whose requests are tabulated with the rest.
    """
    with few_collections():
        return _simulate(scenario, first_id, chunk_size, keep_events, event_sink, progress, keep_service_log, services_table)


@contextmanager
def few_collections() -> Iterator[None]:
    """No cyclic garbage collection while courses run: courses allocate many
    short-lived objects but make no reference cycles (a whole run leaves a
    few dozen cyclic objects, measured), and the collector's passes over
    every long-lived object took 11% of a cohort run.  Also used while a
    parallel run's driver gathers the tasks' results and while a results
    folder is written (0.3 s of collections per 400,000 patients, measured).
    Restored afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _simulate(
    scenario: Scenario,
    first_id: int,
    chunk_size: int,
    keep_events: bool,
    event_sink: Callable[[pa.Table], None] | None,
    progress: Callable[[int, int], None] | None,
    keep_service_log: bool = True,
    services_table: bool = True,
) -> RunResult:
    t0 = time.perf_counter()
    m = compile_scenario(scenario)
    rec = Recorder()
    log = ServiceLog()
    frames: list[dict[str, Any]] = []  # the patients table's columns, per chunk
    tables: list[pa.Table] = []
    lab_tables: list[pa.Table] = []
    finite = any(getattr(scenario.services, n).capacity is not None for n in SERVICES)

    def collect() -> None:
        rec.rows.sort(key=itemgetter(0))
        frames.append(patient_parts(rec.rows))  # built per chunk: memory stays flat
        log.seal()
        if rec.labs:
            rec.labs.sort(key=itemgetter(0, 1, 2))
            lab_tables.append(rec.labs_table())
        if event_sink is not None or keep_events:
            tab = rec.table()
            if event_sink is not None:
                event_sink(tab)
            if keep_events:
                tables.append(tab)
        else:
            rec.n_events += len(rec.pid)  # counted, no table built
        rec.clear()

    if scenario.mode == "population":
        pop = scenario.population
        assert pop is not None
        end = pop.horizon_years * MONTHS_PER_YEAR
        arrivals = arrival_times(scenario)
        prevalent = np.arange(PREVALENT_ID0, PREVALENT_ID0 + pop.prevalent_patients, dtype=np.int64)
        ids = np.concatenate([np.arange(len(arrivals), dtype=np.int64), prevalent])
        entries = np.concatenate([arrivals, np.zeros(len(prevalent))])
        _run_group(scenario, ids, entries, end, rec, log, finite, m)
        collect()
        if progress is not None:
            progress(len(ids), len(ids))
        report_from, report_to = pop.warmup_years * MONTHS_PER_YEAR, end
    else:
        n = scenario.run.patients
        size = n if finite else chunk_size
        done = 0
        for start in range(first_id, first_id + n, size):
            ids = np.arange(start, min(start + size, first_id + n), dtype=np.int64)
            _run_group(scenario, ids, None, scenario.run.horizon_months, rec, log, finite, m)
            collect()
            done += len(ids)
            if progress is not None:
                progress(done, n)
        report_from, report_to = 0.0, scenario.run.horizon_months
    patients = join_patients(frames)
    release_freed_memory()
    slog = log.frame()
    release_freed_memory()
    if services_table:
        death_cal = (patients["entry_months"] + patients["death_months"]).set_axis(patients["patient_id"])
        services = service_table(slog, scenario, report_from, report_to, death_cal)
        release_freed_memory()
    else:
        services = pd.DataFrame()
    events = None
    if keep_events:
        events = pa.concat_tables(tables).unify_dictionaries() if tables else None
    return RunResult(
        scenario=scenario,
        patients=patients,
        events=events,
        services=services,
        service_log=slog if keep_service_log else slog.iloc[:0].copy(),
        n_events=rec.n_events,
        n_timeouts=rec.n_timeouts,
        labs=pa.concat_tables(lab_tables).unify_dictionaries() if lab_tables else None,
        wall_seconds=time.perf_counter() - t0,
        report_from_months=report_from,
        report_to_months=report_to,
    )
