"""Running at scale: one way to map work over local processes or a Dask cluster.

:func:`map_tasks` maps a picklable, module-level task function over task
specs and returns the results in task order, whatever the backend:

- ``workers=1`` (and no scheduler): in this process, one task after another;
- ``workers=N``: ``N`` local processes (:class:`concurrent.futures.ProcessPoolExecutor`).
  On Linux they are forked by a fork server, a fresh interpreter that imports
  the model once (:data:`PRELOAD`) and then forks each worker from itself, so
  no thread or lock state of this process is inherited and the model's
  imports (about 0.6 s of CPU) are paid once rather than once per worker.
  Elsewhere the ``spawn`` start method starts each worker as a fresh
  interpreter that imports the model itself;
- ``scheduler="tcp://host:8786"``: the workers of an existing Dask
  distributed cluster (:class:`dask.distributed.Client`); results return to
  this process through the scheduler.  An unreachable scheduler is reported
  within :data:`CONNECT_TIMEOUT_S` seconds.

Tasks are taken from an iterable as they are needed (a generator of specs
is never built up front) and at most a few per worker are in flight, so
memory stays bounded however many tasks there are.  Because every random number is addressed by (seed,
replication, patient, process), results do not depend on the backend or the
worker count: the same seed gives byte-identical tables.

The tasks of a run are here (:func:`cohort_task`: a chunk of patients of a
cohort whose patients do not interact; :func:`replication_task`: one
replication); the one runner, :mod:`sim.experiments.runner`, maps them and writes
the results folder.  :func:`run_to_folder`, :func:`run_replications` and
:func:`replications_to_folder` are that runner with the backend they name.

A local worker that dies stops the map with :class:`WorkerCrashed`, naming
the task it was running (:class:`_Running`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence, Sized
from concurrent.futures import FIRST_COMPLETED, CancelledError, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

CONNECT_TIMEOUT_S = 5.0
# forkserver: workers forked from a server process that runs no Python thread of this one (never from this one)
START_METHOD = "forkserver" if sys.platform.startswith("linux") else "spawn"
# what a worker needs, imported once in the fork server (the cohort, replication and PSA tasks);
# sim.runtime._forkserver first: the server's own set-up (SIGINT ignored)
PRELOAD = (
    "sim.runtime._forkserver",
    "sim.runtime.parallel",
    "sim.experiments.runner",
    "sim.experiments.psa",
    "sim.scenario.loader",
)
# --workers' cap: the tasks are CPU-bound, so processes beyond a few per core add memory, not speed;
# and each local worker takes memory of its own (about 0.19 GB at its peak, measured on cohort
# tasks of 50,000 patients), so no more are started than the available memory holds
WORKERS_PER_CORE = 4
WORKER_MEMORY = 256 * 2**20  # bytes counted per worker against the available memory
STOP_TIMEOUT_S = 10.0  # a stopped pool's thread is waited for this long at most
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent exits (Linux)


class BackendError(Exception):
    """The parallel backend cannot be used (bad worker count, unreachable scheduler)."""


def default_workers() -> int:
    """The machine's cores (the default of ``--workers``)."""
    return max(1, os.cpu_count() or 1)


def check_workers(workers: int | None) -> int:
    """The worker count (default: the cores), or BackendError outside 1 .. WORKERS_PER_CORE x cores."""
    w = default_workers() if workers is None else workers
    if not isinstance(w, int) or isinstance(w, bool) or w < 1:
        raise BackendError(f"--workers {workers}: give 1 or more worker processes")
    cap = WORKERS_PER_CORE * default_workers()
    if w > cap:
        raise BackendError(
            f"--workers {w}: at most {cap} local worker processes here ({WORKERS_PER_CORE} per core, "
            f"{default_workers()} cores; more add memory, not speed); give --workers {cap} or fewer"
        )
    return w


def available_memory() -> int | None:
    """Bytes of memory available to new processes (Linux: MemAvailable; elsewhere the
    physical memory), or None when it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def max_workers() -> tuple[int, str]:
    """The most local workers this machine takes now, and why: WORKERS_PER_CORE per core,
    and no more than the available memory holds at WORKER_MEMORY each."""
    cores = default_workers()
    cap, why = WORKERS_PER_CORE * cores, f"{WORKERS_PER_CORE} per core, {cores} cores; more add memory, not speed"
    mem = available_memory()
    if mem is not None and max(1, mem // WORKER_MEMORY) < cap:
        cap = max(1, mem // WORKER_MEMORY)
        why = f"{mem / 2**30:.1f} GB of memory available, {WORKER_MEMORY / 2**30:.2f} GB counted per worker"
    return cap, why


DASK_PROTOCOLS = ("tcp", "tls", "inproc", "ws", "wss", "ucx")  # the address schemes of a Dask scheduler
START_HINT = "start one with 'dask scheduler' and workers with 'dask worker ADDRESS' (docs/scale.md), or run without --scheduler"


def connect(scheduler: str, timeout: float = CONNECT_TIMEOUT_S) -> Any:
    """A Dask client of the cluster at ``scheduler`` (tcp://host:port), or BackendError within ``timeout`` s:
    for an address that is not a scheduler's (a web address, a worker's) as for one where nothing answers."""
    try:
        from dask.distributed import Client
    except ImportError:  # pragma: no cover - dask is a dependency
        raise BackendError("--scheduler needs dask[distributed]: pip install 'dask[distributed]'") from None
    if "://" not in scheduler and ":" not in scheduler:
        raise BackendError(f"--scheduler {scheduler!r}: give the scheduler's address, e.g. tcp://127.0.0.1:8786")
    scheme = scheduler.split("://", 1)[0].lower() if "://" in scheduler else "tcp"
    if scheme not in DASK_PROTOCOLS:
        web = " (a web address, such as the dashboard's, is not the scheduler's)" if scheme in ("http", "https") else ""
        raise BackendError(
            f"--scheduler {scheduler}: {scheme}:// is not a Dask address{web}; give the address the scheduler prints as "
            f"'Scheduler at', e.g. tcp://127.0.0.1:8786 (one of {', '.join(p + '://' for p in DASK_PROTOCOLS)})"
        )
    client = Client.__new__(Client)
    try:
        client.__init__(scheduler, timeout=f"{timeout}s", set_as_default=False)  # type: ignore[misc]
    except Exception as exc:  # whatever answered (or did not), it is not a scheduler to use
        _abandon(client)
        if isinstance(exc, (OSError, TimeoutError)):
            raise BackendError(
                f"cannot reach the Dask scheduler at {scheduler} within {timeout:g} s ({type(exc).__name__}); {START_HINT}"
            ) from None
        raise BackendError(
            f"--scheduler {scheduler}: what answers there is not a Dask scheduler ({type(exc).__name__}; a worker's "
            "address?); give the address the scheduler prints as 'Scheduler at', e.g. tcp://127.0.0.1:8786"
        ) from None
    return client


def _abandon(client: Any) -> None:
    """Let go of a client whose scheduler is not there: its loop is stopped without the
    farewell to the scheduler (which would wait for it, and when collected print a
    traceback of its own)."""
    import logging

    before = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # its reconnection, cancelled here, would log a traceback
    try:
        with contextlib.suppress(Exception):
            client.status = "closed"
            client._loop_runner.stop()
    finally:
        logging.disable(before)


def describe(workers: int | None, scheduler: str | None) -> str:
    if scheduler:
        return f"Dask cluster at {scheduler}"
    w = check_workers(workers)
    return "1 process" if w == 1 else f"{w} local processes ({START_METHOD})"


def imap(
    fn: Callable[[Any], Any],
    specs: Iterable[Any],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    ordered: bool = True,
    window: int | None = None,
) -> Generator[tuple[int, Any], None, None]:
    """Yield ``(index, fn(spec))`` for the specs in turn: in task order when
    ``ordered``, else as tasks finish.  The specs are taken as they are
    needed (a generator is fine); at most ``window`` tasks are in flight."""
    n = len(specs) if isinstance(specs, Sized) else None
    if n == 0:
        return
    if scheduler:
        yield from _imap_dask(fn, specs, scheduler, ordered, window, n)
        return
    w = check_workers(workers)
    if w == 1 or n == 1:
        for i, spec in enumerate(specs):
            yield i, fn(spec)
        return
    ctx = multiprocessing.get_context(START_METHOD)
    if START_METHOD == "forkserver":  # read when the server starts (once per process)
        ctx.set_forkserver_preload(list(PRELOAD))
        parent = _start_fork_server()
    else:
        parent = os.getpid()
    task = _Pickled(fn)
    size = min(w, n or w)
    # each worker's pid and the task it took last, written by the worker (see _Running)
    running = _Running(ctx, size)
    pool = ProcessPoolExecutor(
        max_workers=size, mp_context=ctx, initializer=_worker_started, initargs=(parent, running.slots, running.claimed)
    )
    processes = getattr(pool, "_processes", None)  # the pool's own {pid: process}, which shutdown lets go of
    _POOLS.add(pool)
    try:

        def submit(index: int, spec: Any) -> Any:
            with _interrupts_held():  # a submit may start a worker process
                return pool.submit(task, (index, spec))

        def crashed(unfinished: list[int]) -> tuple[list[int], str]:
            return running.crashed(pool, processes, unfinished)

        yield from _drive(
            submit,
            specs,
            ordered,
            window or 2 * w,
            lambda fs: wait(fs, return_when=FIRST_COMPLETED)[0],
            lambda f: pickle.loads(f.result()),
            lambda f: f.cancel(),
            n,
            crashed,
        )
    except BaseException:  # an interrupt, a task's error, or the consumer stopped early
        with _interrupts_held():  # the results are not wanted: do not wait for the running tasks
            _stop_pool(pool)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        _POOLS.discard(pool)


# the local pools whose tasks are running (stop_pools stops them)
_POOLS: set[ProcessPoolExecutor] = set()


def _start_fork_server() -> int:
    """Start the fork server if it is not running; its pid (0 if unknown).

    It starts with SIGINT blocked in this thread, which it and the workers it
    forks inherit (a Ctrl-C at a terminal reaches the whole process group;
    the driver stops the workers itself).  The resource tracker is started
    first: it unblocks SIGINT in this thread once it has started."""
    from multiprocessing import forkserver, resource_tracker

    resource_tracker.ensure_running()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)  # a Ctrl-C meanwhile is delivered now
    return int(getattr(forkserver._forkserver, "_forkserver_pid", None) or 0)


def _worker_started(parent: int, slots: Any = None, claimed: Any = None) -> None:
    """Run first in each local worker: it ignores SIGINT (the driver stops it)
    and dies with the process that started it, ``parent`` (the fork server,
    or the driver with ``spawn``), so no worker outlives a killed driver.
    It takes a slot of ``slots`` (:class:`_Running`) to say which task it runs.

    On Linux by prctl(PR_SET_PDEATHSIG, SIGKILL), elsewhere by a thread that
    watches the parent's pid.  A forked worker also closes its copy of the
    fork server's alive pipe: the server stops when the last copy of that
    pipe is closed, and with the workers' copies closed that is when the
    driver exits, however it ends (killed, out of memory)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if slots is not None and claimed is not None:
        _Running.claim(slots, claimed)
    if START_METHOD == "forkserver":
        from multiprocessing import forkserver

        fd = getattr(forkserver._forkserver, "_forkserver_alive_fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
            forkserver._forkserver._forkserver_alive_fd = None  # type: ignore[attr-defined]  # a task that forks starts its own server
    if not _die_with_parent():
        threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True, name="watch-parent").start()
    if parent and os.getppid() != parent:  # the parent died before the watch was set
        os._exit(1)


def _die_with_parent() -> bool:
    """prctl(PR_SET_PDEATHSIG, SIGKILL) for this process (Linux); False where it is not available.

    The signal comes when the parent *thread* exits: a worker's parent is the
    fork server's only thread (or, with spawn, a thread of the driver that
    may end, which is why spawn workers are watched instead)."""
    if START_METHOD != "forkserver":
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool at once: its workers killed, the tasks not yet finished dropped.

    A worker killed while it sends a result leaves the pool's thread waiting
    for the rest of it: with the workers gone this process holds the only
    other copy of that pipe's write end, and closing it ends the wait.  A task
    on its way to the workers is dropped (the queue's feeder is not waited
    for).  Safe to call twice."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    results, calls = getattr(pool, "_result_queue", None), getattr(pool, "_call_queue", None)
    for p in procs:
        with contextlib.suppress(Exception):
            p.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    if calls is not None:
        calls.cancel_join_thread()
    for p in procs:
        p.join(STOP_TIMEOUT_S)
    writer = getattr(results, "_writer", None)
    if writer is not None:
        with contextlib.suppress(OSError):
            writer.close()
    if manager is not None:
        manager.join(STOP_TIMEOUT_S)


def kill_workers() -> None:
    """SIGKILL every worker of the running local pools (for a second Ctrl-C: nothing waits on them)."""
    for pool in list(_POOLS):
        for p in list((getattr(pool, "_processes", None) or {}).values()):
            with contextlib.suppress(Exception):
                p.kill()


def stop_pools() -> None:
    """Stop every running local pool at once (after an interrupt, and when the interpreter exits)."""
    for pool in list(_POOLS):
        _stop_pool(pool)
        _POOLS.discard(pool)


# before concurrent.futures waits for its pools at exit (these run in reverse order of registration)
threading._register_atexit(stop_pools)  # type: ignore[attr-defined]


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back until the block ends, then deliver them.

    Starting a worker is several steps (the fork server forks it, reports its
    pid, the pool registers it); an interrupt between them would leave a
    worker half started, outside the pool's books, which then fails with a
    traceback of its own or keeps the pool from shutting down.  Only the main
    thread can change signal handlers; elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    kinds = (signal.SIGINT, signal.SIGTERM)
    old = {k: signal.signal(k, lambda signum, _frame: held.append(signum)) for k in kinds}
    try:
        yield
    finally:
        for k, handler in old.items():
            signal.signal(k, signal.SIG_DFL if handler is None else handler)  # None: set outside Python
        for signum in dict.fromkeys(held):  # each kind once, in the order they came
            signal.raise_signal(signum)


class _Pickled:
    """A task that returns its result pickled with protocol 5, whose NumPy and
    Arrow buffers are written as they are; the pool's own pickling (protocol
    4) copies each buffer into bytes first.  Half the pickling time in the
    worker and 40% less unpickling in the driver (measured on 50,000 patients:
    32 vs 64 ms and 20 vs 34 ms)."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def __call__(self, item: tuple[int, Any]) -> bytes:
        index, spec = item
        _Running.started(index)
        return pickle.dumps(self.fn(spec), protocol=5)


_SLOT: tuple[Any, int] | None = None  # in a local worker: (the pool's slots, this worker's slot)


class _Running:
    """Which task each local worker runs, so that a crash names its task.

    When a worker dies, the pool fails every unfinished task at once with the
    same BrokenProcessPool: the tasks queued, those running in the other
    workers and the one that was running in the dead worker alike, in no
    order that tells them apart, and the pool does not record which worker
    took which task.  So each worker writes its pid into a slot of shared
    memory when it starts, and the index of each task as it takes it; after a
    crash the driver waits for the pool to stop the other workers (SIGTERM),
    finds the worker that ended otherwise (its own exit code, or a signal
    other than SIGTERM), and names the task in its slot."""

    def __init__(self, ctx: Any, workers: int) -> None:
        self.slots = ctx.RawArray("q", 2 * workers)  # per worker: pid, index of the task it took last (-1: none)
        self.claimed = ctx.Value("i", 0)  # slots taken

    @staticmethod
    def claim(slots: Any, claimed: Any) -> None:
        """In a worker that starts: take the next slot."""
        global _SLOT
        with claimed.get_lock():
            k = int(claimed.value)
            claimed.value = k + 1
        if 2 * k + 1 < len(slots):
            slots[2 * k + 1] = -1
            slots[2 * k] = os.getpid()
            _SLOT = (slots, 2 * k + 1)

    @staticmethod
    def started(index: int) -> None:
        """In a worker: it takes task ``index``."""
        if _SLOT is not None:
            _SLOT[0][_SLOT[1]] = index

    def crashed(self, pool: Any, processes: dict[int, Any] | None, unfinished: list[int]) -> tuple[list[int], str]:
        """After a BrokenProcessPool: the unfinished tasks that were running in
        the workers that died, and how they ended (empty if not known)."""
        manager = getattr(pool, "_executor_manager_thread", None)
        if manager is not None and manager is not threading.current_thread():
            manager.join(STOP_TIMEOUT_S)  # it fails the tasks, then stops the other workers and waits for them
        took = {int(self.slots[k]): int(self.slots[k + 1]) for k in range(0, len(self.slots), 2) if self.slots[k]}
        tasks: list[int] = []
        how: list[str] = []
        for pid, proc in sorted((processes or {}).items()):
            code = proc.exitcode
            if code is None or code == 0 or code == -signal.SIGTERM:  # running, shut down, or stopped by the pool
                continue
            task = took.get(pid, -1)
            if task in unfinished:
                tasks.append(task)
                how.append(_ended(code))
        order = sorted(range(len(tasks)), key=tasks.__getitem__)
        return [tasks[k] for k in order], ", ".join(dict.fromkeys(how[k] for k in order))


def _ended(code: int) -> str:
    """How a process ended, from its exit code."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


def _imap_dask(
    fn: Callable[[Any], Any], specs: Iterable[Any], scheduler: str, ordered: bool, window: int | None, n: int | None
) -> Iterator[tuple[int, Any]]:
    from dask.distributed import as_completed

    client = connect(scheduler)
    finished = as_completed(loop=client.loop)

    def submit(_index: int, spec: Any) -> Any:
        f = client.submit(fn, spec, pure=False)
        finished.add(f)
        return f

    lost = False
    try:
        threads = max(1, sum(client.nthreads().values()))
        yield from _drive(
            submit,
            specs,
            ordered,
            window or 2 * threads,
            lambda fs: [next(finished)],
            lambda f: f.result(),
            lambda f: f.cancel(),
            n,
        )
    except (OSError, TimeoutError, CancelledError) as exc:  # the cluster, not a task: a task's error keeps its type
        lost = True
        raise BackendError(
            f"lost the Dask scheduler at {scheduler} during the run ({type(exc).__name__}); nothing was written but what "
            "the command checkpoints (psa: continue with --resume); check the cluster and run the same command again"
        ) from None
    finally:
        if lost:
            _abandon(client)
        else:
            with contextlib.suppress(Exception):
                client.close()


class WorkerCrashed(BrokenProcessPool):
    """A local worker process died while running the named task."""


def _drive(
    submit: Callable[[int, Any], Any],
    specs: Iterable[Any],
    ordered: bool,
    window: int,
    wait_some: Callable[[Any], Any],
    result: Callable[[Any], Any],
    cancel: Callable[[Any], Any],
    n: int | None = None,
    crashed: Callable[[list[int]], tuple[list[int], str]] | None = None,
) -> Iterator[tuple[int, Any]]:
    """Keep ``window`` tasks in flight, taking the specs as they are needed;
    yield results (in order, or as done).  ``n``: the number of specs, if known.
    ``submit(index, spec)`` starts task ``index``; after a local worker died,
    ``crashed(unfinished)`` tells which of the unfinished tasks it was running."""
    todo = iter(specs)
    more = True
    pending: dict[Any, int] = {}
    done: dict[int, Any] = {}
    nxt_submit = nxt_yield = 0
    try:
        while True:
            while more and len(pending) + len(done) < max(1, window):
                spec = next(todo, _END)
                if spec is _END:
                    more = False
                    break
                pending[submit(nxt_submit, spec)] = nxt_submit
                nxt_submit += 1
            if ordered and nxt_yield in done:
                yield nxt_yield, done.pop(nxt_yield)
                nxt_yield += 1
                continue
            if not pending:
                return
            finished = wait_some(set(pending))
            for f in finished:
                i = pending.pop(f)
                try:
                    value = result(f)  # a task's exception is raised here
                except BrokenProcessPool as exc:
                    raise _crash(exc, sorted([i, *pending.values()]), n, crashed) from exc
                if ordered:
                    done[i] = value
                else:
                    nxt_yield += 1
                    yield i, value
    finally:
        for f in pending:
            cancel(f)


_END = object()  # no more specs


def _crash(
    exc: BrokenProcessPool,
    unfinished: list[int],
    n: int | None,
    crashed: Callable[[list[int]], tuple[list[int], str]] | None,
) -> WorkerCrashed:
    """The error of a dead worker, naming the task it was running (every
    unfinished task fails with the same error: the pool's order says nothing)."""
    of = f" (of tasks 0-{n - 1})" if n else ""
    tasks, how = crashed(unfinished) if crashed is not None else ([], "")
    if len(tasks) == 1:
        return WorkerCrashed(f"the worker running task {tasks[0]}{of} died ({how}): {exc}")
    if tasks:
        return WorkerCrashed(f"the workers running tasks {', '.join(map(str, tasks))}{of} died ({how}): {exc}")
    shown = ", ".join(map(str, unfinished[:10])) + (", ..." if len(unfinished) > 10 else "")
    return WorkerCrashed(f"a worker died while tasks {shown}{of} were unfinished: {exc}")


def map_tasks(
    fn: Callable[[Any], Any],
    specs: Sequence[Any],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    on_result: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """``[fn(s) for s in specs]`` on the chosen backend, in task order.

    ``on_result(index, result)`` is called in this process as each task
    finishes (in any order), e.g. to checkpoint it."""
    out: list[Any] = [None] * len(specs)
    with contextlib.closing(imap(fn, specs, workers=workers, scheduler=scheduler, ordered=on_result is None)) as results:
        for i, r in results:  # an error in on_result stops the workers at once (closing)
            out[i] = r
            if on_result is not None:
                on_result(i, r)
    return out


# ----------------------------------------------------------------------------- command-line options

AUTO_MIN_WORK = 50_000  # patient-runs below which --workers' default stays at 1 process


def add_backend_args(p: Any) -> None:
    """--workers and --scheduler (shared by run, psa and owsa)."""
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help=f"local worker processes (default: the machine's cores, {default_workers()} here, when the work is at least "
        f"{AUTO_MIN_WORK:,} patient-runs; 1 below that; at most {WORKERS_PER_CORE} per core and as many as the "
        f"available memory holds at {WORKER_MEMORY / 2**30:.2f} GB each)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        type=_address,
        metavar="ADDRESS",
        help="run on an existing Dask cluster instead, e.g. tcp://127.0.0.1:8786 (docs/scale.md)",
    )


def _address(text: str) -> str:
    """``--scheduler``: an empty address (an unset shell variable) is refused, never taken as 'run locally'."""
    import argparse

    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is empty; give the scheduler's address, e.g. tcp://HOST:8786, or leave the option out"
        )
    return text


def workers_from_args(args: Any, work: int) -> int:
    """The worker count: --workers if given (at most :func:`max_workers`), else the cores for
    large work (as many as the memory holds), 1 for small."""
    from sim.errors import UsageError

    w = getattr(args, "workers", None)
    cap, why = max_workers()
    if w is None:
        return min(default_workers(), cap) if work >= AUTO_MIN_WORK else 1
    if w < 1:
        raise UsageError(f"--workers {w}: give 1 or more worker processes")
    if w > cap:
        raise UsageError(f"--workers {w}: at most {cap} local worker processes here ({why}); give --workers {cap} or fewer")
    return int(w)


def check_scheduler(args: Any) -> None:
    """An unreachable --scheduler: exit 2 within seconds, before anything is written."""
    from sim.errors import UsageError

    if getattr(args, "scheduler", None):
        try:
            connect(args.scheduler).close()
        except BackendError as exc:
            raise UsageError(str(exc)) from None
