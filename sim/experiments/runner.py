"""The one runner: a scenario, a backend, a results folder.

:func:`run` simulates a scenario, once or as replications, on a
:class:`Backend` (this process, local worker processes, or a Dask cluster)
and writes one results folder through :func:`sim.outputs.results.write_results`,
the one writer of the folder's files.  ``run``, ``run --replications`` and
``compare`` all go through here; the older entry points
(:func:`sim.experiments.runner.run_to_folder`,
:func:`sim.experiments.runner.replications_to_folder` and
``run_replications``, and their namesakes in :mod:`sim.runtime.parallel`)
call it with the backend they name.

The work is a list of tasks mapped by :func:`sim.runtime.parallel.imap`; the
serial run is its one-worker case:

- a cohort: with one worker (or when patients interact: a finite service,
  population mode; or when the cohort fits one engine chunk) it is one task,
  run in this process with its events streamed to the folder; otherwise
  chunks of patients (:func:`sim.runtime.cohort_task`) whose tables
  are put together in task order, byte for byte as the one task writes them;
- replications: one task per replication
  (:func:`sim.runtime.replication_task`), in order, whose rows feed
  the stopping rule (:class:`sim.experiments.replications.Tally`) one at a
  time, so ``auto`` stops at the same replication on every backend.

The same seed gives the same bytes on every backend and worker count.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from sim.engine.simulate import DEFAULT_CHUNK, RunResult, few_collections, parts_of, release_freed_memory, simulate
from sim.experiments.replications import DEFAULT_CAP, DEFAULT_PRECISION, Replications, replicated_summary
from sim.kernel.services import SERVICES, service_table
from sim.runtime import parallel
from sim.runtime.dask_backend import connect
from sim.runtime.workers import check_workers
from sim.scenario.model import Scenario

MAX_CHUNKS_PER_TASK = 10  # engine chunks of DEFAULT_CHUNK patients per task
GUIDED = 4  # each task takes about 1/(GUIDED x workers) of the chunks still to do

Progress = Callable[[int, int], None]
Extra = Callable[[Path, RunResult, dict[str, Any]], None]


@dataclass(frozen=True)
class Backend:
    """Where the tasks run: ``workers`` local processes (1: this process), or
    the Dask cluster at ``scheduler``."""

    workers: int = 1
    scheduler: str | None = None

    @classmethod
    def of(cls, workers: int | None = None, scheduler: str | None = None) -> Backend:
        """A checked backend (``workers`` None: the machine's cores); BackendError if unusable."""
        return cls(check_workers(workers), scheduler or None)

    @property
    def in_process(self) -> bool:
        """One worker, no cluster: the tasks run in this process, one after another."""
        return self.workers == 1 and not self.scheduler

    def describe(self) -> str:
        return parallel.describe(self.workers, self.scheduler)

    def check(self) -> None:
        """An unreachable scheduler: BackendError within seconds, before anything is written."""
        if self.scheduler:
            connect(self.scheduler).close()

    def imap(self, fn: Callable[[Any], Any], specs: Any, *, ordered: bool = True) -> Generator[tuple[int, Any], None, None]:
        return parallel.imap(fn, specs, workers=self.workers, scheduler=self.scheduler, ordered=ordered)


SERIAL = Backend()


def run(
    scenario: Scenario,
    out: Path,
    *,
    replications: int | str = 1,
    backend: Backend = SERIAL,
    fmt: str = "parquet",
    force: bool = False,
    precision: float = DEFAULT_PRECISION,
    cap: int = DEFAULT_CAP,
    progress: Progress | None = None,
    extra: Extra | None = None,
) -> tuple[RunResult | Replications, dict[str, Any]]:
    """Run ``scenario`` (``replications``: 1, a number, or ``"auto"``) on
    ``backend`` and write the results folder ``out`` atomically (claimed,
    staged, summary.json last).  Returns the run (a :class:`RunResult`, or
    the :class:`Replications`) and the summary document.

    ``extra(tmp, result, doc)`` may add files before summary.json is written."""
    from sim.outputs.folder import staged_output
    from sim.outputs.paths import write_json
    from sim.outputs.results import _EventWriter, write_results

    backend.check()  # fail fast, before the folder is touched
    with staged_output(Path(out), force) as tmp, ThreadPoolExecutor(max_workers=1) as helper:
        t0 = time.perf_counter()
        writer = _EventWriter(tmp / f"events.{fmt}", fmt)
        reps: Replications | None = None
        services: Future[pd.DataFrame] | None = None
        try:
            if replications == 1:
                result, services, ran = simulate_cohort(scenario, backend, writer, progress, helper)
            else:
                reps = replicate(
                    scenario, replications, backend, precision=precision, cap=cap, first_sink=writer, progress=progress
                )
                result, ran = reps.first, backend.describe()
        finally:
            writer.close()
        summarise = (lambda doc: replicated_summary(doc, reps)) if reps is not None else None
        doc = write_results(
            tmp, result, fmt, t0, replications=reps, timing={"workers": ran}, services=services, summarise=summarise
        )
        if extra is not None:
            extra(tmp, result, doc)
        write_json(tmp / "summary.json", doc)  # written last: its presence marks a complete folder
    return (reps if reps is not None else result), doc


# ----------------------------------------------------------------------------- a cohort


def simulate_cohort(
    scenario: Scenario,
    backend: Backend,
    sink: Callable[[pa.Table], None],
    progress: Progress | None = None,
    helper: ThreadPoolExecutor | None = None,
) -> tuple[RunResult, Future[pd.DataFrame] | None, str]:
    """One cohort run, its events to ``sink`` in order: the result, its per-year
    services table if still being built (on ``helper``), and what ran it."""
    if backend.in_process or not chunkable(scenario) or scenario.run.patients <= DEFAULT_CHUNK:
        # one task, in this process: the events stream to the sink as they are made
        return (
            simulate(scenario, keep_events=False, event_sink=sink, progress=progress, keep_service_log=False),
            None,
            SERIAL.describe(),
        )
    return _chunked(scenario, backend, sink, progress, helper)


def _import_summary_libraries() -> None:
    import lifelines  # noqa: F401  (about a second of imports the summary needs at the end)


def _chunked(
    scenario: Scenario,
    backend: Backend,
    sink: Callable[[pa.Table], None],
    progress: Progress | None,
    helper: ThreadPoolExecutor | None,
) -> tuple[RunResult, Future[pd.DataFrame] | None, str]:
    """The cohort in chunks of patients over the backend's workers."""
    data = scenario.model_dump(mode="json")
    plan = chunk_plan(scenario.run.patients, backend.workers)
    specs = [(data, first, count) for first, count in plan]
    # the summary's survival estimator is imported while the workers run, not after them
    threading.Thread(target=_import_summary_libraries, daemon=True).start()
    with few_collections():
        t0 = time.perf_counter()
        columns = _PatientColumns(scenario.run.patients)
        logs: list[pd.DataFrame] = []
        lab_tables: list[pa.Table] = []
        n_events = n_timeouts = done = 0
        details = _Details()
        for i, r in backend.imap(cohort_task, specs):
            for table in r["tables"]:
                sink(details(table))
            columns.put(plan[i][0], r.pop("patients"))
            logs.append(r["service_log"])
            if r["labs"] is not None:
                lab_tables.append(r["labs"])
            n_events += r["n_events"]
            n_timeouts += r["n_timeouts"]
            done += plan[i][1]
            if progress is not None:
                progress(done, scenario.run.patients)
        patients = columns.frame()
        release_freed_memory()
    horizon = scenario.run.horizon_months
    death_cal = (patients["entry_months"] + patients["death_months"]).set_axis(patients["patient_id"])
    empty_log = logs[0].iloc[:0].copy()  # the request-level log is not written
    # the per-year table (mostly NumPy, outside the GIL) is built from the tasks' request
    # logs while the outcomes are estimated
    services: Future[pd.DataFrame]
    if helper is not None:
        services = helper.submit(service_table, logs, scenario, 0.0, horizon, death_cal)
    else:
        services = Future()
        services.set_result(service_table(logs, scenario, 0.0, horizon, death_cal))
    result = RunResult(
        scenario=scenario,
        patients=patients,
        events=None,
        services=pd.DataFrame(),  # set by write_results once built
        service_log=empty_log,
        n_events=n_events,
        n_timeouts=n_timeouts,
        wall_seconds=time.perf_counter() - t0,
        report_from_months=0.0,
        report_to_months=horizon,
        meta={"workers": backend.describe(), "tasks": len(plan)},
        labs=pa.concat_tables(lab_tables).unify_dictionaries() if lab_tables else None,
    )
    return result, services, backend.describe()


# ----------------------------------------------------------------------------- replications


def replicate(
    scenario: Scenario,
    replications: int | str,
    backend: Backend = SERIAL,
    *,
    precision: float = DEFAULT_PRECISION,
    cap: int = DEFAULT_CAP,
    outcomes: list[str] | None = None,
    first_sink: Callable[[pa.Table], None] | None = None,
    progress: Progress | None = None,
) -> Replications:
    """Replications of ``scenario`` (a number, or ``"auto"``) on ``backend``.

    One task per replication, taken in order; ``auto`` runs them in batches
    and applies the stopping rule replication by replication, so it stops
    where one process stops (replications computed beyond that are dropped).
    The first replication's events go to ``first_sink``: streamed as they are
    made in this process, or sent back with its result by a worker."""
    from sim.experiments.replications import INITIAL, Tally

    tally = Tally(replications, precision, cap, outcomes, progress)
    data = scenario.model_dump(mode="json")
    base = scenario.run.replication
    task: Callable[[Any], Any] = replication_task
    if backend.in_process and first_sink is not None:
        task = functools.partial(replication_task, sink=first_sink)
    first: RunResult | None = None
    stop = False
    batch = tally.target if not tally.auto else max(backend.workers * 2, INITIAL)
    while tally.n < tally.target and not stop:
        n = tally.n
        specs = ((data, base + k, k == 0) for k in range(n, min(tally.target, n + batch)))  # taken as needed
        with contextlib.closing(backend.imap(task, specs)) as results:
            for _, r in results:
                if "result" in r:
                    first = RunResult(scenario=scenario, events=None, **r["result"])
                    if first_sink is not None:
                        for t in r["tables"]:  # from a worker; one task: its dictionary is already the run's
                            first_sink(t)
                if tally.add(r["row"]):
                    stop = True  # the replications still running are not wanted: closing stops them
                    break
    return tally.result(first)


# ----------------------------------------------------------------------------- chunked cohorts


def chunkable(scenario: Scenario) -> bool:
    """Cohort mode with every service unlimited: patients do not interact."""
    return scenario.mode == "cohort" and all(getattr(scenario.services, n).capacity is None for n in SERVICES)


def chunk_plan(patients: int, workers: int) -> list[tuple[int, int]]:
    """(first id, count) per task: whole engine chunks in tasks that shrink
    towards the end (guided scheduling: each takes about 1/(4 x workers) of
    what is left, at most MAX_CHUNKS_PER_TASK chunks), so the workers finish
    within a short task of each other."""
    chunks = math.ceil(patients / DEFAULT_CHUNK)
    plan: list[tuple[int, int]] = []
    c = 0
    while c < chunks:
        per = max(1, min(MAX_CHUNKS_PER_TASK, math.ceil((chunks - c) / (GUIDED * max(1, workers)))))
        first = c * DEFAULT_CHUNK
        plan.append((first, min(per * DEFAULT_CHUNK, patients - first)))
        c += per
    return plan


def _scenario_from(data: dict[str, Any], overrides: dict[str, Any] | None = None) -> Scenario:
    from sim.scenario.loader import apply_overrides, validate

    return validate(apply_overrides(data, overrides) if overrides else data, "task")


def cohort_task(spec: tuple[dict[str, Any], int, int]) -> dict[str, Any]:
    """Simulate patients ``first .. first + count - 1`` of a cohort; events per engine chunk."""
    data, first, count = spec
    s = _scenario_from(data, {"run.patients": count})
    tables: list[pa.Table] = []
    # the per-year service table is built by the driver from every task's requests
    res = simulate(s, first_id=first, keep_events=False, event_sink=tables.append, services_table=False)
    return {
        "patients": parts_of(res.patients),  # independent columns: the driver joins them column by column
        "tables": tables,
        "labs": res.labs,
        "service_log": res.service_log,
        "n_events": res.n_events,
        "n_timeouts": res.n_timeouts,
        "wall_seconds": res.wall_seconds,
    }


class _Details:
    """Re-encodes each chunk's ``detail`` dictionary as one serial run would
    have built it: strings interned in order of first use across the whole
    run (a task interns only its own), so the event files are byte-identical.

    The chunks of one task carry one growing dictionary (its earlier strings
    keep their codes), so only the strings past the part already mapped are
    looked up; a dictionary that does not extend the last one (the next
    task's) is mapped from its start."""

    def __init__(self) -> None:
        self.strings: list[str] = [""]
        self.code: dict[str, int] = {"": 0}
        self.dictionary = pa.array(self.strings, type=pa.string())  # the run's strings so far, as Arrow
        self.local: pa.Array = pa.array([], type=pa.string())  # the last chunk's own dictionary
        self.mapping: list[int] = []  # its codes -> the run's codes

    def __call__(self, table: pa.Table) -> pa.Table:
        col = table.column("detail").combine_chunks()
        local = col.dictionary
        if len(local) < len(self.local) or not local.slice(0, len(self.local)).equals(self.local):
            self.mapping = []  # another task's dictionary
        added = len(self.strings)
        for s in local.slice(len(self.mapping)).to_pylist():
            c = self.code.get(s)
            if c is None:
                c = self.code[s] = len(self.strings)
                self.strings.append(s)
            self.mapping.append(c)
        self.local = local
        if len(self.strings) > added:
            self.dictionary = pa.concat_arrays([self.dictionary, pa.array(self.strings[added:], type=pa.string())])
        mapping = np.asarray(self.mapping, dtype=np.int32)
        idx = mapping[col.indices.to_numpy(zero_copy_only=False)] if len(col) else np.asarray([], dtype=np.int32)
        det = pa.DictionaryArray.from_arrays(pa.array(idx), self.dictionary)
        return table.set_column(table.schema.get_field_index("detail"), table.schema.field("detail"), det)


class _PatientColumns:
    """The patients table of a cohort run in tasks: each task's columns are
    copied into place as its result arrives, while the other tasks still run,
    instead of joined after the last one; the same table as
    :func:`sim.engine.simulate.join_patients` of the tasks' parts in order."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.cols: dict[str, np.ndarray] = {}
        self.categories: dict[str, pd.Index] = {}
        self.filled = 0

    def put(self, first: int, part: dict[str, Any]) -> None:
        """Rows ``first ..`` from one task's columns (:func:`sim.engine.simulate.parts_of`)."""
        rows = 0
        for c, v in part.items():
            if isinstance(v, pd.Categorical):
                cats = self.categories.setdefault(c, v.categories)
                if not v.categories.equals(cats):
                    raise ValueError(f"patients column {c!r}: tasks returned different categories")
                v = v.codes
            col = self.cols.get(c)
            if col is None:
                col = self.cols[c] = np.empty(self.n, dtype=v.dtype)
            elif col.dtype != v.dtype:  # the common type, as joining the parts would give
                col = self.cols[c] = col.astype(np.result_type(col.dtype, v.dtype))
            col[first : first + len(v)] = v
            rows = len(v)
        self.filled += rows

    def frame(self) -> pd.DataFrame:
        if self.filled != self.n:
            raise ValueError(f"the tasks returned {self.filled} patients of {self.n}")
        data = {
            c: pd.Categorical.from_codes(x, categories=self.categories[c]) if c in self.categories else x
            for c, x in self.cols.items()
        }
        self.cols.clear()
        return pd.DataFrame(data, copy=False)


# ----------------------------------------------------------------------------- replications


def replication_task(spec: tuple[dict[str, Any], int, bool], sink: Callable[[pa.Table], None] | None = None) -> dict[str, Any]:
    """One replication: its row of outcomes (and, for the first, its tables:
    given to ``sink`` as they are made when the task runs in the driver, else
    returned)."""
    from sim.experiments.replications import replication_values, reported, service_values

    data, index, first = spec
    s = _scenario_from(data, {"run.replication": index})
    tables: list[pa.Table] = []
    res = simulate(s, keep_events=False, event_sink=(sink or tables.append) if first else None)
    row = {"replication": float(index), "patients": float(len(res.patients)), "wall_seconds": res.wall_seconds}
    row.update(replication_values(reported(res)))
    row.update(service_values(res))
    out: dict[str, Any] = {"row": row}
    if first:  # the scenario itself stays here (its classes are built at import, not picklable by name)
        out["result"] = {
            k: getattr(res, k)
            for k in (
                "patients",
                "services",
                "service_log",
                "n_events",
                "wall_seconds",
                "n_timeouts",
                "report_from_months",
                "report_to_months",
                "labs",
                "meta",
            )
        }
        out["tables"] = tables
    return out


# ----------------------------------------------------------------------------- entry points by backend


def run_to_folder(
    scenario: Scenario,
    out: Path,
    *,
    workers: int | None = 1,
    scheduler: str | None = None,
    fmt: str = "parquet",
    force: bool = False,
    progress: Progress | None = None,
    extra: Callable[[Path, RunResult], None] | None = None,
) -> tuple[RunResult, dict[str, Any]]:
    """:func:`run` of one cohort in this process (``workers=1``), on ``workers``
    local processes (``None``: the cores) or a Dask cluster; returns the
    result and the summary document."""
    result, doc = run(
        scenario,
        out,
        backend=Backend.of(workers, scheduler),
        fmt=fmt,
        force=force,
        progress=progress,
        extra=(lambda tmp, r, _doc: extra(tmp, r)) if extra is not None else None,
    )
    assert isinstance(result, RunResult)
    return result, doc


def replications_to_folder(
    scenario: Scenario,
    out: Path,
    replications: int | str,
    *,
    workers: int | None = 1,
    scheduler: str | None = None,
    fmt: str = "parquet",
    force: bool = False,
    precision: float = DEFAULT_PRECISION,
    cap: int = DEFAULT_CAP,
    progress: Progress | None = None,
    extra: Extra | None = None,
) -> tuple[Replications, dict[str, Any]]:
    """:func:`run` of replications: the usual files (patients and events of the
    first replication), ``summary.json`` with across-replication outcomes,
    and ``replications.parquet``."""
    reps, doc = run(
        scenario,
        out,
        replications=replications,
        backend=Backend.of(workers, scheduler),
        fmt=fmt,
        force=force,
        precision=precision,
        cap=cap,
        progress=progress,
        extra=extra,
    )
    assert isinstance(reps, Replications)
    return reps, doc


def run_replications(
    scenario: Scenario,
    replications: int | str,
    *,
    workers: int | None = 1,
    scheduler: str | None = None,
    precision: float = DEFAULT_PRECISION,
    cap: int = DEFAULT_CAP,
    outcomes: list[str] | None = None,
    first_sink: Callable[[pa.Table], None] | None = None,
    progress: Progress | None = None,
) -> Replications:
    """:func:`replicate` in this process (``workers=1``), on local processes or
    a Dask cluster, without a folder.  The first replication's events go to
    ``first_sink``; later ones keep only their outcomes."""
    return replicate(
        scenario,
        replications,
        Backend.of(workers, scheduler),
        precision=precision,
        cap=cap,
        outcomes=outcomes,
        first_sink=first_sink,
        progress=progress,
    )
