"""The Dask backend of :mod:`sim.runtime.parallel`: the workers of an existing
Dask distributed cluster (:class:`dask.distributed.Client`), reached at the
scheduler's address; results return to this process through the scheduler.
An address that is not a scheduler's, or one where nothing answers, is a
:class:`~sim.runtime.workers.BackendError` within :data:`CONNECT_TIMEOUT_S`
seconds, and so is a scheduler lost during the run."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError
from typing import Any

from sim.runtime.drive import drive
from sim.runtime.workers import BackendError

CONNECT_TIMEOUT_S = 5.0
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


def imap_dask(
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
        yield from drive(
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
