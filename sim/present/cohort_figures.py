"""Figures: one set of plotting functions for the report and the dashboard.

Every function takes DataFrames (or an :class:`sim.analysis.survival.Analysis`) and
returns a :class:`matplotlib.figure.Figure`.  Figures are built without
``pyplot`` (no global state, no GUI backend), so they are safe in a
Streamlit app (``st.pyplot(fig)``) and in batch runs alike; the Agg canvas
renders them to PNG.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sim.analysis.survival import STATES

if TYPE_CHECKING:
    from sim.analysis.survival import Analysis

NOTE = "Illustrative parameters, not clinically validated."
STATE_COLOURS = ("#8fbf8f", "#f2c46d", "#d9734e", "#9a9a9a")


def _figure(width: float = 7.0, height: float = 4.2) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    return fig, ax


def _note(fig: Figure) -> None:
    """The illustrative-parameters note, in the figure's bottom margin (kept clear by the layout)."""
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.set(h_pad=0.06)  # type: ignore[call-arg]
    fig.supxlabel(NOTE, x=0.99, ha="right", fontsize=7, color="#666666")


def step_curves(
    curves: dict[str, pd.DataFrame],
    *,
    title: str,
    ylabel: str,
    xlabel: str = "months",
    bands: bool = True,
    xmax: float | None = None,
) -> Figure:
    """Step curves (columns time, estimate, lower, upper) with shaded 95% bands."""
    fig, ax = _figure()
    drawn = 0
    for label, c in curves.items():
        if len(c) == 0:
            continue
        t = c["time"].to_numpy(dtype=float)
        (line,) = ax.step(t, c["estimate"], where="post", label=label, linewidth=1.4)
        drawn += 1
        if bands and {"lower", "upper"} <= set(c.columns):
            ax.fill_between(t, c["lower"], c["upper"], step="post", alpha=0.18, color=line.get_color(), linewidth=0)
    if not drawn or all(len(c) <= 1 for c in curves.values()):
        _no_data(ax)
    ax.set_ylim(0, 1.02)
    if xmax is not None and xmax > 0:
        ax.set_xlim(0, xmax)
    else:
        ax.set_xlim(left=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)
    if drawn and (len(curves) > 1 or bands):
        ax.legend(fontsize=8, frameon=False, title="shaded: pointwise 95% CI" if bands else None, title_fontsize=7)
    _note(fig)
    return fig


def _no_data(ax: Axes) -> None:
    ax.text(0.5, 0.5, "no patients to show", ha="center", va="center", transform=ax.transAxes, fontsize=10, color="#555555")


def overall_survival(a: Analysis) -> Figure:
    return step_curves(
        {"all patients": a.overall}, title="Overall survival (Kaplan-Meier)", ylabel="survival", xmax=a.horizon_months
    )


def survival_by_primary(a: Analysis) -> Figure:
    return step_curves(
        a.by_primary, title="Overall survival by primary tumour (Kaplan-Meier)", ylabel="survival", xmax=a.horizon_months
    )


def survival_from_diagnosis(a: Analysis) -> Figure:
    return step_curves(
        a.from_diagnosis,
        title="Survival from diagnosis of bone marrow carcinosis",
        ylabel="survival",
        xlabel="months from diagnosis",
    )


def cumulative_incidence(a: Analysis) -> Figure:
    return step_curves(
        a.incidence,
        title="Cumulative incidence, death as competing risk (Aalen-Johansen)",
        ylabel="cumulative incidence",
        xmax=a.horizon_months,
    )


def sre_free_survival(a: Analysis) -> Figure:
    return step_curves(
        {"SRE-free": a.sre_free, "overall": a.overall},
        title="Survival free of skeletal-related events",
        ylabel="probability",
        xmax=a.horizon_months,
    )


def state_occupancy(occupancy: pd.DataFrame, title: str = "State occupancy over time") -> Figure:
    """Stacked shares of the cohort in each state, and the carcinosis states enlarged."""
    fig = Figure(figsize=(9.0, 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    t = occupancy["time"].to_numpy(dtype=float)
    ys = [occupancy[s].fillna(0).to_numpy(dtype=float) for s in STATES]
    ax.stackplot(t, *ys, labels=STATES, colors=STATE_COLOURS, alpha=0.9)
    lo, hi = (float(t.min()), float(t.max())) if len(t) else (0.0, 1.0)
    ax.set_xlim(lo, hi if hi > lo else lo + 1.0)
    if not (occupancy.get("n", pd.Series(dtype=float)) > 0).any():
        _no_data(ax)
    ax.set_ylim(0, 1)
    ax.set_xlabel("months")
    ax.set_ylabel("share of cohort")
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, loc="center right", frameon=True)
    for name, colour in zip(STATES[1:3], STATE_COLOURS[1:3], strict=False):
        ax2.plot(t, 100 * occupancy[name].fillna(0).to_numpy(dtype=float), color=colour, linewidth=1.6, label=name)
    ax2.set_xlim(ax.get_xlim())
    ax2.set_ylim(bottom=0)
    ax2.set_xlabel("months")
    ax2.set_ylabel("% of cohort")
    ax2.set_title("Carcinosis states, enlarged", fontsize=10)
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8, frameon=False)
    _note(fig)
    return fig


def hospital_days(bed_days: Sequence[float] | np.ndarray, title: str = "Days in hospital per patient") -> Figure:
    """Histogram of days in hospital per patient over the whole course."""
    fig, ax = _figure()
    bd = np.asarray(bed_days, dtype=float)
    if len(bd):
        top = max(float(np.percentile(bd, 99)), 1.0)
        bins = np.arange(0, top + 5, 5)
        ax.hist(np.clip(bd, 0, bins[-1]), bins=bins.tolist(), color="#5b7fa6", edgecolor="white")
        ax.axvline(bd.mean(), color="#c0392b", linestyle="--", linewidth=1, label=f"mean {bd.mean():.1f} days")
        ax.plot([], [], " ", label=f"never admitted: {100 * (bd == 0).mean():.0f}%")
        ax.legend(fontsize=8, frameon=False)
    ax.set_xlabel("days in hospital (5-day bins; last bin: 99th percentile and above)")
    ax.set_ylabel("patients")
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3, axis="y")
    _note(fig)
    return fig


def replication_precision(
    reps: pd.DataFrame, metrics: dict[str, str], title: str = "Replications: mean and 95% CI as replications accumulate"
) -> Figure:
    """For each metric (column -> label), the running mean with its t-based 95% CI."""
    from sim.analysis.intervals import running_ci

    n = max(len(metrics), 1)
    fig = Figure(figsize=(7.0, 1.9 * n + 0.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    for ax, (col, label) in zip(axes, metrics.items(), strict=False):
        rc = running_ci(reps[col].to_numpy(dtype=float))
        ax.plot(rc["replications"], rc["mean"], color="#1f4e79", marker="o", markersize=3, linewidth=1)
        ax.fill_between(rc["replications"], rc["lower"], rc["upper"], alpha=0.2, color="#1f4e79", linewidth=0)
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("replications")
    axes[0].set_title(title, fontsize=11)
    _note(fig)
    return fig


def report_figures(a: Analysis) -> dict[str, tuple[str, Figure]]:
    """The report's figures: name -> (caption, figure)."""
    out = {
        "overall_survival": ("Overall survival, Kaplan-Meier, with pointwise 95% confidence band.", overall_survival(a)),
        "survival_by_primary": ("Overall survival by primary tumour, Kaplan-Meier, 95% bands.", survival_by_primary(a)),
        "cumulative_incidence": (
            "Cumulative incidence of carcinosis, hypercalcemia, first SRE and cord compression; death without the event is the competing risk (Aalen-Johansen).",
            cumulative_incidence(a),
        ),
        "state_occupancy": ("Share of the cohort in each state over time.", state_occupancy(a.occupancy)),
        "sre_free_survival": (
            "Survival free of skeletal-related events (first SRE or death ends it), beside overall survival.",
            sre_free_survival(a),
        ),
        "hospital_days": ("Days in hospital per patient over the whole course.", hospital_days(a.bed_days)),
    }
    if a.from_diagnosis:
        out["survival_from_diagnosis"] = (
            "Survival from diagnosis of bone marrow carcinosis: chemotherapy vs best supportive care (not a randomised comparison: treatment uptake is by chance in the model).",
            survival_from_diagnosis(a),
        )
    return out


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG (no software metadata)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def png_base64(fig: Figure, dpi: int = 110) -> str:
    return base64.b64encode(png_bytes(fig, dpi)).decode("ascii")
