"""The loop both backends of :mod:`sim.runtime.parallel` share: :func:`drive`
keeps a window of tasks in flight, taking the specs as they are needed, and
yields the results in task order or as they finish; a local worker that
dies stops it with :class:`WorkerCrashed`, naming the task it was running."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any


class WorkerCrashed(BrokenProcessPool):
    """A local worker process died while running the named task."""


def drive(
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
