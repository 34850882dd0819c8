"""Blood counts and calcium as trajectories in continuous time.

A lineage's value is ``native(t) * dip(t) + transfused(t)``:

* ``native`` is piecewise exponential: constant (the patient's baseline)
  until the marrow is infiltrated, then falling at a patient-specific rate
  (slowed by treatment), one segment per change of rate or level;
* ``dip`` is a piecewise-constant factor for treatment nadirs
  (chemotherapy cycles, radionuclides), each with a start and an end;
* ``transfused`` is a sum of increments that decay exponentially (red cells
  over weeks, platelets over days).

Between two changes of segment, dip or transfusion the value is a smooth,
non-increasing function of time, so the time it falls through a threshold is
*computed*: in closed form without transfusions, by bisection on the closed
form with them (never by stepping through time).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from sim.kernel.philox import COMPILED as _COMPILED

INF: Final = math.inf


class Trajectory:
    """One analyte of one patient. Times in months; values in the analyte's unit."""

    __slots__ = ("seg_t", "seg_v", "seg_g", "dip", "boosts", "last", "floor")

    def __init__(self, baseline: float, floor: float = 1e-3):
        self.seg_t = [0.0]
        self.seg_v = [baseline]
        self.seg_g = [0.0]
        self.dip: list[tuple[float, float, float]] = []  # (start, end, factor)
        self.boosts: list[tuple[float, float, float]] = []  # (time, amount, decay rate per month): the history
        self.last: tuple[float, float, float] | None = None  # every boost so far as one term (one decay rate per analyte)
        self.floor = floor

    # ------------------------------------------------------------------ building
    def native(self, t: float) -> float:
        k = len(self.seg_t) - 1
        while k > 0 and self.seg_t[k] > t:
            k -= 1
        g = self.seg_g[k]
        return self.seg_v[k] * math.exp(-g * (t - self.seg_t[k])) if g else self.seg_v[k]

    def set_native(self, t: float, value: float | None = None, rate: float | None = None) -> None:
        """From time t the native value is ``value`` (default: as it is) and falls at ``rate`` per month."""
        v = self.native(t) if value is None else value
        g = self.seg_g[-1] if rate is None else rate
        if self.seg_t[-1] == t:
            self.seg_v[-1], self.seg_g[-1] = v, g
        else:
            self.seg_t.append(t)
            self.seg_v.append(v)
            self.seg_g.append(g)

    def add_dip(self, start: float, end: float, factor: float) -> None:
        self.dip = [d for d in self.dip if d[1] > start]  # ended nadirs no longer matter
        self.dip.append((start, end, factor))

    def add_boost(self, t: float, amount: float, half_life_months: float) -> None:
        r = math.log(2.0) / half_life_months
        self.boosts.append((t, amount, r))
        # transfusions of one analyte decay at one rate, so their sum from now on is a single term
        remaining = self.last[1] * math.exp(-self.last[2] * (t - self.last[0])) if self.last is not None else 0.0
        self.last = (t, remaining + amount, r)

    # ------------------------------------------------------------------ reading
    def factor(self, t: float) -> float:
        if not self.dip:
            return 1.0
        f = 1.0
        for a, b, x in self.dip:
            if a <= t < b:
                f *= x
        return f

    def transfused(self, t: float) -> float:
        last = self.last
        if last is None:
            return 0.0
        if t >= last[0]:
            return last[1] * math.exp(-last[2] * (t - last[0]))
        return sum(a * math.exp(-r * (t - s)) for s, a, r in self.boosts if s <= t)

    def value(self, t: float, native_only: bool = False) -> float:
        v = self.native(t) * self.factor(t)
        if not native_only and self.boosts:
            v += self.transfused(t)
        return max(v, self.floor)

    def values(self, ts: np.ndarray) -> np.ndarray:
        """:meth:`value` at many times at once (the same arithmetic, as arrays)."""
        seg_t = np.asarray(self.seg_t)
        k = np.maximum(np.searchsorted(seg_t, ts, side="right") - 1, 0)
        v0, g, t0 = np.asarray(self.seg_v)[k], np.asarray(self.seg_g)[k], seg_t[k]
        v = np.where(g != 0.0, v0 * np.exp(-g * (ts - t0)), v0)
        for a, b, x in self.dip:
            inside = (a <= ts) & (ts < b)
            v = np.where(inside, v * x, v)
        if self.boosts:
            last = self.last
            assert last is not None
            if len(self.boosts) == 1 or ts[0] >= last[0]:
                tr = np.where(ts >= last[0], last[1] * np.exp(-last[2] * (ts - last[0])), 0.0)
            else:
                tr = np.zeros_like(ts)
                for s0, a0, r0 in self.boosts:
                    tr = tr + np.where(ts >= s0, a0 * np.exp(-r0 * (ts - s0)), 0.0)
                tr = np.where(ts >= last[0], last[1] * np.exp(-last[2] * (ts - last[0])), tr)
            v = v + tr
        return np.maximum(v, self.floor)

    def next_change(self, t: float) -> float:
        """The next time a dip starts or ends after t (the value may jump there)."""
        best = INF
        for a, b, _ in self.dip:
            if t < a < best:
                best = a
            if t < b < best:
                best = b
        return best

    def crossing(self, t: float, threshold: float, until: float = INF, native_only: bool = False) -> float:
        """First time in (t, until) the value falls below ``threshold`` (INF if it does not).

        Assumes no segment, dip or transfusion change inside (t, until): the
        caller re-asks at each change.  Without transfusions the answer is in
        closed form; with them the value is a sum of decaying exponentials, a
        convex decreasing function, so Newton's method started at t climbs to
        the crossing without overshooting.
        """
        if self.value(t, native_only) < threshold:
            return t
        g = self.seg_g[-1]
        a = self.native(t) * self.factor(t)
        if native_only or not self.boosts:
            if g <= 0.0:
                return INF
            s = t + math.log(a / threshold) / g
            return s if s < until else INF
        terms = [(a, g), (self.transfused(t), self.last[2] if self.last is not None else 0.0)]
        if g <= 0.0 and a >= threshold:
            return INF
        x = 0.0
        for _ in range(200):
            f = -threshold
            d = 0.0
            for c, r in terms:
                e = c * math.exp(-r * x)
                f += e
                d -= r * e
            if f <= 1e-12 * threshold or d >= 0.0:
                break
            step = -f / d
            x += step
            if step < 1e-12 or t + x >= until:
                break
        s = t + x
        return s if s < until else INF


def grade_of(value: float, thresholds: tuple[float, ...]) -> int:
    """CTCAE-like grade: how many of the (descending) thresholds the value is below."""
    g = 0
    for thr in thresholds:
        if value < thr:
            g += 1
    return g


# compiled (mypyc), this module evaluates grids point by point; as Python, with NumPy arrays
NATIVE: Final = _COMPILED


def calcium(
    ca0: float, peaks: list[tuple[float, float]], t: float, threshold: float, rise_months: float, half_life_months: float
) -> float:
    """Corrected calcium at t: baseline, rising to cross ``threshold`` at each
    episode's time, peaking a day later, then falling back with treatment."""
    value = ca0
    day = 1.0 / (365.25 / 12)
    for te, peak in peaks:
        if te - rise_months <= t < te:
            v = ca0 + (threshold - ca0) * (t - (te - rise_months)) / rise_months
        elif te <= t < te + day:
            v = threshold + (peak - threshold) * (t - te) / day
        elif t >= te + day:
            v = ca0 + (peak - ca0) * math.exp(-math.log(2.0) * (t - te - day) / half_life_months)
        else:
            continue
        value = max(value, v)
    return value


def time_below(traj: Trajectory, threshold: float, t0: float, t1: float, step: float, max_points: int = 200) -> float:
    """Months with the value below ``threshold`` in [t0, t1], on a grid of
    ``step`` months (coarser when that would take more than ``max_points``):
    the grid's midpoints ``t0 + (j + 0.5) * h`` evaluated as :meth:`Trajectory.values`
    does (in the compiled kernel one point at a time, else as arrays).

    Compiled, the points are not all evaluated: between two changes (a new
    segment, a nadir starting or ending, a transfusion) the value does not
    rise, so the points below form the end of each stretch, found by binary
    search on the same per-point arithmetic (:func:`_grid_below_searched`)."""
    if t1 <= t0:
        return 0.0
    n = min(max_points, max(1, int(math.ceil((t1 - t0) / step))))
    h = (t1 - t0) / n
    if not NATIVE:
        ts = t0 + (np.arange(n) + 0.5) * h
        return h * int(np.count_nonzero(traj.values(ts) < threshold))
    return h * _grid_below_searched(traj, threshold, t0, h, n)


def _one_term(traj: Trajectory, t0: float, h: float) -> bool:
    """As in :meth:`Trajectory.values`: every transfusion as one term when there
    is one, or when the grid starts after the last."""
    last = traj.last
    return len(traj.boosts) == 1 or (last is not None and t0 + 0.5 * h >= last[0])


def _below_at(traj: Trajectory, t: float, threshold: float, one_term: bool) -> bool:
    """Whether the value at ``t`` is below ``threshold``: the arithmetic of
    :meth:`Trajectory.values` at one point."""
    seg_t = traj.seg_t
    k = 0
    last_seg = len(seg_t) - 1
    while k < last_seg and seg_t[k + 1] <= t:
        k += 1
    g = traj.seg_g[k]
    v = traj.seg_v[k] * math.exp(-g * (t - seg_t[k])) if g != 0.0 else traj.seg_v[k]
    for a, b, x in traj.dip:
        if a <= t < b:
            v = v * x
    last = traj.last
    if last is not None:
        if t >= last[0]:
            tr = last[1] * math.exp(-last[2] * (t - last[0]))
        elif one_term:
            tr = 0.0
        else:
            tr = 0.0
            for s0, a0, r0 in traj.boosts:
                if t >= s0:
                    tr = tr + a0 * math.exp(-r0 * (t - s0))
        v = v + tr
    return max(v, traj.floor) < threshold


def _grid_below_points(traj: Trajectory, threshold: float, t0: float, h: float, n: int) -> int:
    """How many of the grid's points ``t0 + (j + 0.5) * h``, j < n, are below: each evaluated."""
    one_term = _one_term(traj, t0, h)
    below = 0
    for j in range(n):
        if _below_at(traj, t0 + (j + 0.5) * h, threshold, one_term):
            below += 1
    return below


def _first_at_or_after(c: float, t0: float, h: float, lo: int, hi: int) -> int:
    """The first j in [lo, hi) whose grid point ``t0 + (j + 0.5) * h`` is at or after ``c`` (hi if none)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if t0 + (mid + 0.5) * h >= c:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _grid_below_searched(traj: Trajectory, threshold: float, t0: float, h: float, n: int) -> int:
    """:func:`_grid_below_points` with fewer evaluations, the same count.

    Every branch of the per-point arithmetic is a comparison of the point's
    time with a change time (a segment start, a nadir's start or end, a
    transfusion), so between consecutive change times the same formula
    holds; there the value is a sum and product of non-increasing terms
    (a decline ``exp(-g t)`` with g >= 0, positive nadir factors, decaying
    transfusions), and floating-point rounding of each step is monotone, so
    "below" holds from some point of the stretch to its end.  A binary search
    per stretch finds that point.  Where a term could rise, or falls by less
    than about a millionth between points (too little for the order of the
    rounded values to be certain), every point is evaluated instead."""
    for g in traj.seg_g:
        if g < 0.0 or (g != 0.0 and g * h < 1e-6):
            return _grid_below_points(traj, threshold, t0, h, n)
    for v0 in traj.seg_v:
        if v0 < 0.0:
            return _grid_below_points(traj, threshold, t0, h, n)
    changes = traj.seg_t[1:]
    for a, b, x in traj.dip:
        if x <= 0.0:
            return _grid_below_points(traj, threshold, t0, h, n)
        changes = changes + [a, b]
    last = traj.last
    if last is not None:
        for s0, a0, r0 in traj.boosts:
            if a0 < 0.0 or r0 < 0.0 or (a0 != 0.0 and r0 * h < 1e-6):
                return _grid_below_points(traj, threshold, t0, h, n)
            changes.append(s0)
        changes.append(last[0])
    one_term = _one_term(traj, t0, h)
    edges = sorted({_first_at_or_after(c, t0, h, 0, n) for c in changes} | {0, n})
    below = 0
    for i in range(len(edges) - 1):
        lo, hi = edges[i], edges[i + 1]
        if not _below_at(traj, t0 + (hi - 1 + 0.5) * h, threshold, one_term):
            continue  # not even the stretch's last point
        first = lo
        end = hi - 1  # below at end; find the first below in [first, end]
        while first < end:
            mid = (first + end) >> 1
            if _below_at(traj, t0 + (mid + 0.5) * h, threshold, one_term):
                end = mid
            else:
                first = mid + 1
        below += hi - first
    return below
