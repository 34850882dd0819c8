"""Calibration targets and validation figures: the published numbers the
whole model is held against, and the model's own value for each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis import kaplan_meier as km


@dataclass(frozen=True)
class Target:
    """A published figure and how to read the model's counterpart."""

    key: str
    label: str
    value: float
    low: float
    high: float
    source: str
    calibrated: bool  # True: parameters were fitted to it; False: held out for validation


TARGETS = (
    Target(
        "carcinosis_proportion", "Cohort proportion developing carcinosis", 0.09, 0.08, 0.10, "source article; design brief", True
    ),
    Target(
        "hypercalcemia_proportion",
        "Cohort proportion with hypercalcemia",
        0.05,
        0.04,
        0.06,
        "source article; Gastanaga 2016",
        True,
    ),
    Target("os12_prostate", "Prostate 1-year survival", 0.47, 0.44, 0.50, "Norgaard 2010", True),
    Target("os60_prostate", "Prostate 5-year survival", 0.03, 0.015, 0.045, "Norgaard 2010", True),
    Target("os12_breast", "Breast 1-year survival", 0.51, 0.48, 0.54, "Svensson 2017", True),
    Target("os60_breast", "Breast 5-year survival", 0.13, 0.10, 0.16, "Svensson 2017", True),
    Target("os12_lung", "Lung 1-year survival", 0.10, 0.07, 0.13, "Svensson 2017", True),
    Target("median_renal", "Renal median survival (months)", 23.0, 12.0, 23.0, "Ruatta 2017; Coleman 2001 (12)", True),
    Target("median_thyroid", "Thyroid median survival (months)", 40.0, 36.0, 48.0, "Zhang 2022; Coleman 2001 (48)", True),
    Target("os12_thyroid", "Thyroid 1-year survival", 0.65, 0.60, 0.70, "Zhang 2022", False),
    Target("median_after_scc", "Median survival after cord compression (months)", 2.9, 2.3, 3.5, "Loblaw 2003", True),
    Target(
        "median_after_hypercalcemia",
        "Median survival after hypercalcemia, primaries other than breast (months)",
        1.5,
        0.8,
        1.7,
        "reviews (25-52 days)",
        True,
    ),
    Target(
        "median_after_hypercalcemia_breast",
        "Breast: median survival after hypercalcemia (months)",
        4.5,
        3.5,
        5.5,
        "reviews",
        True,
    ),
    Target(
        "carc_cause_progression", "Deaths after carcinosis: progression and marrow failure", 0.45, 0.35, 0.55, "Kwon 2011", False
    ),
    Target("carc_cause_bleeding", "Deaths after carcinosis: bleeding (incl. DIC)", 0.29, 0.20, 0.38, "Kwon 2011", False),
    Target("carc_cause_infection", "Deaths after carcinosis: infection", 0.21, 0.13, 0.29, "Kwon 2011", False),
    Target("carc_anemia", "Anemia at carcinosis", 0.91, 0.85, 0.95, "series n=54", False),
    Target("carc_thrombocytopenia", "Thrombocytopenia at carcinosis", 0.74, 0.66, 0.82, "series n=54", False),
    Target("carc_dic", "DIC in carcinosis", 0.40, 0.32, 0.48, "series n=54", False),
    Target(
        "breast_carc_median_treated",
        "Breast carcinosis, treated: median survival from diagnosis (months)",
        7.0,
        6.4,
        7.6,
        "Niu 2023; Demir 2014",
        True,
    ),
    Target("carc_rbc_share", "Carcinosis patients given red cells", 0.80, 0.65, 0.90, "parameters brief (assumed)", False),
)


def km_at(time: np.ndarray, event: np.ndarray, t: float) -> float:
    """Kaplan-Meier survival at time t (lifelines); NaN beyond the follow-up
    (:func:`sim.analysis.kaplan_meier.known_until`)."""
    until = km.known_until(time, event)
    return km.survival_at(km.fit(time, event) if t <= until else None, t, until)


def km_median(time: np.ndarray, event: np.ndarray) -> float:
    """Kaplan-Meier median (lifelines); inf if survival never falls to 0.5."""
    return km.median(km.fit(time, event) if len(time) else None)


def after(df: pd.DataFrame, col: str) -> tuple[np.ndarray, np.ndarray]:
    """Survival times measured from the time in ``col`` (patients with it)."""
    d = df[df[col].notna()]
    return (d["followup_months"] - d[col]).to_numpy(), (~d["censored"]).to_numpy()


_TARGET_COLUMNS = (
    "primary",
    "followup_months",
    "censored",
    "death_cause",
    "carcinosis_onset_months",
    "carcinosis_diagnosis_months",
    "hypercalcemia_months",
    "cord_compression_months",
    "anemia_at_onset",
    "thrombocytopenia_at_onset",
    "dic",
    "chemotherapy",
    "n_rbc_units",
)


def model_values(df: pd.DataFrame, fits: dict[str, Any] | None = None) -> dict[str, float]:
    """The model's value for every target, from a patients table. ``fits``:
    Kaplan-Meier fits of overall survival per primary already made
    (:func:`sim.analysis.summary.outcomes`), reused instead of fitted again."""
    out: dict[str, float] = {}
    # only the columns read below: each subset then copies these, not the whole table
    df = df[list(_TARGET_COLUMNS)]
    ev = (~df["censored"]).to_numpy()
    out["carcinosis_proportion"] = float(df["carcinosis_onset_months"].notna().mean())
    out["hypercalcemia_proportion"] = float(df["hypercalcemia_months"].notna().mean())
    follow = df["followup_months"].to_numpy()
    for prim in ("prostate", "breast", "lung", "renal", "thyroid"):
        sel = (df["primary"] == prim).to_numpy()
        # one fit per primary, read at every time its targets need (the same values as km_at / km_median)
        kmf = (fits or {}).get(prim)
        if kmf is None and sel.any():
            kmf = km.fit(follow[sel], ev[sel])
        # survival beyond the follow-up is not estimable (NaN), never the last value carried forward
        until = km.known_until(follow[sel], ev[sel])
        if prim != "renal":
            out[f"os12_{prim}"] = km.survival_at(kmf, 12.0, until)
        if prim in ("prostate", "breast"):
            out[f"os60_{prim}"] = km.survival_at(kmf, 60.0, until)
        if prim in ("renal", "thyroid"):
            out[f"median_{prim}"] = km.median(kmf)
    out["median_after_scc"] = km_median(*after(df, "cord_compression_months"))
    out["median_after_hypercalcemia"] = km_median(*after(df[df["primary"] != "breast"], "hypercalcemia_months"))
    out["median_after_hypercalcemia_breast"] = km_median(*after(df[df["primary"] == "breast"], "hypercalcemia_months"))
    carc = df[df["carcinosis_onset_months"].notna()]
    dead = carc[~carc["censored"]]
    n = max(len(dead), 1)
    causes = dead["death_cause"].astype(str)
    out["carc_cause_progression"] = float(causes.isin(["progression", "terminal_myelosuppression"]).sum() / n)
    out["carc_cause_bleeding"] = float((causes == "bleeding").sum() / n)
    out["carc_cause_infection"] = float((causes == "infection").sum() / n)
    nc = max(len(carc), 1)
    out["carc_anemia"] = float(carc["anemia_at_onset"].sum() / nc)
    out["carc_thrombocytopenia"] = float(carc["thrombocytopenia_at_onset"].sum() / nc)
    out["carc_dic"] = float(carc["dic"].sum() / nc)
    bt = carc[(carc["primary"] == "breast") & carc["chemotherapy"]]
    out["breast_carc_median_treated"] = km_median(*after(bt, "carcinosis_diagnosis_months"))
    out["carc_rbc_share"] = float((carc["n_rbc_units"] > 0).sum() / nc)
    return out


def comparison_table(df: pd.DataFrame, fits: dict[str, Any] | None = None) -> pd.DataFrame:
    """Targets beside the model's values (``fits``: see :func:`model_values`)."""
    vals = model_values(df, fits)
    rows = []
    for t in TARGETS:
        v = vals.get(t.key, float("nan"))
        rows.append(
            {
                "target": t.label,
                "published": t.value,
                "range_low": t.low,
                "range_high": t.high,
                "model": v,
                "within_range": bool(t.low <= v <= t.high),
                "use": "calibration" if t.calibrated else "validation",
                "source": t.source,
            }
        )
    return pd.DataFrame(rows)
