"""How many local worker processes: the default (the machine's cores), the
check of a count asked for, and the cap this machine takes now (a few per
core, and no more than the available memory holds); :class:`BackendError`
for a backend that cannot be used."""

from __future__ import annotations

import os

# --workers' cap: the tasks are CPU-bound, so processes beyond a few per core add memory, not speed;
# and each local worker takes memory of its own (about 0.19 GB at its peak, measured on cohort
# tasks of 50,000 patients), so no more are started than the available memory holds
WORKERS_PER_CORE = 4
WORKER_MEMORY = 256 * 2**20  # bytes counted per worker against the available memory


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
