"""The event vocabulary and the columnar event recorder.

Each event is four typed values (patient id, time in months, event code,
detail code) appended to typed vectors (``librt.vecs``, mypyc's native
growable arrays: the compiled kernel stores the numbers unboxed, with no
Python object per value); tables are built once per chunk from those
buffers without a conversion pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from librt.vecs import append, vec
from mypy_extensions import i16, i32, i64

EVENTS = (
    "entry",
    "death",
    "censored",
    "sre",
    "cord_compression",
    "paralysis",
    "pain",
    "radiotherapy",
    "pain_response",
    "radionuclide",
    "hypercalcemia",
    "admission",
    "surgery",
    "carcinosis_onset",
    "cytopenia",
    "dic",
    "leukoerythroblastic",
    "suspicion",
    "scintigraphy",
    "biopsy",
    "carcinosis_diagnosis",
    "chemotherapy_cycle",
    "febrile_neutropenia",
    "transfusion_rbc",
    "transfusion_platelets",
    "infection",
    "bleeding",
    "terminal_myelosuppression",
    "remission",
    "relapse",
    "analgesia",
)
EV = {name: i for i, name in enumerate(EVENTS)}

CAUSES = ("progression", "terminal_myelosuppression", "infection", "bleeding", "hypercalcemic_crisis", "other")

ANALYTES = ("hb_g_dl", "platelets_e9_l", "anc_e9_l", "calcium_mmol_l")
LABS_SCHEMA = pa.schema(
    [
        ("patient_id", pa.int64()),
        ("time_months", pa.float64()),
        ("analyte", pa.dictionary(pa.int8(), pa.string())),
        ("value", pa.float64()),
    ]
)

EVENT_SCHEMA = pa.schema(
    [
        ("patient_id", pa.int64()),
        ("time_months", pa.float64()),
        ("event", pa.dictionary(pa.int16(), pa.string())),
        ("detail", pa.dictionary(pa.int32(), pa.string())),
    ]
)


def column(values: Any, dtype: Any) -> np.ndarray:
    """A typed vector's values as a (read-only) array of ``dtype``, the
    vector's own item type: a view of its buffer, no copy and no conversion."""
    return np.frombuffer(values, dtype=dtype)


def typed_array(values: Sequence[Any], dtype: Any) -> np.ndarray:
    """A list of Python numbers (no None) as an array of ``dtype``: the same
    values as ``np.asarray(values, dtype)``, without its type discovery pass."""
    return np.fromiter(values, dtype=dtype, count=len(values))


class Recorder:
    """Collects events of one chunk in columns; ``detail`` strings are interned."""

    __slots__ = (
        "pid",
        "t",
        "ev",
        "det",
        "details",
        "detail_codes",
        "rows",
        "labs",
        "n_events",
        "n_timeouts",
        "n_details0",
        "st_key",
        "st_courses",
        "st_events",
        "st_requests",
        "order",
        "code_map",
    )

    def __init__(self) -> None:
        self.details: list[str] = [""]
        self.detail_codes: dict[str, int] = {"": 0}  # detail string -> its code
        self.rows: list[tuple[Any, ...]] = []
        self.n_events = 0
        self.n_timeouts = 0  # SimPy timeouts the courses waited on (for the benchmark's bare-SimPy comparison)
        self.labs: list[tuple[int, float, int, float]] = []  # patient, time, analyte code, value
        self.clear()

    def clear(self) -> None:
        self.pid: vec[i64] = vec[i64]()
        self.t: vec[float] = vec[float]()
        self.ev: vec[i16] = vec[i16]()
        self.det: vec[i32] = vec[i32]()
        self.rows = []
        self.labs = []  # patient, time, analyte code, value
        self.n_details0 = len(self.details)  # detail strings interned before this chunk
        # courses run one after another (sim.kernel.course.run_direct) record their steps; see interleave()
        self.st_key: vec[float] = vec[float]()  # per step, when it runs: the scheduler's key (months)
        self.st_courses: vec[i64] = vec[i64]()  # per course, its number of steps (a course's steps are consecutive)
        self.st_events: vec[i64] = vec[i64]()  # per step, how many events it recorded
        self.st_requests: vec[i64] = vec[i64]()  # per step, how many service requests it made
        self.order: Any = None  # event positions in scheduler order (None: as recorded)
        self.code_map: Any = None  # detail codes renumbered for that order (see _codes_by_first_use)

    def event(self, pid: i64, t: float, ev: i16, detail: i32) -> None:
        """Record one event: patient id, time (calendar months), event code, detail code."""
        self.pid = append(self.pid, pid)
        self.t = append(self.t, t)
        self.ev = append(self.ev, ev)
        self.det = append(self.det, detail)

    def step(self, key: float) -> None:
        """A course's next step runs at scheduler key ``key`` (months; see :meth:`interleave`)."""
        self.st_key = append(self.st_key, key)

    def step_made(self, n_events: i64, n_requests: i64) -> None:
        """The step just run recorded ``n_events`` events and made ``n_requests`` service requests."""
        self.st_events = append(self.st_events, n_events)
        self.st_requests = append(self.st_requests, n_requests)

    def course_steps(self, steps: i64) -> None:
        """The course just run took ``steps`` steps."""
        self.st_courses = append(self.st_courses, steps)

    def interleave(self, n_events: int, n_requests: int) -> Any:
        """Put the steps recorded since the last call in the order a shared
        scheduler would have run them (:func:`step_order`): events are then
        read in that order by :meth:`table`.  Returns the same order of the
        service requests (for :meth:`sim.kernel.services.ServiceLog.reorder`).
        ``n_events``/``n_requests``: the events and requests recorded so far."""
        if len(self.st_key) == 0:
            return None
        key = column(self.st_key, np.float64)
        per_course = column(self.st_courses, np.int64)
        prev = np.arange(-1, len(key) - 1, dtype=np.int64)  # a course's steps follow one another
        prev[np.cumsum(per_course) - per_course] = -1  # its first step
        steps = step_order(key, prev)
        ev = _items_in_order(column(self.st_events, np.int64), n_events, steps)
        req = _items_in_order(column(self.st_requests, np.int64), n_requests, steps)
        self.order = ev if self.order is None else np.concatenate([self.order, ev[len(self.order) :]])
        self.st_key, self.st_courses = vec[float](), vec[i64]()
        self.st_events, self.st_requests = vec[i64](), vec[i64]()
        return req

    def labs_table(self) -> pa.Table:
        """This chunk's kept lab values as an Arrow table."""
        cols: list[Any] = list(zip(*self.labs)) if self.labs else [[], [], [], []]
        analyte = pa.DictionaryArray.from_arrays(pa.array(np.asarray(cols[2], dtype=np.int8)), pa.array(ANALYTES))
        return pa.Table.from_arrays(
            [
                pa.array(np.asarray(cols[0], dtype=np.int64)),
                pa.array(np.asarray(cols[1], dtype=np.float64)),
                analyte,
                pa.array(np.asarray(cols[3], dtype=np.float64)),
            ],
            schema=LABS_SCHEMA,
        )

    def code(self, detail: str) -> int:
        """The code of a detail string (interned once per run)."""
        c = self.detail_codes.get(detail)
        if c is None:
            c = self.detail_codes[detail] = len(self.details)
            self.details.append(detail)
        return c

    def table(self) -> pa.Table:
        """This chunk's events as an Arrow table (dictionary-encoded strings)."""
        self.n_events += len(self.pid)
        pid, t = column(self.pid, np.int64), column(self.t, np.float64)
        evc, detc = column(self.ev, np.int16), column(self.det, np.int32)
        if self.order is not None:
            order = self.order
            pid, t, evc, detc = pid[order], t[order], evc[order], detc[order]
            if self.code_map is None:
                self.code_map = self._codes_by_first_use(detc)
            detc = self.code_map[detc]
        else:  # as recorded: copies holding exactly the values (the vectors' buffers are then freed)
            pid, t, evc, detc = pid.copy(), t.copy(), evc.copy(), detc.copy()
        ev = pa.DictionaryArray.from_arrays(pa.array(evc), pa.array(EVENTS))
        det = pa.DictionaryArray.from_arrays(pa.array(detc), pa.array(self.details, type=pa.string()))
        return pa.Table.from_arrays([pa.array(pid), pa.array(t), ev, det], schema=EVENT_SCHEMA)

    def _codes_by_first_use(self, det: Any) -> Any:
        """Renumber the detail strings first met in this chunk by their first
        use in the (reordered) event log, as interning them in that order
        would have: the same codes and dictionary as a shared scheduler gives.
        Returns the map from the recorded codes to the new ones."""
        n0 = self.n_details0
        mapping = np.arange(len(self.details), dtype=np.int32)
        if len(self.details) == n0:
            return mapping
        new = det[det >= n0]
        codes, first = np.unique(new, return_index=True)
        by_use = codes[np.argsort(first, kind="stable")]
        mapping[by_use] = np.arange(n0, n0 + len(by_use), dtype=np.int32)
        old = self.details[n0:]
        for j, c in enumerate(by_use.tolist()):
            text = old[c - n0]
            self.details[n0 + j] = text
            self.detail_codes[text] = n0 + j
        return mapping


def step_order(key: Any, prev: Any) -> Any:
    """The order in which one scheduler shared by all courses (SimPy's, or a
    heap keyed like it) runs the steps of courses that were run one after
    another.  ``key``: each step's scheduled time as the scheduler computes it
    (months); ``prev``: the same course's step before it, or -1 for a course's
    first step (at entry).

    The scheduler runs every first step at entry, in course order, then the
    others by (time, wait number), where a step's wait number is the order
    in which the waits were made: the rank of the step before it.  So steps
    at different times are ordered by time alone; steps at the same time, by
    the rank of the step before each (already known: it is earlier).  A step
    whose wait ended at the very time it was made (a wait shorter than the
    time's rounding) is ranked after the step it follows, as it would be."""
    n = len(key)
    first = np.flatnonzero(prev < 0)
    rest = np.flatnonzero(prev >= 0)
    rest = rest[np.argsort(key[rest])]  # runs of equal times are ordered below
    order = np.concatenate([first, rest])
    k = key[rest]
    equal = k[1:] == k[:-1]
    if not equal.any():
        return order
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    # each run of equal times, in time order (the steps before them are ranked by then)
    edges = np.diff(np.concatenate([[0], equal.astype(np.int8), [0]]))
    nf = len(first)
    for a, b in zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()):
        lo, hi = nf + a, nf + b + 1  # positions in order of one run of equal times
        group = order[lo:hi]
        before = rank[prev[group]]
        if int(before.max()) < lo:  # every step before them is earlier: order by their rank
            group = group[np.argsort(before, kind="stable")]
        else:
            group = _tied_after_zero_waits(group, prev, rank, lo)
        order[lo:hi] = group
        rank[group] = np.arange(lo, hi)
    return order


def _tied_after_zero_waits(group: Any, prev: Any, rank: Any, lo: int) -> Any:
    """Order one run of equal times in which some steps follow a step of the
    same run (a wait of zero length): those whose step before is outside the
    run first, by its rank, then, pass by pass, those whose step before has
    just been placed (their waits were made later, so their wait numbers are
    larger)."""
    members = group.tolist()
    placed: list[int] = []
    waiting = set(members)
    while waiting:
        ready = sorted((int(rank[prev[g]]), g) for g in waiting if int(prev[g]) not in waiting)
        for _, g in ready:
            rank[g] = lo + len(placed)
            placed.append(g)
            waiting.discard(g)
    return np.asarray(placed, dtype=np.int64)


def _items_in_order(counts: Any, end: int, steps: Any) -> Any:
    """Positions of the items (events or requests) of each step, the steps taken
    in the order ``steps``; step s recorded ``counts[s]`` items, one step after
    another, the last ending at position ``end``.  Items recorded before the
    first step keep their place."""
    head = end - int(counts.sum())
    starts = head + np.cumsum(counts) - counts
    lens = counts[steps]
    total = int(lens.sum())
    offsets = np.cumsum(lens) - lens
    within = np.arange(total, dtype=np.int64) - np.repeat(offsets, lens)
    moved = np.repeat(starts[steps], lens) + within
    return np.concatenate([np.arange(head, dtype=np.int64), moved])
