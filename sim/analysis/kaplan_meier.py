"""The Kaplan-Meier estimate, in one place.

Every survival figure of the program comes from here:

- :func:`fit` is the one Kaplan-Meier fit (lifelines' ``KaplanMeierFitter``,
  log-log pointwise intervals), read by :func:`survival_at` and
  :func:`median`; the summary (:mod:`sim.analysis.summary`), the curves
  (:mod:`sim.analysis.survival`) and the published targets
  (:mod:`sim.analysis.targets`) use it;
- :func:`product_limit` is the same product-limit estimate without intervals
  in plain NumPy, for the thousands of runs of a probabilistic sensitivity
  analysis (:mod:`sim.experiments.psa_draws`), read by :func:`steps_at` and
  :func:`steps_median`;
- :func:`known_until` is where an estimate ends: beyond the follow-up it is
  not estimable (:func:`not_estimable` says why), never the last value carried
  forward.

The two estimators give the same survival up to the rounding of a product
against lifelines' sum of logarithms; each caller keeps the one it has always
used, so results stay byte-identical.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "fit",
    "known_until",
    "median",
    "not_estimable",
    "product_limit",
    "steps_at",
    "steps_median",
    "survival_at",
]


def known_until(time: Any, event: Any) -> float:
    """The last time (months) at which a Kaplan-Meier estimate of these data is
    known: the longest follow-up (an event or a censoring), or for ever when
    everyone followed that long died then (survival has reached 0 and stays 0).
    Beyond it the estimate is not estimable: carrying the last value forward
    would invent survival nobody was followed for.  -inf for no patients."""
    t = np.asarray(time, dtype=float)
    if len(t) == 0:
        return -math.inf
    last = float(t.max())
    at_end = t == last
    return math.inf if bool(np.asarray(event, dtype=bool)[at_end].all()) else last


def not_estimable(until: float) -> str:
    """Why an estimate at a time beyond ``until`` (see :func:`known_until`) is missing."""
    if not math.isfinite(until):
        return "not estimable (no patients)"
    shown = math.floor(until * 10 + 1e-9) / 10  # rounded down: the follow-up really reached
    return f"not estimable (follow-up {shown:g} months)"


# ----------------------------------------------------------------------------- lifelines


def fit(time: Any, event: Any) -> Any:
    """The Kaplan-Meier fit of survival times and event flags (lifelines' ``KaplanMeierFitter``)."""
    from lifelines import KaplanMeierFitter

    return KaplanMeierFitter().fit(time, event)


def survival_at(kmf: Any, t: float, until: float = math.inf) -> float:
    """Survival at month ``t`` of a :func:`fit`; NaN (not estimable) beyond ``until``."""
    if kmf is None or t > until:
        return math.nan
    return float(kmf.survival_function_at_times(t).iloc[0])


def median(kmf: Any) -> float:
    """The median of a :func:`fit` (inf if survival never falls to 0.5; NaN without a fit)."""
    return math.nan if kmf is None else float(kmf.median_survival_time_)


# ----------------------------------------------------------------------------- plain NumPy


def product_limit(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier without intervals: distinct event times and the survival just after each."""
    order = np.argsort(time, kind="mergesort")
    t, e = time[order], event[order].astype(bool)
    uniq, first = np.unique(t, return_index=True)
    n = len(t)
    at_risk = n - first
    deaths = np.add.reduceat(e.astype(np.int64), first) if n else np.array([], dtype=np.int64)
    keep = deaths > 0
    s = np.cumprod(1.0 - deaths[keep] / at_risk[keep])
    return uniq[keep], s


def steps_median(times: np.ndarray, surv: np.ndarray) -> float:
    """The median of a :func:`product_limit` estimate (NaN if survival never falls to 0.5)."""
    below = np.nonzero(surv <= 0.5)[0]
    return float(times[below[0]]) if len(below) else math.nan


def steps_at(times: np.ndarray, surv: np.ndarray, t: float, until: float = math.inf) -> float:
    """Survival at ``t`` of a :func:`product_limit` estimate; NaN (not estimable) beyond ``until``."""
    if t > until:
        return math.nan
    i = np.searchsorted(times, t, side="right") - 1
    return 1.0 if i < 0 else float(surv[i])
