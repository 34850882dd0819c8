"""Running at scale: the same tables whatever the backend (1 process, 2 local
processes, a Dask cluster on loopback), through the real parallel paths."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sim import load_scenario
from sim.cli.main import main
from sim.experiments import psa, runner
from sim.experiments.runner import replications_to_folder as serial_replications
from sim.experiments.runner import run_to_folder as serial_run_to_folder
from sim.runtime import dask_backend, drive, parallel
from sim.runtime.workers import BackendError, check_workers

from ..conftest import SCENARIOS

BASE = SCENARIOS / "baseline.yaml"
PSA = SCENARIOS / "baseline_psa.yaml"
TABLES = ("patients.parquet", "events.parquet", "services.parquet", "summary.json", "scenario.resolved.yaml", "labs.parquet")


@pytest.fixture(scope="module")
def cluster() -> Any:
    """A Dask cluster of 2 workers on loopback, stopped after the module's tests."""
    from dask.distributed import LocalCluster

    c = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=None)
    try:
        yield c.scheduler_address
    finally:
        c.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def digest(folder: Path, name: str) -> str:
    return hashlib.sha256((folder / name).read_bytes()).hexdigest()


def square(x: int) -> int:
    return x * x


def test_map_tasks_returns_results_in_task_order(cluster: str) -> None:
    specs = list(range(12))
    expected = [x * x for x in specs]
    assert parallel.map_tasks(square, specs, workers=1) == expected
    assert parallel.map_tasks(square, specs, workers=2) == expected
    assert parallel.map_tasks(square, specs, scheduler=cluster) == expected
    seen: list[int] = []
    assert parallel.map_tasks(square, specs, workers=2, on_result=lambda i, r: seen.append(i)) == expected
    assert sorted(seen) == specs


def where(_: int) -> tuple[int, int]:
    return os.getpid(), os.getppid()


def test_local_workers_are_other_processes_forked_by_one_server() -> None:
    """workers=2 runs the tasks in other processes; on Linux a fork server
    (not this process) forks them, so they inherit no thread of this one."""
    got = parallel.map_tasks(where, list(range(8)), workers=2)
    pids, parents = {p for p, _ in got}, {pp for _, pp in got}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    if parallel.START_METHOD == "forkserver":
        assert len(parents) == 1 and os.getpid() not in parents, parents
    else:
        assert parents == {os.getpid()}


def crash_or_wait(spec: tuple[int, str]) -> int:
    """Task ``i``: ``crash`` ends its process after 0.3 s, ``long`` takes 2 s, others 0.05 s."""
    i, kind = spec
    if kind == "crash":
        time.sleep(0.3)
        os._exit(3)
    time.sleep(2.0 if kind == "long" else 0.05)
    return i


def test_local_worker_crash_names_its_task_not_another_running_one() -> None:
    """Task 0 runs (2 s) in one worker while task 1 crashes the other: the pool
    fails tasks 0-3 at once with one error; the one named is task 1, the task
    of the worker that died, with its exit code (not the lowest unfinished, nor
    whichever future came first)."""
    specs = [(0, "long"), (1, "crash")] + [(i, "quick") for i in range(2, 8)]
    for ordered in (True, False):
        with pytest.raises(drive.WorkerCrashed) as err:
            list(parallel.imap(crash_or_wait, specs, workers=2, ordered=ordered))
        assert "the worker running task 1 (of tasks 0-7) died (exit code 3)" in str(err.value), str(err.value)
    assert not parallel._POOLS


def test_interrupt_while_a_worker_starts_is_delivered_after_it() -> None:
    """Ctrl-C during a pool submit (which may start a worker) is held back
    until the submit is done, then raised; the handlers are restored.

    The test sets Python's own SIGINT handler and unblocks SIGINT itself: a
    test run started in the background by a script inherits SIGINT ignored
    (or blocked), and then no KeyboardInterrupt could come."""
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        finished = False
        with pytest.raises(KeyboardInterrupt):
            with parallel._interrupts_held():
                signal.raise_signal(signal.SIGINT)
                sum(range(1000))  # Python code runs on: an unheld handler would have raised by now
                finished = True
        assert finished
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, outer)


def test_chunk_plan_covers_every_patient_once() -> None:
    for n in (1, 4_999, 5_000, 11_000, 1_000_000):
        for w in (1, 2, 8):
            plan = runner.chunk_plan(n, w)
            assert sum(c for _, c in plan) == n
            assert [f for f, _ in plan] == sorted(f for f, _ in plan)
            assert all(f % 5_000 == 0 for f, _ in plan)


def test_patient_columns_filled_in_place_equal_the_joined_parts() -> None:
    """Parts put in any order, a column whose type differs between parts
    (int, then float, as joining would widen it) and a categorical column."""
    import numpy as np

    from sim.engine.simulate import join_patients

    def part(first: int, n: int, floats: bool) -> dict[str, Any]:
        ids = np.arange(first, first + n, dtype=np.int64)
        return {
            "patient_id": ids,
            "x": ids * 0.5 if floats else ids * 2,
            "primary": pd.Categorical.from_codes((ids % 3).astype(np.int8), categories=["a", "b", "c"]),
        }

    plan = [(0, 4, False), (4, 3, True), (7, 2, False)]
    cols = runner._PatientColumns(9)
    for first, n, floats in (plan[1], plan[2], plan[0]):
        cols.put(first, part(first, n, floats))
    got = cols.frame()
    expected = join_patients([part(*p) for p in plan])
    pd.testing.assert_frame_equal(got, expected)
    assert got["x"].dtype == np.float64
    short = runner._PatientColumns(9)
    short.put(0, part(0, 4, False))
    with pytest.raises(ValueError, match="4 patients of 9"):
        short.frame()


def test_details_recoded_as_one_run_interns_them() -> None:
    """Three tasks of several chunks each: every chunk's detail dictionary and
    codes after re-coding are those of one run over all patients (the chunks
    of one task extend one dictionary; the next task starts its own)."""
    import pyarrow as pa

    from sim.engine.simulate import simulate

    s = load_scenario(BASE, ["run.patients=400", "run.seed=5", "run.horizon_months=36"])
    serial: list[pa.Table] = []
    simulate(s, keep_events=False, event_sink=serial.append, chunk_size=50)
    details = runner._Details()
    got: list[pa.Table] = []
    for first, count in [(0, 150), (150, 100), (250, 150)]:
        part: list[pa.Table] = []
        task = s.model_copy(update={"run": s.run.model_copy(update={"patients": count})})
        simulate(task, first_id=first, keep_events=False, event_sink=part.append, chunk_size=50)
        assert len(part) > 1
        got += [details(t) for t in part]
    assert len(got) == len(serial) == 8
    for g, r in zip(got, serial):
        gd, rd = g.column("detail").combine_chunks(), r.column("detail").combine_chunks()
        assert gd.dictionary.equals(rd.dictionary)
        assert gd.indices.equals(rd.indices)
        assert g.drop_columns(["detail"]).equals(r.drop_columns(["detail"]))
    assert len(details.strings) > 20


def test_chunked_cohort_writes_byte_identical_tables(tmp_path: Path, cluster: str) -> None:
    s = load_scenario(BASE, ["run.patients=5001", "run.seed=11", "run.horizon_months=36"])  # two chunks: 5000 + 1
    serial_run_to_folder(s, tmp_path / "serial")
    runner.run_to_folder(s, tmp_path / "two", workers=2)
    runner.run_to_folder(s, tmp_path / "dask", scheduler=cluster)
    for name in TABLES:
        ref = digest(tmp_path / "serial", name)
        assert digest(tmp_path / "two", name) == ref, name
        assert digest(tmp_path / "dask", name) == ref, name


def test_interacting_patients_run_in_one_process(tmp_path: Path) -> None:
    s = load_scenario(BASE, ["run.patients=300", "services.radiotherapy.capacity=3", "run.horizon_months=12"])
    assert not runner.chunkable(s)
    serial_run_to_folder(s, tmp_path / "serial")
    runner.run_to_folder(s, tmp_path / "two", workers=2)
    for name in ("patients.parquet", "events.parquet", "services.parquet"):
        assert digest(tmp_path / "two", name) == digest(tmp_path / "serial", name)


def test_replications_over_workers_equal_serial(tmp_path: Path, cluster: str) -> None:
    s = load_scenario(BASE, ["run.patients=150", "run.seed=5"])
    serial_replications(s, tmp_path / "serial", 2)
    runner.replications_to_folder(s, tmp_path / "two", 2, workers=2)
    runner.replications_to_folder(s, tmp_path / "dask", 2, scheduler=cluster)
    ref = pd.read_parquet(tmp_path / "serial" / "replications.parquet")
    for other in ("two", "dask"):
        t = pd.read_parquet(tmp_path / other / "replications.parquet")
        pd.testing.assert_frame_equal(t, ref)
        for name in TABLES:
            assert digest(tmp_path / other, name) == digest(tmp_path / "serial", name), (other, name)


def test_replications_auto_stops_where_serial_stops(tmp_path: Path) -> None:
    s = load_scenario(BASE, ["run.patients=100", "run.seed=3"])
    a, _ = serial_replications(s, tmp_path / "serial", "auto", cap=4, precision=0.3)
    b, _ = runner.replications_to_folder(s, tmp_path / "two", "auto", workers=2, cap=4, precision=0.3)
    assert a.count == b.count and a.n_solution == b.n_solution
    pd.testing.assert_frame_equal(a.table, b.table)


def test_compare_is_the_same_on_every_backend(cluster: str) -> None:
    """compare goes through the one runner: its paired values are the same in
    this process, on 2 local processes and on a Dask cluster."""
    from sim.experiments.compare import compare
    from sim.experiments.runner import Backend

    a = load_scenario(BASE, ["run.patients=120", "run.seed=4"])
    b = load_scenario(BASE, ["run.patients=120", "run.seed=4", "carcinosis.probability=0.5"])
    one = compare([a, b], replications=2)
    for backend in (Backend(2), Backend(scheduler=cluster)):
        other = compare([a, b], replications=2, backend=backend)
        pd.testing.assert_frame_equal(other.values, one.values)
        pd.testing.assert_frame_equal(other.differences, one.differences)


def test_psa_table_is_the_same_on_every_backend(cluster: str) -> None:
    s = load_scenario(PSA)
    one = psa.run_psa(s, draws=5, patients=150, workers=1).table
    two = psa.run_psa(s, draws=5, patients=150, workers=2).table
    dask = psa.run_psa(s, draws=5, patients=150, scheduler=cluster).table
    pd.testing.assert_frame_equal(one, two)
    pd.testing.assert_frame_equal(one, dask)


def test_run_command_with_workers_writes_the_same_folder(tmp_path: Path) -> None:
    args = ["run", str(BASE), "--patients", "5001", "--seed", "9", "--horizon-months", "24", "--quiet"]
    assert main(args + ["--out", str(tmp_path / "one"), "--workers", "1"]) == 0
    assert main(args + ["--out", str(tmp_path / "two"), "--workers", "2"]) == 0
    for name in TABLES:
        assert digest(tmp_path / "two", name) == digest(tmp_path / "one", name), name
    assert json.loads((tmp_path / "two" / "timing.json").read_text())["workers"].startswith("2 local processes")


def test_unreachable_scheduler_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(BackendError, match="cannot reach the Dask scheduler"):
        dask_backend.connect(address, timeout=2)
    out = tmp_path / "r"
    assert main(["run", str(BASE), "--patients", "100", "--out", str(out), "--scheduler", address, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler" in err and "dask scheduler" in err and "Traceback" not in err
    assert not out.exists()
    assert main(["psa", str(PSA), "--draws", "2", "--patients", "50", "--out", str(out), "--scheduler", address, "--quiet"]) == 2
    assert not out.exists()


def test_bad_worker_count_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(BASE), "--patients", "100", "--out", str(tmp_path / "r"), "--workers", "0", "--quiet"]) == 2
    assert "--workers" in capsys.readouterr().err
    with pytest.raises(BackendError):
        check_workers(0)
