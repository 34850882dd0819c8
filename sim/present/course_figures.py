"""More figures for the dashboard and, later, the report: the variability of
single courses (swimmer plot), services per year, and paired comparisons.

Like :mod:`sim.present.cohort_figures`, every function takes DataFrames and returns a
:class:`matplotlib.figure.Figure` built without ``pyplot`` (no global state,
no GUI backend); nothing here imports Streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sim.kernel.events import EVENT_LABELS
from sim.kernel.services import SERVICES
from sim.present.cohort_figures import NOTE, _figure, _note
from sim.scenario.fields import PRIMARIES

PRIMARY_COLOURS = dict(zip(PRIMARIES, ("#5b7fa6", "#c77dab", "#7a9a5b", "#b08d57", "#6bb3b3", "#9a9a9a"), strict=False))
CARCINOSIS_COLOUR = "#d9734e"

# events marked on the swimmer plot: event -> (marker, colour, size); the
# legend names each by its label in sim.kernel.events.EVENT_CATALOGUE
SWIMMER_MARKS: dict[str, tuple[str, str, float]] = {
    "sre": ("^", "#1f4e79", 30),
    "hypercalcemia": ("D", "#8e44ad", 22),
    "radiotherapy": ("|", "#2c3e50", 40),
    "transfusion_rbc": (".", "#c0392b", 30),
    "transfusion_platelets": (".", "#e67e22", 30),
    "chemotherapy_cycle": ("x", "#16a085", 18),
    "carcinosis_diagnosis": ("s", "#a93226", 26),
}


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=10, color="#555555", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


# ----------------------------------------------------------------------------- courses


def sample_ids(patients: pd.DataFrame, n: int, seed: int) -> np.ndarray:
    """A reproducible random sample of ``n`` patient ids (all if fewer)."""
    ids = patients["patient_id"].to_numpy(dtype=np.int64)
    if len(ids) <= n:
        return np.sort(ids)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(ids, size=n, replace=False))


def swimmer(patients: pd.DataFrame, events: pd.DataFrame, title: str = "A sample of courses") -> Figure:
    """One horizontal bar per patient from entry to death or end of follow-up,
    coloured by primary tumour, orange from carcinosis onset; markers for
    skeletal events, hypercalcemia, radiotherapy, transfusions, chemotherapy
    and carcinosis diagnosis; a cross at death, an arrow when alive at the end.

    ``patients``: rows of the patients table (patient_id, primary,
    entry_months, followup_months, censored, carcinosis_onset_months);
    ``events``: their events (patient_id, time_months in calendar months, event).
    Bars are sorted by follow-up, longest at the top."""
    n = len(patients)
    fig, ax = _figure(8.0, max(3.2, 0.16 * n + 1.6))
    if n == 0:
        _empty(ax, "no patients to show")
        _note(fig)
        return fig
    p = patients.sort_values(["followup_months", "patient_id"]).reset_index(drop=True)
    row_of = {int(pid): i for i, pid in enumerate(p["patient_id"])}
    entry = dict(zip(p["patient_id"].astype(np.int64), p["entry_months"].fillna(0.0).astype(float), strict=False))
    for i, r in p.iterrows():
        fu = float(r["followup_months"])
        colour = PRIMARY_COLOURS.get(str(r["primary"]), "#9a9a9a")
        ax.barh(i, fu, left=0.0, height=0.6, color=colour, alpha=0.55, linewidth=0)
        onset = r.get("carcinosis_onset_months")
        if onset is not None and np.isfinite(onset):
            ax.barh(i, fu - float(onset), left=float(onset), height=0.6, color=CARCINOSIS_COLOUR, alpha=0.85, linewidth=0)
        if bool(r["censored"]):
            ax.scatter([fu], [i], marker=">", s=22, color="#555555", zorder=3)
        else:
            ax.scatter([fu], [i], marker="X", s=26, color="black", zorder=3)
    if len(events):
        ev = events[events["patient_id"].isin(row_of.keys())]
        names = ev["event"].astype(str)
        for name, (marker, colour, size) in SWIMMER_MARKS.items():
            sel = ev[names == name]
            if len(sel) == 0:
                continue
            t = sel["time_months"].to_numpy(dtype=float) - sel["patient_id"].map(entry).to_numpy(dtype=float)
            y = sel["patient_id"].map(row_of).to_numpy(dtype=float)
            ax.scatter(t, y, marker=marker, s=size, color=colour, zorder=4, linewidths=1.0)
    ax.set_yticks(range(n))
    ax.set_yticklabels([str(x) for x in p["patient_id"]], fontsize=6 if n > 30 else 8)
    ax.set_ylabel("patient id")
    ax.set_xlabel("months from entry")
    ax.set_xlim(left=0)
    ax.set_ylim(-0.8, n - 0.2)
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.25, axis="x")
    handles = [
        Line2D([], [], color=c, linewidth=6, alpha=0.6, label=f"primary: {k}")
        for k, c in PRIMARY_COLOURS.items()
        if (p["primary"].astype(str) == k).any()
    ]
    handles.append(Line2D([], [], color=CARCINOSIS_COLOUR, linewidth=6, label="with bone marrow carcinosis"))
    for name, (marker, colour, _size) in SWIMMER_MARKS.items():
        handles.append(Line2D([], [], linestyle="", marker=marker, color=colour, label=EVENT_LABELS[name]))
    handles.append(Line2D([], [], linestyle="", marker="X", color="black", label=EVENT_LABELS["death"]))
    handles.append(Line2D([], [], linestyle="", marker=">", color="#555555", label=EVENT_LABELS["censored"]))
    ax.legend(handles=handles, fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    _note(fig)
    return fig


# ----------------------------------------------------------------------------- services


def _by_year(services: pd.DataFrame, column: str, only_capacity: bool = False) -> dict[str, pd.DataFrame]:
    out = {}
    for name in SERVICES:
        d = services[services["service"].astype(str) == name]
        if only_capacity and not d["capacity"].notna().any():
            continue
        if len(d) and d[column].notna().any():
            out[name] = d[["year", column]]
    return out


def service_utilisation(services: pd.DataFrame, title: str = "Utilisation of services with a capacity, by year") -> Figure:
    """Time-weighted busy places / capacity per year, one line per service with a capacity."""
    fig, ax = _figure()
    lines = _by_year(services, "utilisation", only_capacity=True)
    if not lines:
        _empty(
            ax,
            "No service has a finite capacity in this scenario:\nutilisation needs a capacity (population-mode planning scenarios set them).",
        )
    else:
        for name, d in lines.items():
            ax.plot(
                d["year"], 100 * d["utilisation"].to_numpy(dtype=float), marker="o", markersize=3, label=name.replace("_", " ")
            )
        ax.axhline(100, color="#c0392b", linewidth=0.8, linestyle="--")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("year of the reported period")
        ax.set_ylabel("utilisation (% of capacity)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, frameon=False)
    ax.set_title(title, fontsize=11)
    _note(fig)
    return fig


def service_waits(services: pd.DataFrame, title: str = "Waits for services, by year") -> Figure:
    """Mean wait (line) and 95th percentile (dotted) in days per year and service."""
    fig, ax = _figure()
    lines = _by_year(services, "wait_mean_days")
    shown = {k: v for k, v in lines.items() if (v["wait_mean_days"].fillna(0) > 0).any()}
    if not shown:
        _empty(ax, "Nobody waited for a service in this run\n(services without a capacity start every request at once).")
    else:
        for name, d in shown.items():
            full = services[services["service"].astype(str) == name]
            (line,) = ax.plot(d["year"], d["wait_mean_days"], marker="o", markersize=3, label=f"{name.replace('_', ' ')} (mean)")
            ax.plot(full["year"], full["wait_p95_days"], linestyle=":", color=line.get_color(), linewidth=1)
        ax.plot([], [], linestyle=":", color="#555555", label="95th percentile")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("year of the reported period")
        ax.set_ylabel("wait (days)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, frameon=False)
    ax.set_title(title, fontsize=11)
    _note(fig)
    return fig


def service_counts(services: pd.DataFrame, column: str = "uses", title: str = "Uses of each service, by year") -> Figure:
    """Annual counts (``uses``, ``requests`` or ``units``) per service as grouped bars."""
    fig, ax = _figure(8.0, 4.2)
    names = [s for s in SERVICES if (services["service"].astype(str) == s).any()]
    years = sorted(int(y) for y in services["year"].unique()) if len(services) else []
    if not names or not years:
        _empty(ax, "no service use in this run")
    else:
        width = 0.8 / len(names)
        x = np.arange(len(years))
        for k, name in enumerate(names):
            d = services[services["service"].astype(str) == name].set_index("year")[column].reindex(years).fillna(0)
            ax.bar(x + (k - (len(names) - 1) / 2) * width, d.to_numpy(dtype=float), width=width, label=name.replace("_", " "))
        ax.set_xticks(x)
        ax.set_xticklabels([str(y) for y in years])
        ax.set_xlabel("year of the reported period")
        ax.set_ylabel(column)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8, frameon=False, ncols=2)
    ax.set_title(title, fontsize=11)
    _note(fig)
    return fig


# ----------------------------------------------------------------------------- comparisons


def _error_bars(est: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Lengths of error bars below and above each estimate: never negative (a bound
    a rounding error past its estimate draws as none), none where a bound or the
    estimate is missing."""
    with np.errstate(invalid="ignore"):
        below = np.where(np.isfinite(lo) & np.isfinite(est), est - lo, 0.0)
        above = np.where(np.isfinite(hi) & np.isfinite(est), hi - est, 0.0)
    return np.vstack([np.maximum(below, 0.0), np.maximum(above, 0.0)])


def paired_differences(
    differences: pd.DataFrame, labels: dict[str, str], title: str = "Paired differences against the reference (95% CI)"
) -> Figure:
    """Forest plot: per metric (rows) and compared scenario, the mean paired
    difference with its t-based 95% interval.  ``differences`` has the columns
    of :func:`sim.experiments.compare.paired_differences`; ``labels`` maps the metrics to
    show to their labels.  Each metric gets its own small panel (units differ)."""
    rows = [m for m in labels if m in set(differences["metric"])]
    n = max(len(rows), 1)
    fig = Figure(figsize=(7.5, 0.9 * n + 1.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    if not rows:
        _empty(axes[0], "no metrics to compare")
    for ax, metric in zip(axes, rows, strict=False):
        d = differences[differences["metric"] == metric].reset_index(drop=True)
        y = np.arange(len(d))
        est = d["difference"].to_numpy(dtype=float)
        lo = d["ci95_low"].to_numpy(dtype=float)
        hi = d["ci95_high"].to_numpy(dtype=float)
        err = _error_bars(est, lo, hi)
        ax.errorbar(est, y, xerr=err, fmt="o", color="#1f4e79", ecolor="#1f4e79", capsize=3, markersize=4)
        ax.axvline(0, color="#c0392b", linewidth=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels([str(s) for s in d["scenario"]], fontsize=8)
        ax.set_ylim(-0.7, len(d) - 0.3)
        ax.set_title(labels[metric], fontsize=9, loc="left")
        ax.grid(alpha=0.3, axis="x")
        ax.tick_params(axis="x", labelsize=8)
    axes[0].figure.suptitle(title, fontsize=11)
    _note(fig)
    return fig


def outcome_bars(table: pd.DataFrame, metric_labels: Sequence[str], title: str = "Key outcomes side by side") -> Figure:
    """Grouped bars with 95% intervals: ``table`` has columns run, outcome,
    estimate, lower, upper (one panel per outcome in ``metric_labels``)."""
    labels = [m for m in metric_labels if m in set(table["outcome"])]
    n = max(len(labels), 1)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(3.2 * cols + 0.6, 2.6 * rows + 0.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(labels) :]:
        ax.set_visible(False)
    if not labels:
        axes[0].set_visible(True)
        _empty(axes[0], "no outcomes to show")
    for ax, label in zip(axes, labels, strict=False):
        d = table[table["outcome"] == label].reset_index(drop=True)
        x = np.arange(len(d))
        est = d["estimate"].to_numpy(dtype=float)
        lo = d["lower"].to_numpy(dtype=float)
        hi = d["upper"].to_numpy(dtype=float)
        err = _error_bars(est, lo, hi)
        ax.bar(x, est, color="#5b7fa6", alpha=0.8)
        ax.errorbar(x, est, yerr=err, fmt="none", ecolor="#222222", capsize=3)
        ax.set_xticks(x)
        ax.set_xticklabels([str(r) for r in d["run"]], rotation=30, ha="right", fontsize=7)
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title, fontsize=11)
    _note(fig)
    return fig


LAB_PANELS = (
    ("hb_g_dl", "Haemoglobin (g/dL)", "anemia_thresholds_g_dl"),
    ("platelets_e9_l", "Platelets (x10^9/L)", "platelet_thresholds_e9_l"),
    ("anc_e9_l", "Neutrophils (x10^9/L)", "anc_thresholds_e9_l"),
    ("calcium_mmol_l", "Corrected calcium (mmol/L)", None),
)


def lab_trajectories(labs: pd.DataFrame, scenario, title: str = "Blood counts and calcium") -> Figure:  # type: ignore[no-untyped-def]
    """One patient's (or several patients') lab values over time, with the
    grade boundaries and transfusion triggers of the scenario as lines.

    ``labs``: columns time_months, analyte, value (and patient_id to draw several)."""
    fig = Figure(figsize=(7.5, 7.0))
    FigureCanvasAgg(fig)
    axes = fig.subplots(4, 1, sharex=True)
    lab = scenario.labs
    for ax, (code, label, thr_name) in zip(axes, LAB_PANELS):
        d = labs[labs["analyte"].astype(str) == code]
        groups = d.groupby("patient_id") if "patient_id" in d.columns else [(None, d)]
        for _, g in groups:
            ax.plot(g["time_months"], g["value"], lw=1.2, alpha=0.8 if "patient_id" not in d.columns else 0.35, color="#1f4e79")
        if thr_name is not None:
            for k, thr in enumerate(getattr(lab, thr_name)):
                ax.axhline(thr, color="#b03a2e", lw=0.6, ls=":", alpha=0.8)
                ax.text(1.0, thr, f" G{k + 1}", transform=ax.get_yaxis_transform(), fontsize=7, color="#b03a2e", va="center")
        else:
            ax.axhline(lab.calcium_threshold_mmol_l, color="#b03a2e", lw=0.6, ls=":")
        if code == "hb_g_dl":
            ax.axhline(scenario.care.transfusion.rbc_threshold_g_dl, color="#7d3c98", lw=0.8, ls="--", label="red-cell trigger")
            ax.legend(loc="upper right", fontsize=7, frameon=False)
        if code == "platelets_e9_l":
            ax.axhline(scenario.care.transfusion.platelet_threshold_e9_l, color="#7d3c98", lw=0.8, ls="--")
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("months since diagnosis of bone metastasis")
    axes[0].set_title(title, fontsize=10)
    fig.text(0.01, 0.005, NOTE, fontsize=6, color="#666666")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return fig
