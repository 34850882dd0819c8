"""Means with Student-t confidence intervals across replications (and PSA
draws): one value per replication in, the interval out."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["running_ci", "t_ci"]


def t_ci(values: Any, confidence: float = 0.95) -> dict[str, Any]:
    """Mean with a Student-t confidence interval across replications (NaNs ignored)."""
    from scipy.stats import t as student_t

    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return {"mean": None, "sd": None, "n": 0, "half_width": None, "ci95": [None, None], "relative_half_width": None}
    mean = float(x.mean())
    if n == 1:
        return {"mean": mean, "sd": None, "n": 1, "half_width": None, "ci95": [None, None], "relative_half_width": None}
    sd = float(x.std(ddof=1))
    half = float(student_t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n))
    rel = half / abs(mean) if mean != 0 else (0.0 if half == 0 else math.inf)
    return {"mean": mean, "sd": sd, "n": n, "half_width": half, "ci95": [mean - half, mean + half], "relative_half_width": rel}


def running_ci(values: Any, confidence: float = 0.95) -> pd.DataFrame:
    """Mean and t-based CI after 1, 2, ... R replications (for precision plots)."""
    x = np.asarray(values, dtype=float)
    rows = []
    for k in range(1, len(x) + 1):
        c = t_ci(x[:k], confidence)
        lo, hi = c["ci95"]
        rows.append(
            {
                "replications": k,
                "mean": c["mean"],
                "lower": np.nan if lo is None else lo,
                "upper": np.nan if hi is None else hi,
                "relative_half_width": np.nan if c["relative_half_width"] is None else c["relative_half_width"],
            }
        )
    return pd.DataFrame(rows)
