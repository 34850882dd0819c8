"""The one runner: a scenario, a backend, a results folder.

:func:`run` simulates a scenario, once or as replications, on a
:class:`Backend` (this process, local worker processes, or a Dask cluster)
and writes one results folder through :func:`sim.outputs.results.write_results`,
the one writer of the folder's files.  ``run``, ``run --replications`` and
``compare`` all go through here; the older entry points
(:func:`sim.outputs.results.run_to_folder`,
:func:`sim.experiments.replications.replications_to_folder` and
``run_replications``, and their namesakes in :mod:`sim.runtime.parallel`)
call it with the backend they name.

The work is a list of tasks mapped by :func:`sim.runtime.parallel.imap`; the
serial run is its one-worker case:

- a cohort: with one worker (or when patients interact: a finite service,
  population mode; or when the cohort fits one engine chunk) it is one task,
  run in this process with its events streamed to the folder; otherwise
  chunks of patients (:func:`sim.runtime.parallel.cohort_task`) whose tables
  are put together in task order, byte for byte as the one task writes them;
- replications: one task per replication
  (:func:`sim.runtime.parallel.replication_task`), in order, whose rows feed
  the stopping rule (:class:`sim.experiments.replications.Tally`) one at a
  time, so ``auto`` stops at the same replication on every backend.

The same seed gives the same bytes on every backend and worker count.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from sim.engine.simulate import DEFAULT_CHUNK, RunResult, few_collections, release_freed_memory, simulate
from sim.experiments.replications import DEFAULT_CAP, DEFAULT_PRECISION, Replications
from sim.kernel.services import service_table
from sim.runtime import parallel
from sim.scenario.model import Scenario

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
        return cls(parallel.check_workers(workers), scheduler or None)

    @property
    def in_process(self) -> bool:
        """One worker, no cluster: the tasks run in this process, one after another."""
        return self.workers == 1 and not self.scheduler

    def describe(self) -> str:
        return parallel.describe(self.workers, self.scheduler)

    def check(self) -> None:
        """An unreachable scheduler: BackendError within seconds, before anything is written."""
        if self.scheduler:
            parallel.connect(self.scheduler).close()

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
    from sim.outputs.folder import staged_output, write_json
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
        doc = write_results(tmp, result, fmt, t0, replications=reps, timing={"workers": ran}, services=services)
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
    if backend.in_process or not parallel.chunkable(scenario) or scenario.run.patients <= DEFAULT_CHUNK:
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
    plan = parallel.chunk_plan(scenario.run.patients, backend.workers)
    specs = [(data, first, count) for first, count in plan]
    # the summary's survival estimator is imported while the workers run, not after them
    threading.Thread(target=_import_summary_libraries, daemon=True).start()
    with few_collections():
        t0 = time.perf_counter()
        columns = parallel._PatientColumns(scenario.run.patients)
        logs: list[pd.DataFrame] = []
        lab_tables: list[pa.Table] = []
        n_events = n_timeouts = done = 0
        details = parallel._Details()
        for i, r in backend.imap(parallel.cohort_task, specs):
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
    task: Callable[[Any], Any] = parallel.replication_task
    if backend.in_process and first_sink is not None:
        task = functools.partial(parallel.replication_task, sink=first_sink)
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


# ----------------------------------------------------------------------------- compare


def compare_task(spec: tuple[dict[str, Any], int, int]) -> dict[str, float]:
    """One scenario at one seed and replication: every outcome and service figure."""
    from sim.experiments.compare import run_metrics

    data, seed, replication = spec
    s = parallel._scenario_from(data, {"run.seed": seed, "run.replication": replication})
    return run_metrics(simulate(s, keep_events=False))


def compare_runs(
    scenarios: list[Scenario],
    seeds: list[int],
    replications: int,
    backend: Backend = SERIAL,
    progress: Progress | None = None,
) -> Iterator[tuple[int, int, dict[str, float]]]:
    """``(scenario index, replication, metrics)`` for every scenario at its seed
    and replications ``0 .. replications - 1``, in that order."""
    datas = [s.model_dump(mode="json") for s in scenarios]
    keys = [(k, r) for k in range(len(scenarios)) for r in range(replications)]
    specs = ((datas[k], seeds[k], r) for k, r in keys)
    with contextlib.closing(backend.imap(compare_task, specs)) as results:
        for i, metrics in results:
            if progress is not None:
                progress(i + 1, len(keys))
            yield (*keys[i], metrics)
