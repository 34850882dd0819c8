"""Cohort analysis of a patients table: survival, cumulative incidence with
death as a competing risk, state occupancy, SRE-free survival and days in
hospital.

Estimators come from ``lifelines`` (Kaplan-Meier: ``KaplanMeierFitter``;
Aalen-Johansen: ``AalenJohansenFitter``), a maintained survival library the
project already uses for its summaries.  Two of its behaviours are handled
here rather than left to chance:

* **Tied times in Aalen-Johansen.**  ``AalenJohansenFitter`` refuses tied
  times of different event types and *randomly jitters* them (by up to
  ``jitter_level`` in either direction, reseeding NumPy's global generator).
  A jittered event can move past a censoring at the same time, which changes
  the risk set, and two fits of the same data can differ.  :func:`aalen_johansen`
  instead breaks ties deterministically before fitting: within a tied time,
  events come first and censorings last (the usual convention that a patient
  censored at *t* is at risk at *t*), each moved by a step far smaller than
  the smallest gap between distinct times; the fitted curve is then folded
  back onto the original times.  The estimate at every original time equals
  the textbook Aalen-Johansen estimate with ties (tested on hand-computed
  fixtures).
* **Custom timelines.**  Passing ``timeline=`` to ``AalenJohansenFitter``
  misaligns its internal Kaplan-Meier table with the event table (values
  become NaN between event times), and its confidence-interval columns are
  labelled upper/lower the wrong way round.  It also sets the estimate of its
  first row to 0, which silently drops events at time 0; fits here are made on
  times shifted by one month and shifted back.  Curves here are always fitted on
  the data's own times and read at any time by a right-continuous step lookup
  (:func:`step_at`); bounds are sorted so ``lower <= upper``.

Every curve is a DataFrame with columns ``time, estimate, lower, upper``
(time in months, pointwise 95% confidence intervals), starting at time 0.
Its ``attrs["known_until"]`` is the last time at which it is known
(:func:`sim.analysis.summary.km_known_until`: the longest follow-up, or for ever when
everyone followed that long had an event); the tables read it at fixed times
only up to then, and beyond it a value is not estimable (NaN, with a note),
never the last value carried forward.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis import kaplan_meier as km
from sim.scenario.fields import PRIMARIES

CURVE_COLUMNS = ["time", "estimate", "lower", "upper"]

# events whose cumulative incidence is estimated, with death as the competing risk
INCIDENCE_EVENTS = {
    "carcinosis": "carcinosis_onset_months",
    "hypercalcemia": "hypercalcemia_months",
    "first SRE": "first_sre_months",
    "cord compression": "cord_compression_months",
}

STATES = ("alive without carcinosis", "carcinosis undiagnosed", "carcinosis diagnosed", "dead")

REPORT_TIMES = (12.0, 24.0, 60.0)


# ----------------------------------------------------------------------------- curves


def _empty_curve(start: float) -> pd.DataFrame:
    return pd.DataFrame({"time": [0.0], "estimate": [start], "lower": [start], "upper": [start]})


def _known(curve: pd.DataFrame, durations: np.ndarray, observed: np.ndarray) -> pd.DataFrame:
    curve.attrs["known_until"] = km.known_until(durations, observed)
    return curve


def known_until(curve: pd.DataFrame) -> float:
    """The last time at which ``curve`` is known (see the module notes); for a
    curve without that mark, its last time."""
    k = curve.attrs.get("known_until")
    if isinstance(k, (int, float)):
        return float(k)
    return float(curve["time"].max()) if len(curve) else -np.inf


def km_curve(durations: Any, observed: Any) -> pd.DataFrame:
    """Kaplan-Meier survival with pointwise 95% log-log intervals (lifelines)."""
    t = np.asarray(durations, dtype=float)
    e = np.asarray(observed, dtype=bool)
    if len(t) == 0:
        return _known(_empty_curve(1.0), t, e)
    kmf = km.fit(t, e)
    sf = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_survival_function_
    lo, hi = ci.iloc[:, 0].to_numpy(), ci.iloc[:, 1].to_numpy()
    out = pd.DataFrame(
        {
            "time": sf.index.to_numpy(dtype=float),
            "estimate": sf.to_numpy(dtype=float),
            "lower": np.minimum(lo, hi),
            "upper": np.maximum(lo, hi),
        }
    )
    return _known(_from_zero(out, 1.0), t, e)


def _from_zero(curve: pd.DataFrame, start: float) -> pd.DataFrame:
    if len(curve) == 0 or curve["time"].iloc[0] > 0:
        curve = pd.concat([_empty_curve(start), curve], ignore_index=True)
    return curve.reset_index(drop=True)


def _break_ties(t: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deterministically separate tied times: events (by code) first, censorings last.

    Returns the separated times and, for each, the original time."""
    order = np.lexsort((np.where(codes == 0, np.iinfo(np.int64).max, codes), t))
    ts = t[order]
    uniq = np.unique(ts)
    if len(uniq) == len(ts):
        return t.copy(), t.copy()
    gap = np.diff(uniq).min() if len(uniq) > 1 else 1.0
    # position within each tied group
    first = np.searchsorted(ts, ts, side="left")
    rank = np.arange(len(ts)) - first
    step = gap / (4.0 * max(int(rank.max()), 1))
    sep = np.empty_like(t)
    sep[order] = ts + rank * step
    return sep, t.copy()


def aalen_johansen(durations: Any, codes: Any, event_of_interest: int = 1) -> pd.DataFrame:
    """Cumulative incidence of one event type with the others competing
    (codes: 0 censored, 1, 2, ... event types), Aalen-Johansen (lifelines)
    with deterministic tie handling (see the module notes)."""
    from lifelines import AalenJohansenFitter

    t = np.asarray(durations, dtype=float)
    c = np.asarray(codes, dtype=np.int64)
    if len(t) == 0:
        return _known(_empty_curve(0.0), t, c != 0)
    if (t < 0).any() or not np.isfinite(t).all():
        raise ValueError("durations must be finite and not negative")
    if not (c == event_of_interest).any():
        end = float(t.max())
        none = pd.DataFrame({"time": [0.0, end], "estimate": [0.0, 0.0], "lower": [0.0, 0.0], "upper": [0.0, 0.0]})
        return _known(none, t, c != 0)
    sep, orig = _break_ties(t, c)
    # lifelines forces the estimate of its first row to 0, which drops events at
    # time 0; fitting on times shifted by 1 keeps them (its first row is then the start)
    shifted = sep + 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # division by zero in the variance where everyone at risk has the event
        ajf = AalenJohansenFitter(calculate_variance=True).fit(shifted, c, event_of_interest=event_of_interest)
    est = ajf.cumulative_density_.iloc[:, 0]
    ci = ajf.confidence_interval_cumulative_density_
    a, b = ci.iloc[:, 0].to_numpy(dtype=float), ci.iloc[:, 1].to_numpy(dtype=float)
    times = est.index.to_numpy(dtype=float)
    df = pd.DataFrame({"time": times, "estimate": est.to_numpy(dtype=float), "lower": np.fmin(a, b), "upper": np.fmax(a, b)})
    # back to the original times: each separated time maps to the time it came from,
    # and the last row of a tied group holds the group's result
    order = np.argsort(shifted, kind="stable")
    su, ou = shifted[order], orig[order]
    pos = np.searchsorted(su, times)
    known = (pos < len(su)) & (su[np.clip(pos, 0, len(su) - 1)] == times)
    df = df[known].copy()
    df["time"] = ou[pos[known]]
    df = df.groupby("time", as_index=False, sort=True).last()
    # no interval where the estimate is 0; carry the last interval where the variance is undefined
    zero = df["estimate"] <= 0
    df.loc[zero, ["lower", "upper"]] = 0.0
    df[["lower", "upper"]] = df[["lower", "upper"]].ffill().fillna(0.0)
    df["lower"] = np.minimum(df["lower"], df["estimate"])
    df["upper"] = np.maximum(df["upper"], df["estimate"])
    out = df[CURVE_COLUMNS]
    if len(out) == 0 or out["time"].iloc[0] > 0:
        out = pd.concat([_empty_curve(0.0), out], ignore_index=True)
    return _known(out.reset_index(drop=True), t, c != 0)


def step_at(curve: pd.DataFrame, times: Any, column: str = "estimate") -> np.ndarray:
    """Value of a right-continuous step curve at the given times."""
    t = np.atleast_1d(np.asarray(times, dtype=float))
    idx = np.searchsorted(curve["time"].to_numpy(), t, side="right") - 1
    vals = curve[column].to_numpy(dtype=float)
    out = np.where(idx >= 0, vals[np.clip(idx, 0, None)], np.nan)
    return out


def known_at(curve: pd.DataFrame, times: Any, column: str = "estimate") -> np.ndarray:
    """:func:`step_at` where the curve is known, NaN (not estimable) beyond :func:`known_until`."""
    t = np.atleast_1d(np.asarray(times, dtype=float))
    return np.where(t <= known_until(curve), step_at(curve, t, column), np.nan)


def not_estimable_note(curve: pd.DataFrame, at: tuple[float, ...]) -> str:
    """Why values of ``curve`` at some of the times ``at`` are missing ("" when none is)."""
    until = known_until(curve)
    return km.not_estimable(until) if any(t > until for t in at) else ""


def curve_median(curve: pd.DataFrame) -> dict[str, float | None]:
    """Median of a survival curve with the interval from its bands (None if not reached)."""

    def first_below(col: str) -> float | None:
        hit = curve.index[curve[col] <= 0.5]
        return float(curve.loc[hit[0], "time"]) if len(hit) else None

    return {"estimate": first_below("estimate"), "lower": first_below("lower"), "upper": first_below("upper")}


# ----------------------------------------------------------------------------- from a patients table


def _event(df: pd.DataFrame) -> np.ndarray:
    return (~df["censored"].astype(bool)).to_numpy()


def _since_entry(df: pd.DataFrame, col: str) -> np.ndarray:
    """Months from the patient's entry (the patients table keeps course times
    from entry; ``entry_months`` is the calendar time of entry)."""
    return df[col].to_numpy(dtype=float)


def overall_survival(df: pd.DataFrame) -> pd.DataFrame:
    return km_curve(_since_entry(df, "followup_months"), _event(df))


def survival_by_primary(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    prim = df["primary"].astype(str)
    return {p: overall_survival(df[prim == p]) for p in PRIMARIES if (prim == p).any()}


def survival_from_diagnosis(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Survival from carcinosis diagnosis: chemotherapy vs best supportive care."""
    d = df[df["carcinosis_diagnosis_months"].notna()]
    t = (d["followup_months"] - d["carcinosis_diagnosis_months"]).to_numpy(dtype=float)
    e = _event(d)
    chemo = d["chemotherapy"].astype(bool).to_numpy()
    out = {}
    for label, sel in (("chemotherapy", chemo), ("best supportive care", ~chemo)):
        if sel.any():
            out[label] = km_curve(t[sel], e[sel])
    return out


def competing_codes(df: pd.DataFrame, col: str) -> tuple[np.ndarray, np.ndarray]:
    """Durations and codes for one event with death as the competing risk:
    1 = the event, 2 = death without it, 0 = censored without it."""
    ev_t = _since_entry(df, col)
    fu = _since_entry(df, "followup_months")
    has = ~np.isnan(ev_t)
    dead = _event(df)
    t = np.where(has, ev_t, fu)
    codes = np.where(has, 1, np.where(dead, 2, 0))
    return t, codes


def cumulative_incidence(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Aalen-Johansen cumulative incidence of carcinosis, hypercalcemia, first
    SRE and cord compression, death as the competing risk."""
    return {name: aalen_johansen(*competing_codes(df, col)) for name, col in INCIDENCE_EVENTS.items()}


def sre_free_survival(df: pd.DataFrame) -> pd.DataFrame:
    """Survival free of skeletal-related events: the first SRE or death ends it."""
    sre = _since_entry(df, "first_sre_months")
    fu = _since_entry(df, "followup_months")
    has = ~np.isnan(sre)
    return km_curve(np.where(has, sre, fu), has | _event(df))


def state_occupancy(df: pd.DataFrame, times: Any) -> pd.DataFrame:
    """Share of patients in each state at each time (months from entry).

    States: alive without carcinosis, carcinosis undiagnosed (onset passed,
    no diagnosis yet), carcinosis diagnosed, dead.  The denominator at time t
    is the patients still followed at t (dead by t, or followed beyond t);
    in a cohort run everybody is followed to the horizon, so it is the cohort.
    """
    t = np.asarray(times, dtype=float)
    fu = _since_entry(df, "followup_months")[None, :]
    dead_at = np.where(_event(df), fu[0], np.inf)[None, :]
    onset = np.nan_to_num(_since_entry(df, "carcinosis_onset_months"), nan=np.inf)[None, :]
    diag = np.nan_to_num(_since_entry(df, "carcinosis_diagnosis_months"), nan=np.inf)[None, :]
    tt = t[:, None]
    dead = dead_at <= tt
    observed = dead | (fu >= tt)
    alive = observed & ~dead
    diagnosed = alive & (diag <= tt)
    undiagnosed = alive & (onset <= tt) & ~(diag <= tt)
    free = alive & ~(onset <= tt)
    n = observed.sum(axis=1).astype(float)
    n[n == 0] = np.nan
    out = pd.DataFrame({"time": t})
    for name, m in zip(STATES, (free, undiagnosed, diagnosed, dead), strict=False):
        out[name] = m.sum(axis=1) / n
    out["n"] = observed.sum(axis=1)
    return out


HOSPITAL_COLUMNS = ["group", "patients", "mean_days", "median_days", "p90_days", "share_admitted", "days_per_patient_year"]


def hospital_days(df: pd.DataFrame) -> pd.DataFrame:
    """Days in hospital per patient, overall and by primary: mean, median,
    90th percentile, share with any admission, and per patient-year alive."""
    rows = []
    groups = [("all patients", df)] + [(p, df[df["primary"].astype(str) == p]) for p in PRIMARIES]
    for label, g in groups:
        if len(g) == 0:
            continue
        bd = g["bed_days"].to_numpy(dtype=float)
        years = _since_entry(g, "followup_months").sum() / 12.0
        rows.append(
            {
                "group": label,
                "patients": len(g),
                "mean_days": float(bd.mean()),
                "median_days": float(np.median(bd)),
                "p90_days": float(np.percentile(bd, 90)),
                "share_admitted": float((bd > 0).mean()),
                "days_per_patient_year": float(bd.sum() / years) if years > 0 else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=HOSPITAL_COLUMNS)


def survival_table(
    curves: dict[str, pd.DataFrame], counts: dict[str, tuple[int, int]], at: tuple[float, ...] = REPORT_TIMES
) -> pd.DataFrame:
    """One row per curve: patients, deaths, median and survival at given months, with 95% CIs."""
    rows = []
    for label, c in curves.items():
        med = curve_median(c)
        row: dict[str, Any] = {"group": label, "patients": counts[label][0], "events": counts[label][1]}
        row["median_months"] = med["estimate"]
        # a lower band reaches 0.5 first: it bounds the median from below
        row["median_lower"] = med["lower"]
        row["median_upper"] = med["upper"]
        for t in at:
            row[f"at_{t:g}_months"] = float(known_at(c, t)[0])
            row[f"at_{t:g}_lower"] = float(known_at(c, t, "lower")[0])
            row[f"at_{t:g}_upper"] = float(known_at(c, t, "upper")[0])
        row["note"] = not_estimable_note(c, at)
        rows.append(row)
    return pd.DataFrame(rows)


def incidence_table(curves: dict[str, pd.DataFrame], at: tuple[float, ...] = REPORT_TIMES) -> pd.DataFrame:
    rows = []
    for label, c in curves.items():
        row: dict[str, Any] = {"event": label}
        for t in at:
            row[f"at_{t:g}_months"] = float(known_at(c, t)[0])
            row[f"at_{t:g}_lower"] = float(known_at(c, t, "lower")[0])
            row[f"at_{t:g}_upper"] = float(known_at(c, t, "upper")[0])
        row["note"] = not_estimable_note(c, at)
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class Analysis:
    """Everything the report and the dashboard show about one cohort."""

    patients: int
    horizon_months: float
    overall: pd.DataFrame
    by_primary: dict[str, pd.DataFrame]
    from_diagnosis: dict[str, pd.DataFrame]
    incidence: dict[str, pd.DataFrame]
    occupancy: pd.DataFrame
    sre_free: pd.DataFrame
    hospital: pd.DataFrame
    bed_days: np.ndarray
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def analyse(df: pd.DataFrame, horizon_months: float | None = None, grid_points: int = 241) -> Analysis:
    """All analyses of one patients table."""
    fu = _since_entry(df, "followup_months")
    horizon = float(horizon_months if horizon_months is not None else (fu.max() if len(fu) else 0.0))
    overall = overall_survival(df)
    by_primary = survival_by_primary(df)
    from_diag = survival_from_diagnosis(df)
    incidence = cumulative_incidence(df)
    occupancy = state_occupancy(df, np.linspace(0.0, horizon, grid_points))
    sre_free = sre_free_survival(df)
    hosp = hospital_days(df)

    ev = _event(df)
    prim = df["primary"].astype(str).to_numpy()
    counts = {"all patients": (len(df), int(ev.sum()))}
    counts.update({p: (int((prim == p).sum()), int(ev[prim == p].sum())) for p in by_primary})
    d = df[df["carcinosis_diagnosis_months"].notna()]
    chemo = d["chemotherapy"].astype(bool).to_numpy()
    dev = _event(d)
    diag_counts = {
        "chemotherapy": (int(chemo.sum()), int(dev[chemo].sum())),
        "best supportive care": (int((~chemo).sum()), int(dev[~chemo].sum())),
    }
    sre = ~np.isnan(_since_entry(df, "first_sre_months"))
    tables = {
        "survival": survival_table({"all patients": overall, **by_primary}, counts),
        "from_diagnosis": survival_table(from_diag, diag_counts, at=(1.0, 3.0, 6.0)),
        "incidence": incidence_table(incidence),
        "sre_free": survival_table({"all patients": sre_free}, {"all patients": (len(df), int((sre | ev).sum()))}),
        "hospital": hosp,
    }
    return Analysis(
        patients=len(df),
        horizon_months=horizon,
        overall=overall,
        by_primary=by_primary,
        from_diagnosis=from_diag,
        incidence=incidence,
        occupancy=occupancy,
        sre_free=sre_free,
        hospital=hosp,
        bed_days=df["bed_days"].to_numpy(dtype=float),
        tables=tables,
    )
