"""Bounded work and no stuck or orphaned processes: caps checked before any
work, work lists taken as they are needed, local workers that die with the
driver however it ends, a second Ctrl-C that ends the run, and Dask error
paths without tracebacks.  Real processes and real signals throughout (to
the driver alone, and to its whole process group as a terminal sends them);
every process a test starts is killed in its teardown."""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from sim.experiments import psa, psa_draws, replications
from sim.runtime import parallel
from sim.runtime.workers import WORKERS_PER_CORE, BackendError, check_workers, default_workers, max_workers

from ..conftest import ROOT, SCENARIOS

RUN_SIM = str(ROOT / "run_sim.py")
BASE = str(SCENARIOS / "baseline.yaml")
PSA = str(SCENARIOS / "baseline_psa.yaml")
WAIT = 120  # s: the longest any child may take before it counts as hung
GONE_WAIT = 30  # s: how long the descendants of a killed run are given to go
MEMORY_LIMIT = 2 * 2**30  # bytes of address space for the runs with huge counts


# ----------------------------------------------------------------------------- helpers


def _default_signals() -> None:
    """In the child: SIGINT and SIGTERM as a terminal gives them (not ignored or blocked
    by whatever started the test run), in a session of its own (its process group)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Child processes of a test; they and whatever they started are killed afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        for child in _descendants(p.pid):
            with contextlib.suppress(psutil.Error):
                child.kill()
        if p.poll() is None:
            p.kill()
        p.wait(timeout=30)


def start(procs: list[subprocess.Popen[bytes]], args: list[str], cwd: Path, **kw: object) -> subprocess.Popen[bytes]:
    p = subprocess.Popen(
        [sys.executable, RUN_SIM, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=kw.pop("preexec_fn", _default_signals),  # type: ignore[arg-type]
    )
    procs.append(p)
    return p


def finish(p: subprocess.Popen[bytes], timeout: float = WAIT) -> tuple[int, str]:
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the run did not end within {timeout} s") from None
    return p.returncode, err.decode("utf-8", "replace")


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _alive(ps: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for q in ps:
        try:
            if q.is_running() and q.status() != psutil.STATUS_ZOMBIE:
                out.append(q)
        except psutil.Error:
            pass
    return out


def assert_all_gone(ps: list[psutil.Process], what: str) -> None:
    """Poll (up to GONE_WAIT s) until none of ``ps`` runs: a bound on a hang, not a timing assertion."""
    t_end = time.monotonic() + GONE_WAIT
    while _alive(ps) and time.monotonic() < t_end:
        time.sleep(0.1)
    left = _alive(ps)
    assert not left, f"{what}: still running: " + "; ".join(" ".join(q.cmdline())[:120] for q in left if q.is_running())


def _cmd(q: psutil.Process) -> str:
    try:
        return " ".join(q.cmdline())
    except psutil.Error:
        return ""


def pool_workers(pid: int) -> list[psutil.Process]:
    """The local worker processes of the run with this pid (forked by its fork server, or spawned)."""
    return [c for c in _descendants(pid) if "spawn_main" in _cmd(c) or ("forkserver" in _cmd(c) and _ppid(c) != pid)]


def _ppid(q: psutil.Process) -> int:
    try:
        return q.ppid()
    except psutil.Error:
        return -1


def wait_until(cond: object, p: subprocess.Popen[bytes], timeout: float = WAIT) -> None:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if cond():  # type: ignore[operator]
            return
        if p.poll() is not None:
            raise AssertionError(f"the run ended first: {finish(p)}")
        time.sleep(0.02)
    raise AssertionError("timed out waiting for the run")


def partials(parent: Path) -> list[Path]:
    return [x for x in parent.iterdir() if ".partial-" in x.name or ".old-" in x.name]


# ----------------------------------------------------------------------------- caps, checked before any work


def _memory_limit() -> None:
    _default_signals()
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.parametrize(
    "args,flag,cap",
    [
        (["psa", PSA, "--draws", "1000000000", "--patients", "50"], "--draws 1000000000", "100,000"),
        (
            ["run", BASE, "--patients", "50", "--replications", "100000000"],
            "--replications 100000000",
            "100,000",
        ),
        (
            ["run", BASE, "--patients", "50", "--replications", "auto", "--max-replications", "100000000"],
            "--max-replications 100000000",
            "100,000",
        ),
        (["run", BASE, "--patients", "50", "--workers", "100000"], "--workers 100000", "at most"),
        (["psa", PSA, "--draws", "5", "--patients", "50", "--workers", "100000"], "--workers 100000", "at most"),
    ],
    ids=["draws", "replications", "max-replications", "run-workers", "psa-workers"],
)
def test_huge_counts_are_refused_before_any_work(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]], args: list[str], flag: str, cap: str
) -> None:
    """Under a 2 GB address-space limit: exit 2 naming the flag, the cap and the
    fix, no MemoryError, no traceback, no folder, no worker started."""
    out = tmp_path / "o"
    workers = [] if "--workers" in args else ["--workers", "2"]  # with workers, the old work list was built up front
    p = start(procs, [*args, *workers, "--out", str(out), "--quiet"], tmp_path, preexec_fn=_memory_limit)
    rc, err = finish(p)
    assert rc == 2, (rc, err[-2000:])
    assert "Traceback" not in err and "MemoryError" not in err, err[-2000:]
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: ") and flag in line and cap in line and "or fewer" in line, line
    assert not out.exists() and not partials(tmp_path)


def test_caps_are_those_documented() -> None:
    cores = default_workers()
    cap, why = max_workers()
    assert 1 <= cap <= WORKERS_PER_CORE * cores and why
    check_workers(WORKERS_PER_CORE * cores)
    with pytest.raises(BackendError, match=r"--workers .*at most"):
        check_workers(WORKERS_PER_CORE * cores + 1)
    with pytest.raises(psa_draws.PsaError, match="at most 100,000 draws"):
        psa.check_draws(psa.MAX_DRAWS + 1)
    psa.check_draws(psa.MAX_DRAWS)
    with pytest.raises(ValueError, match="at most 100,000 replications"):
        replications.Tally(replications.MAX_REPLICATIONS + 1)
    replications.Tally(replications.MAX_REPLICATIONS)


# ----------------------------------------------------------------------------- work lists taken as needed


def square(x: int) -> int:
    return x * x


@pytest.mark.parametrize("workers", [1, 2])
def test_specs_are_taken_as_the_workers_need_them(workers: int) -> None:
    """An endless generator of specs: the first result comes while only a window
    of specs has been taken, and stopping early stops the workers."""
    taken = 0

    def specs() -> Iterator[int]:
        nonlocal taken
        for i in itertools.count():
            taken += 1
            yield i

    got = []
    gen = parallel.imap(square, specs(), workers=workers, window=4)
    for i, r in gen:
        got.append((i, r))
        if len(got) == 1:
            assert taken <= 5, taken  # the window and the one that found it full
        if len(got) == 20:
            break
    gen.close()
    assert got == [(i, i * i) for i in range(20)]
    assert taken <= 25, taken
    assert not parallel._POOLS  # the pool is stopped


# ----------------------------------------------------------------------------- the driver killed


def test_workers_die_with_a_killed_driver(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGKILL to `run --workers 2` (as the OOM killer does): the fork server,
    the workers and the resource tracker all go."""
    out = tmp_path / "o"
    p = start(procs, ["run", BASE, "--patients", "400000", "--workers", "2", "--out", str(out), "--quiet"], tmp_path)
    wait_until(lambda: len(pool_workers(p.pid)) >= 2, p)
    everyone = _descendants(p.pid)
    assert any("forkserver" in _cmd(c) for c in everyone) or parallel.START_METHOD != "forkserver"
    p.kill()
    p.wait(timeout=30)
    assert_all_gone(everyone, "after SIGKILL of the driver")


# ----------------------------------------------------------------------------- Ctrl-C


@pytest.mark.parametrize("to_group", [False, True], ids=["to-driver", "to-group"])
def test_second_interrupt_ends_the_run_and_leaves_nothing(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]], to_group: bool
) -> None:
    """Two SIGINTs 0.05-0.3 s apart to `run --replications 8 --workers 2`: exit
    130 (no hang), no traceback, no partial folder, no worker left."""
    rng = random.Random(20 + to_group)
    for attempt in range(3):
        out = tmp_path / f"o{attempt}"
        p = start(
            procs,
            ["run", BASE, "--patients", "3000", "--replications", "8", "--workers", "2", "--out", str(out), "--quiet"],
            tmp_path,
        )
        wait_until(lambda: bool(pool_workers(p.pid)), p)  # noqa: B023
        time.sleep(rng.uniform(0.0, 0.5))
        everyone = _descendants(p.pid)

        def interrupt() -> None:
            if to_group:
                os.killpg(p.pid, signal.SIGINT)  # noqa: B023
            else:
                p.send_signal(signal.SIGINT)  # noqa: B023

        interrupt()
        time.sleep(rng.uniform(0.05, 0.3))
        if p.poll() is None:
            interrupt()
        rc, err = finish(p)
        assert rc == 130, (rc, err[-2000:])
        assert "Traceback" not in err and "interrupted" in err, err[-2000:]
        assert not out.exists() and not partials(tmp_path), list(tmp_path.iterdir())
        assert_all_gone(everyone, "after two SIGINTs")


def test_terminal_ctrl_c_while_the_fork_server_starts(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """A terminal's Ctrl-C (SIGINT to the whole process group) just as the fork
    server appears, while it imports the model: the fork server prints no
    traceback, the run exits 130 and leaves nothing."""
    if parallel.START_METHOD != "forkserver":
        pytest.skip("no fork server on this platform")
    for attempt, delay in enumerate((0.0, 0.1, 0.25)):
        out = tmp_path / f"o{attempt}"
        p = start(
            procs,
            ["run", BASE, "--patients", "3000", "--replications", "8", "--workers", "2", "--out", str(out), "--quiet"],
            tmp_path,
        )
        wait_until(lambda: any("forkserver" in _cmd(c) for c in _descendants(p.pid)), p)  # noqa: B023
        time.sleep(delay)
        everyone = _descendants(p.pid)
        os.killpg(p.pid, signal.SIGINT)
        rc, err = finish(p)
        assert rc == 130, (delay, rc, err[-2000:])
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, (delay, err[-2000:])
        assert not out.exists() and not partials(tmp_path)
        assert_all_gone(everyone, "after Ctrl-C")


# ----------------------------------------------------------------------------- Dask error paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dask(procs: list[subprocess.Popen[bytes]], *args: str) -> subprocess.Popen[bytes]:
    p = subprocess.Popen(
        [str(Path(sys.executable).parent / "dask"), *args, "--dashboard-address", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    procs.append(p)
    return p


def _cluster(procs: list[subprocess.Popen[bytes]]) -> tuple[subprocess.Popen[bytes], str, str]:
    """A real Dask scheduler and one worker on loopback: (scheduler process, its address, the worker's)."""
    from dask.distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    sched = _dask(procs, "scheduler", "--host", "127.0.0.1", "--port", str(port))
    wport = free_port()
    _dask(procs, "worker", address, "--host", "127.0.0.1", "--worker-port", str(wport), "--nthreads", "1", "--no-nanny")
    t_end = time.monotonic() + WAIT
    while time.monotonic() < t_end:
        try:
            with Client(address, timeout="2s", set_as_default=False) as c:
                if c.nthreads():
                    return sched, address, f"tcp://127.0.0.1:{wport}"
        except (OSError, TimeoutError):
            pass
        time.sleep(0.2)
    raise AssertionError("the Dask cluster did not start")


def test_addresses_that_are_not_a_scheduler_are_clear_errors(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """A worker's address, and an http:// address, as --scheduler: exit 2 with a
    message naming --scheduler, no traceback (none later from the client either)."""
    _, address, worker = _cluster(procs)
    for given, words in ((worker, "not a Dask scheduler"), (address.replace("tcp://", "http://"), "not a Dask address")):
        out = tmp_path / "o"
        p = start(procs, ["run", BASE, "--patients", "100", "--out", str(out), "--quiet", "--scheduler", given], tmp_path)
        rc, err = finish(p)
        assert rc == 2, (given, rc, err[-2000:])
        assert "Traceback" not in err and "Exception ignored" not in err, (given, err[-2000:])
        assert err.strip().splitlines()[-1].startswith(f"error: --scheduler {given}") and words in err, err
        assert not out.exists()


def test_scheduler_lost_during_a_run_is_a_clear_error(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGKILL to the Dask scheduler while `run --scheduler` runs: exit 2 with a
    message, no traceback, no partial folder."""
    sched, address, _ = _cluster(procs)
    out = tmp_path / "o"
    p = start(procs, ["run", BASE, "--patients", "400000", "--out", str(out), "--quiet", "--scheduler", address], tmp_path)
    wait_until(lambda: bool(partials(tmp_path)), p)
    time.sleep(1.0)
    assert p.poll() is None, "the run ended before the scheduler could be killed"
    sched.kill()
    rc, err = finish(p)
    assert rc == 2, (rc, err[-2000:])
    assert "Traceback" not in err, err[-2000:]
    assert err.strip().splitlines()[-1].startswith(f"error: lost the Dask scheduler at {address}"), err
    assert not out.exists() and not partials(tmp_path)


def test_compare_replications_over_the_cap_and_an_empty_scheduler_are_refused(tmp_path: Path) -> None:
    """compare --replications far over the cap, and --scheduler '' (an unset variable), are exit 2
    before any work, with the flag named, never a default taken instead."""
    import subprocess
    import sys

    from sim.experiments.replications import MAX_REPLICATIONS

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    cases = {
        "c": (
            ["compare", "scenarios/baseline.yaml", "scenarios/no_bone_agent.yaml", "--replications", str(MAX_REPLICATIONS + 1)],
            "--replications",
        ),
        "r": (["run", "scenarios/baseline.yaml", "--patients", "10", "--scheduler", ""], "--scheduler"),
    }
    for out, (args, flag) in cases.items():
        r = subprocess.run(
            [sys.executable, str(root / "run_sim.py"), *args, "--out", str(tmp_path / out)],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 2 and flag in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert not (tmp_path / out).exists()
