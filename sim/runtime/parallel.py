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
  this process through the scheduler (:mod:`sim.runtime.dask_backend`).  An
  unreachable scheduler is reported within
  :data:`sim.runtime.dask_backend.CONNECT_TIMEOUT_S` seconds.

Tasks are taken from an iterable as they are needed (a generator of specs
is never built up front) and at most a few per worker are in flight, so
memory stays bounded however many tasks there are.  Because every random number is addressed by (seed,
replication, patient, process), results do not depend on the backend or the
worker count: the same seed gives byte-identical tables.

The tasks of a run are in the one runner, :mod:`sim.experiments.runner`
(``cohort_task``: a chunk of patients of a cohort whose patients do not
interact; ``replication_task``: one replication), which maps them and writes
the results folder.

A local worker that dies stops the map with
:class:`sim.runtime.drive.WorkerCrashed`, naming the task it was running
(:class:`_Running`).  Both backends keep their tasks in flight with
:func:`sim.runtime.drive.drive`; the worker counts and their caps are in
:mod:`sim.runtime.workers`, and the command-line options ``--workers`` and
``--scheduler`` in :mod:`sim.cli.commands.common`.
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
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from sim.runtime.dask_backend import imap_dask
from sim.runtime.drive import drive
from sim.runtime.workers import check_workers

# forkserver: workers forked from a server process that runs no Python thread of this one (never from this one)
START_METHOD = "forkserver" if sys.platform.startswith("linux") else "spawn"
# what a worker needs, imported once in the fork server (the cohort, replication and PSA tasks);
# sim.runtime._forkserver first: the server's own set-up (SIGINT ignored)
PRELOAD = (
    "sim.runtime._forkserver",
    "sim.runtime.parallel",
    "sim.experiments.runner",
    "sim.experiments.psa",
    "sim.experiments.psa_draws",
    "sim.scenario.loader",
)
STOP_TIMEOUT_S = 10.0  # a stopped pool's thread is waited for this long at most
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent exits (Linux)


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
        yield from imap_dask(fn, specs, scheduler, ordered, window, n)
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

        yield from drive(
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
