"""Draws by inversion of one uniform: categorical, exponential by median,
truncated normal and log-normal, Beta; used by the steps of the course."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Final

from sim.kernel.constants import LN2 as _LN2
from sim.kernel.constants import phi_inv

LN2: Final = _LN2
_ND = NormalDist()


def pick(cum: tuple[float, ...], u: float) -> int:
    """The index of the first cumulative probability above u (a categorical draw by inversion)."""
    for i, c in enumerate(cum):
        if u < c:
            return i
    return len(cum) - 1


def exp_median(u: float, median: float) -> float:
    """Exponential with the given median, by inversion of a uniform."""
    return -math.log(u) * median / LN2


_CDF_BOUNDS: dict[tuple[float, float, float, float], tuple[float, float]] = {}


def truncnorm(u: float, mean: float, sd: float, lo: float, hi: float) -> float:
    """Normal(mean, sd) truncated to [lo, hi], by inversion of a uniform."""
    if sd <= 0:
        return min(max(mean, lo), hi)
    key = (mean, sd, lo, hi)
    ab = _CDF_BOUNDS.get(key)
    if ab is None:  # the CDF at the bounds, once per distinct distribution
        if len(_CDF_BOUNDS) >= 4096:
            _CDF_BOUNDS.clear()
        ab = _CDF_BOUNDS[key] = (_ND.cdf((lo - mean) / sd), _ND.cdf((hi - mean) / sd))
    a, b = ab
    q = min(max(a + (b - a) * u, 1e-12), 1 - 1e-12)
    return min(max(mean + sd * phi_inv(q), lo), hi)


def trunclognorm(u: float, median: float, sd_log: float, lo: float, hi: float) -> float:
    """Log-normal with the given median, truncated to [lo, hi]."""
    return math.exp(truncnorm(u, math.log(median), sd_log, math.log(lo), math.log(hi)))


def beta_inv(u: float, a: float, b: float) -> float:
    """Inverse CDF of Beta(a, b) (closed form for the common a=1 or b=1 cases)."""
    if b == 1.0:
        return u ** (1.0 / a)
    if a == 1.0:
        return 1.0 - (1.0 - u) ** (1.0 / b)
    from scipy.special import betaincinv

    return float(betaincinv(a, b, u))
