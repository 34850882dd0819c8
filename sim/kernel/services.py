"""Services with optional finite capacity, and their figures per year.

Each service of the conceptual model (radiotherapy, nuclear medicine,
chemotherapy chairs, transfusion chairs, beds, theatre, marrow biopsy) is,
when the scenario sets a capacity, a SimPy ``PriorityResource``: a use holds
one place for its duration (a radiotherapy course: its fraction days; a bed:
the length of stay), waits in priority order (0 = emergency first), and
services with a weekday working pattern start uses on weekdays only.  With no
capacity (``null``) a service is unlimited: every request starts at once.

Every request is recorded in columns (service, patient, times of request,
start and end, units, priority, died waiting); :func:`service_table` turns
them into requests, uses, units, utilisation, mean queue, waits and deaths
while waiting per service and year.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
import simpy
from librt.vecs import append, vec
from mypy_extensions import i64, u8

from sim.kernel.constants import DAYS_PER_MONTH
from sim.kernel.events import column

if TYPE_CHECKING:
    from sim.scenario.model import Scenario

SERVICES = ("radiotherapy", "nuclear_medicine", "chemotherapy", "transfusion", "beds", "theatre", "biopsy")
SVC = {name: i for i, name in enumerate(SERVICES)}
MONTHS_PER_YEAR = 12.0
EMERGENCY: Final = 0  # priorities, most urgent first
URGENT: Final = 1
ROUTINE: Final = 2


def next_weekday_start(t_months: float) -> float:
    """The earliest time >= t on a weekday (calendar day 0 is a Monday)."""
    d = t_months * DAYS_PER_MONTH
    day = math.floor(d)
    wd = day % 7
    if wd < 5:
        return t_months
    return (day + (7 - wd)) / DAYS_PER_MONTH


class ServiceLog:
    """Columnar record of every service request of a run.

    Requests are appended to typed vectors (``librt.vecs``; see
    :mod:`sim.kernel.events`) while they may still change (a queued request gets its
    start later); :meth:`seal` then moves them into arrays: about 40 bytes
    per request."""

    __slots__ = ("svc", "pid", "t_req", "t_start", "t_end", "units", "prio", "order", "_sealed")

    def __init__(self) -> None:
        self._sealed: list[dict[str, np.ndarray]] = []
        self._clear()

    def _clear(self) -> None:
        self.svc: vec[u8] = vec[u8]()
        self.pid: vec[i64] = vec[i64]()
        self.t_req: vec[float] = vec[float]()
        self.t_start: vec[float] = vec[float]()  # NaN: died while waiting
        self.t_end: vec[float] = vec[float]()
        self.units: vec[float] = vec[float]()
        self.prio: vec[u8] = vec[u8]()
        self.order: Any = None  # the unsealed requests' positions in the canonical order (None: made in it)

    def canonical(self) -> None:
        """Read the unsealed requests in the canonical order: by patient id,
        then request time, then the order made within the patient (a stable
        sort), as courses run one after another make them; see
        :meth:`sim.kernel.events.Recorder.canonical`."""
        pid, t = column(self.pid, np.int64), column(self.t_req, np.float64)
        self.order = np.lexsort((t, pid))

    def add(self, svc: int, pid: int, t_req: float, t_start: float, t_end: float, units: float, prio: int) -> int:
        """Record a request; returns its index among the unsealed requests."""
        self.svc = append(self.svc, svc)
        self.pid = append(self.pid, pid)
        self.t_req = append(self.t_req, t_req)
        self.t_start = append(self.t_start, t_start)
        self.t_end = append(self.t_end, t_end)
        self.units = append(self.units, units)
        self.prio = append(self.prio, prio)
        return len(self.svc) - 1

    def seal(self) -> None:
        """Freeze the requests so far (none of them will change again)."""
        if len(self.svc):
            self._sealed.append(self._arrays())
            self._clear()

    def _arrays(self) -> dict[str, np.ndarray]:
        cols = {
            "service": column(self.svc, np.uint8).view(np.int8),
            "patient_id": column(self.pid, np.int64),
            "request_months": column(self.t_req, np.float64),
            "start_months": column(self.t_start, np.float64),
            "end_months": column(self.t_end, np.float64),
            "units": column(self.units, np.float64),
            "priority": column(self.prio, np.uint8).view(np.int8),
        }
        if self.order is not None:
            return {name: col[self.order] for name, col in cols.items()}
        return {name: col.copy() for name, col in cols.items()}  # the vectors' buffers are then freed

    def frame(self) -> pd.DataFrame:
        """Every request of the run, in the canonical order (chunk by chunk)."""
        self.seal()
        parts = self._sealed or [self._arrays()]
        # column by column, each part's copy released as soon as it is joined
        cols = {name: np.concatenate([p.pop(name) for p in parts]) for name in list(parts[0])}
        self._sealed = [dict(cols)]  # joined once; a second call joins nothing
        service = pd.Categorical.from_codes(cols["service"], categories=list(SERVICES))
        return pd.DataFrame({**cols, "service": service}, copy=False)  # the joined arrays are the columns


class Pools:
    """The finite-capacity services of one SimPy environment."""

    def __init__(self, env: simpy.Environment, scenario: Scenario):
        self.env = env
        self.capacity: list[int | None] = []
        self.weekdays: list[bool] = []
        self.res: list[simpy.PriorityResource | None] = []
        for name in SERVICES:
            cfg = getattr(scenario.services, name)
            self.capacity.append(cfg.capacity)
            self.weekdays.append(cfg.weekdays_only)
            self.res.append(simpy.PriorityResource(env, capacity=cfg.capacity) if cfg.capacity is not None else None)

    def finite(self, k: int) -> bool:
        return self.res[k] is not None


def serve(
    env: simpy.Environment,
    pools: Pools,
    log: ServiceLog,
    k: int,
    who: Any,
    priority: int,
    hold_months: float,
    units: float,
    on_start: Any,
    release_on_death: bool,
):
    """SimPy process of one use of a finite service.

    ``who`` needs ``pid``, ``alive`` and ``died`` (a SimPy event that fires
    at death).  ``on_start()`` runs when the use starts; the place is held
    for ``hold_months`` (or until death when ``release_on_death``)."""
    res = pools.res[k]
    assert res is not None
    # recorded at once: a request still waiting when the run ends is counted too
    idx = log.add(k, who.pid, env.now, math.nan, math.nan, 0.0, priority)
    req = res.request(priority=priority)
    got = yield req | who.died
    if req not in got:
        req.cancel()
        log.t_end[idx] = env.now  # died while waiting
        return
    try:
        if pools.weekdays[k]:
            start = next_weekday_start(env.now)
            if start > env.now:
                yield env.timeout(start - env.now) | who.died
                if not who.alive:
                    log.t_end[idx] = env.now
                    return
        log.t_start[idx] = env.now
        log.t_end[idx] = env.now + hold_months
        log.units[idx] = units
        on_start()
        if hold_months > 0:
            if release_on_death:
                yield env.timeout(hold_months) | who.died
            else:
                yield env.timeout(hold_months)
        log.t_end[idx] = env.now
    finally:
        res.release(req)


# ----------------------------------------------------------------------------- figures per year


def _overlap(a: np.ndarray, b: np.ndarray, lo: float, hi: float, out: np.ndarray) -> np.ndarray:
    """Length of each ``[a, b)`` inside ``[lo, hi)``, computed in ``out`` (a
    scratch array of two rows the size of ``a``; the first row is returned)."""
    x, y = out[0], out[1]
    np.minimum(b, hi, out=x)
    np.maximum(a, lo, out=y)
    np.subtract(x, y, out=x)
    return np.clip(x, 0.0, None, out=x)


def _year_of(t: np.ndarray, los: list[float], his: list[float]) -> np.ndarray | None:
    """The year ``y`` with ``los[y] <= t < his[y]`` of each time (``len(los)``:
    in no year, NaN included); None when two windows overlap by rounding."""
    n = len(los)
    if any(his[y] > los[y + 1] for y in range(n - 1)):
        return None
    # edges lo0 <= hi0 <= lo1 <= hi1 ...: a time is in year y when exactly 2y + 1 edges are <= it
    year_of_count = np.full(2 * n + 1, n, dtype=np.int16 if n < 32767 else np.int64)
    year_of_count[1::2] = np.arange(n)
    return year_of_count[np.searchsorted(np.array([e for lh in zip(los, his, strict=True) for e in lh]), t, side="right")]


def _by_year(t: np.ndarray, los: list[float], his: list[float]) -> list[np.ndarray]:
    """Per year, the positions of ``t`` in ``[los[y], his[y])`` in their
    original order, so sums over them add the same numbers in the same order
    as a boolean mask per year would (one stable sort instead of the masks)."""
    year = _year_of(t, los, his)
    if year is None:
        return [np.flatnonzero((t >= lo) & (t < hi)) for lo, hi in zip(los, his, strict=True)]
    order = np.argsort(year, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(year, minlength=len(los) + 1))])
    return [order[bounds[k] : bounds[k + 1]] for k in range(len(los))]


def _count_by_year(t: np.ndarray, los: list[float], his: list[float]) -> list[int]:
    """Per year, how many of ``t`` fall in ``[los[y], his[y])``."""
    year = _year_of(t, los, his)
    if year is None:
        return [int(((t >= lo) & (t < hi)).sum()) for lo, hi in zip(los, his, strict=True)]
    return [int(c) for c in np.bincount(year, minlength=len(los) + 1)[: len(los)]]


def _lookup(series: pd.Series, keys: np.ndarray) -> np.ndarray:
    """``series.reindex(keys).to_numpy()`` without a hash table of the whole
    index when the index is sorted (the patients table is)."""
    idx = series.index.to_numpy()
    if len(idx) and series.index.is_monotonic_increasing and series.index.is_unique:
        pos = np.searchsorted(idx, keys)
        pos_ok = np.minimum(pos, len(idx) - 1)
        found = (pos < len(idx)) & (idx[pos_ok] == keys)
        return np.where(found, series.to_numpy()[pos_ok], np.nan)
    return series.reindex(keys).to_numpy()


_LOG_COLUMNS = ("request_months", "start_months", "end_months", "units")


def _by_service(logs: list[pd.DataFrame]) -> Callable[[int, str], np.ndarray]:
    """``take(k, column)``: one column of service ``k``'s requests in the order
    made, from a request log given in parts (the parts in order), as in one
    concatenated log; no concatenated copy of the whole log is made."""
    parts = []
    for log in logs:
        # the log's positions put in service order once (a stable sort keeps each service's
        # requests in the order made), each service a slice
        svc = pd.Categorical(log["service"], categories=list(SERVICES)).codes  # -1: not a service
        order = np.argsort(svc, kind="stable")
        starts = np.cumsum([np.count_nonzero(svc == k) for k in range(-1, len(SERVICES))])  # where each service's part begins
        parts.append((log, order, starts))

    def take(k: int, column: str) -> np.ndarray:
        pieces = [log[column].to_numpy()[order[starts[k] : starts[k + 1]]] for log, order, starts in parts]
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces) if pieces else np.empty(0)

    return take


def service_table(
    log: pd.DataFrame | list[pd.DataFrame],
    scenario: Scenario,
    start_months: float,
    end_months: float,
    death_calendar: pd.Series | None = None,
) -> pd.DataFrame:
    """Per service and year from ``start_months`` to ``end_months``:
    requests, completed uses, units, utilisation (time-weighted busy places ÷
    capacity), mean number of busy places, mean queue length, waits in days
    (mean, median, 95th percentile), deaths while waiting, cost.

    ``log``: the request log, or its parts in order (a parallel run's tasks).
    ``death_calendar`` (patient id -> calendar death time) ends bed stays at
    death for unlimited beds."""
    rows = []
    n_years = max(1, int(math.ceil((end_months - start_months) / MONTHS_PER_YEAR - 1e-9)))
    costs = scenario.costs
    los = [start_months + y * MONTHS_PER_YEAR for y in range(n_years)]
    his = [min(lo + MONTHS_PER_YEAR, end_months) for lo in los]
    # one service at a time, only the columns needed
    take = _by_service([log] if isinstance(log, pd.DataFrame) else log)
    for k, name in enumerate(SERVICES):
        cfg = getattr(scenario.services, name)
        t_req, t_start, t_end, units = (take(k, c) for c in _LOG_COLUMNS)
        if name == "beds" and death_calendar is not None and len(t_req):
            dt = _lookup(death_calendar, take(k, "patient_id"))
            t_end = np.where(np.isfinite(dt), np.minimum(t_end, dt), t_end)
        started = np.isfinite(t_start)
        wait_end = np.where(started, t_start, np.where(np.isfinite(t_end), t_end, end_months))
        died_waiting = ~started & np.isfinite(t_end)
        use_start, use_end = t_start[started], t_end[started]
        # nobody queued (every unlimited service): each year's queue is a sum of zeros, 0.0 exactly
        queued = not np.array_equal(wait_end, t_req)
        requests = _count_by_year(t_req, los, his)
        uses = _by_year(t_start, los, his)  # not started (NaN): in no year
        deaths = _count_by_year(t_end[died_waiting], los, his)
        scratch = np.empty((2, max(len(use_start), len(t_req) if queued else 0)))
        for y in range(n_years):
            lo, hi = los[y], his[y]
            span = hi - lo
            in_start = uses[y]
            waits = (t_start[in_start] - t_req[in_start]) * DAYS_PER_MONTH
            busy = _overlap(use_start, use_end, lo, hi, scratch[:, : len(use_start)]).sum() / span if span > 0 else math.nan
            if span <= 0:
                queue = math.nan
            else:
                queue = _overlap(t_req, wait_end, lo, hi, scratch[:, : len(t_req)]).sum() / span if queued else 0.0
            n_uses = len(in_start)
            u = float(units[in_start].sum())
            cost = cfg.cost_per_use * n_uses + cfg.cost_per_unit * u
            disc = (1.0 + costs.discount_rate_per_year) ** (-y)
            rows.append(
                {
                    "service": name,
                    "year": y + 1,
                    "from_months": lo,
                    "to_months": hi,
                    "capacity": cfg.capacity,
                    "requests": requests[y],
                    "uses": n_uses,
                    "units": u,
                    "unit": cfg.unit,
                    "mean_busy": busy,
                    "utilisation": busy / cfg.capacity if cfg.capacity else math.nan,
                    "mean_queue": queue,
                    "wait_mean_days": float(waits.mean()) if len(waits) else math.nan,
                    # nobody waited (every unlimited service): the quantiles are 0 without sorting
                    "wait_median_days": (float(np.median(waits)) if waits.any() else 0.0) if len(waits) else math.nan,
                    "wait_p95_days": (float(np.percentile(waits, 95)) if waits.any() else 0.0) if len(waits) else math.nan,
                    "deaths_waiting": deaths[y],
                    "cost": cost,
                    "cost_discounted": cost * disc,
                }
            )
    return pd.DataFrame(rows)


def services_summary(table: pd.DataFrame) -> dict[str, Any]:
    """summary.json ``services.<name>``: totals over the reported years and each year."""
    out: dict[str, Any] = {}
    for name, d in table.groupby("service", sort=False, observed=True):
        uses = d["uses"].to_numpy()
        wait = d["wait_mean_days"].to_numpy()
        w = np.where(np.isfinite(wait), wait, 0.0)
        out[str(name)] = {
            "capacity": d["capacity"].iloc[0] if d["capacity"].notna().iloc[0] else None,
            "unit": d["unit"].iloc[0],
            "requests": int(d["requests"].sum()),
            "uses": int(uses.sum()),
            "units": float(d["units"].sum()),
            "utilisation_mean": float(d["utilisation"].mean()) if d["utilisation"].notna().any() else None,
            "wait_mean_days": float((w * uses).sum() / uses.sum()) if uses.sum() else None,
            "deaths_waiting": int(d["deaths_waiting"].sum()),
            "cost": float(d["cost"].sum()),
            "cost_discounted": float(d["cost_discounted"].sum()),
            "per_year": d.drop(columns=["service", "unit"]).to_dict(orient="records"),
        }
    out["total_cost"] = float(table["cost"].sum())
    out["total_cost_discounted"] = float(table["cost_discounted"].sum())
    return out
