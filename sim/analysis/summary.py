"""Cohort outcomes from a patients table: proportions with Wilson intervals,
Kaplan-Meier survival (lifelines), deaths by cause, care received."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.kaplan_meier import fit, not_estimable, survival_at
from sim.analysis.kaplan_meier import known_until as km_known_until
from sim.kernel.events import CAUSES
from sim.scenario.fields import ILLUSTRATIVE, PRIMARIES

Z95 = 1.959963984540054


def wilson(k: int, n: int) -> dict[str, Any]:
    """Proportion k/n with a Wilson score 95% interval."""
    if n == 0:
        return {"estimate": None, "ci95": [None, None], "n": 0, "reason": "not estimable (no patients)"}
    p = k / n
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # the interval holds the estimate exactly: at 0/n the lower bound is 0 and at
    # n/n the upper bound is 1 in exact arithmetic, a rounding error away in floats
    lo = 0.0 if k <= 0 else min(p, max(0.0, centre - half))
    hi = 1.0 if k >= n else max(p, min(1.0, centre + half))
    return {"estimate": p, "ci95": [lo, hi], "n": n}


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def km_summary(time: np.ndarray, event: np.ndarray, at: tuple[float, ...] = (12.0, 60.0), kmf: Any = None) -> dict[str, Any]:
    """Median and survival at given months, with 95% CIs (lifelines; log-log
    intervals). ``kmf``: the Kaplan-Meier fit of these data, when already made.
    An estimate at a time beyond the follow-up (:func:`km_known_until`), and a
    median survival does not reach within it, is None with a ``reason``."""
    from lifelines.utils import median_survival_times

    until = km_known_until(time, event)
    if len(time) == 0:
        missing = {"estimate": None, "ci95": [None, None], "reason": not_estimable(until)}
        return {"n": 0, "median_months": dict(missing), **{f"at_{t:g}_months": dict(missing) for t in at}}
    if kmf is None:
        kmf = fit(time, event)
    med_ci = median_survival_times(kmf.confidence_interval_)
    median: dict[str, Any] = {
        "estimate": _num(kmf.median_survival_time_),
        "ci95": [_num(med_ci.iloc[0, 0]), _num(med_ci.iloc[0, 1])],
    }
    if median["estimate"] is None:
        median["reason"] = not_estimable(until).replace("not estimable", "not reached", 1)
    out: dict[str, Any] = {"n": int(len(time)), "median_months": median}
    for t in at:
        if t > until:
            out[f"at_{t:g}_months"] = {"estimate": None, "ci95": [None, None], "reason": not_estimable(until)}
            continue
        sf = survival_at(kmf, t)
        ci = kmf.confidence_interval_survival_function_
        idx = ci.index.searchsorted(t, side="right") - 1
        lo, hi = (float(ci.iloc[idx, 0]), float(ci.iloc[idx, 1])) if idx >= 0 else (1.0, 1.0)
        out[f"at_{t:g}_months"] = {"estimate": sf, "ci95": [lo, hi]}
    return out


def outcomes(df: pd.DataFrame, fits: dict[str, Any] | None = None) -> dict[str, Any]:
    """The headline outcomes of one run. ``fits``, when given, receives the
    Kaplan-Meier fit of overall survival per primary (for the targets to reuse)."""
    n = len(df)
    t = df["followup_months"].to_numpy()
    e = (~df["censored"]).to_numpy()
    surv = km_summary(t, e)
    by_primary = {}
    for p in PRIMARIES:
        sel = (df["primary"] == p).to_numpy()
        if sel.any():
            kmf = fit(t[sel], e[sel])
            if fits is not None:
                fits[p] = kmf
            by_primary[p] = km_summary(t[sel], e[sel], kmf=kmf)
    carc = df["carcinosis_onset_months"].notna()
    diag = df["carcinosis_diagnosis_months"].notna()
    delay_days = (df.loc[diag, "carcinosis_diagnosis_months"] - df.loc[diag, "carcinosis_onset_months"]) * (365.25 / 12)
    # one count per cause (a categorical column counts its codes; no string comparisons)
    counts = df["death_cause"].value_counts(sort=False)
    dead = int(e.sum())
    deaths = {
        c: {"count": int(counts.get(c, 0)), "share_of_deaths": (int(counts.get(c, 0)) / dead) if dead else None} for c in CAUSES
    }
    care_cols = {
        "radiotherapy_courses": "n_radiotherapy_courses",
        "radiotherapy_fractions": "n_radiotherapy_fractions",
        "radionuclide_injections": "n_radionuclide",
        "chemotherapy_cycles": "n_chemo_cycles",
        "rbc_units": "n_rbc_units",
        "platelet_units": "n_platelet_units",
        "operations": "n_surgery",
        "admissions": "n_admissions",
        "bed_days": "bed_days",
        "scintigraphies": "n_scintigraphy",
        "marrow_biopsies": "n_biopsy",
    }
    care = {k: {"total": float(df[c].sum()), "per_patient": float(df[c].mean()) if n else None} for k, c in care_cols.items()}
    return {
        "carcinosis": {
            "proportion": wilson(int(carc.sum()), n),
            "diagnosed_proportion_of_carcinosis": wilson(int(diag.sum()), int(carc.sum())),
            "diagnosis_delay_days": {
                "median": _num(float(delay_days.median())) if len(delay_days) else None,
                "mean": _num(float(delay_days.mean())) if len(delay_days) else None,
            },
            "chemotherapy_proportion_of_diagnosed": wilson(int(df.loc[diag, "chemotherapy"].sum()), int(diag.sum())),
            "anemia_proportion": wilson(int((df.loc[carc, "worst_anemia_grade"] > 0).sum()), int(carc.sum())),
            "thrombocytopenia_proportion": wilson(int((df.loc[carc, "worst_thrombocytopenia_grade"] > 0).sum()), int(carc.sum())),
            "leukopenia_proportion": wilson(int((df.loc[carc, "worst_leukopenia_grade"] > 0).sum()), int(carc.sum())),
            "dic_proportion": wilson(int(df.loc[carc, "dic"].sum()), int(carc.sum())),
        },
        "hypercalcemia": {"proportion": wilson(int(df["hypercalcemia_months"].notna().sum()), n)},
        "sre": {
            "proportion_with_any": wilson(int((df["n_sre"] > 0).sum()), n),
            "mean_per_patient": float(df["n_sre"].mean()) if n else None,
            "cord_compression_proportion": wilson(int(df["cord_compression_months"].notna().sum()), n),
        },
        "survival": {
            "median_months": surv["median_months"],
            "at_12_months": {
                "overall": surv.get("at_12_months"),
                "by_primary": {p: v.get("at_12_months") for p, v in by_primary.items()},
            },
            "at_60_months": {
                "overall": surv.get("at_60_months"),
                "by_primary": {p: v.get("at_60_months") for p, v in by_primary.items()},
            },
            "median_months_by_primary": {p: v["median_months"] for p, v in by_primary.items()},
        },
        "deaths": {"total": dead, "censored": int(n - dead), "by_cause": deaths},
        "care": care,
    }


def json_safe(obj: Any) -> Any:
    """Replace non-finite floats (an unreached median, say) by None, recursively."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def summary_document(
    result: Any, model_version: str, sha: str, services: Callable[[], pd.DataFrame] | None = None
) -> dict[str, Any]:
    """Everything in summary.json (deterministic for a given scenario and seed).
    ``services``: returns the per-year services table when it is still being
    built while the outcomes are estimated (else ``result.services``)."""
    from sim.analysis.targets import comparison_table
    from sim.kernel.services import services_summary

    s = result.scenario
    df = result.reported_patients
    fits: dict[str, Any] = {}  # survival per primary, fitted once for the outcomes and the targets
    out = outcomes(df, fits)
    cal = comparison_table(df, fits)
    return json_safe(
        {
            "notice": ILLUSTRATIVE,
            "scenario": s.name,
            "description": s.description,
            "seed": s.run.seed,
            "replication": s.run.replication,
            "patients": s.run.patients,
            "horizon_months": s.run.horizon_months,
            "model_version": model_version,
            "scenario_sha256": sha,
            "random_numbers": "Philox4x32-10 counter-based streams addressed by (seed, replication, patient, process)",
            "events": int(result.n_events),
            "mode": s.mode,
            "reported_patients": int(len(df)),
            "reported_from_months": result.report_from_months,
            "reported_to_months": result.report_to_months,
            "warmup_years": s.population.warmup_years if s.population is not None else 0.0,
            "outcomes": out,
            "services": services_summary(result.services if services is None else services()),
            "calibration": cal.to_dict(orient="records"),
        }
    )
