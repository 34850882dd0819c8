"""Figures of parameter uncertainty: outcome distributions across PSA draws,
the cost-effectiveness plane, the acceptability curve and the tornado diagram.

Like :mod:`sim.present.cohort_figures`, every function returns a :class:`matplotlib.figure.Figure`
built without ``pyplot``, so the report, the dashboard's Uncertainty page
(``st.pyplot(fig)``) and the psa/owsa commands (``fig.savefig``) share them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.present.cohort_figures import _figure, _note

SHOWN = (
    ("carcinosis_proportion", "carcinosis (proportion)"),
    ("median_survival_months", "median survival (months)"),
    ("life_years", "life-years per patient"),
    ("cost_per_patient", "discounted cost per patient"),
    ("qalys_per_patient", "discounted QALYs per patient"),
    ("sre_per_patient", "SREs per patient"),
)


def psa_outcomes(table: pd.DataFrame, names: list[str] | None = None) -> Figure:
    """Histograms of key outcomes across draws, one colour per scenario, with 95% intervals."""
    names = names or list(dict.fromkeys(table["scenario"]))
    shown = [
        (k, lab)
        for k, lab in SHOWN
        if k in table.columns
        and table[k].notna().any()
        and table[k].std(skipna=True) > 0
        or (k in table.columns and k in ("carcinosis_proportion", "life_years"))
    ]
    shown = shown[:4] or [("life_years", "life-years per patient")]
    fig = Figure(figsize=(8.0, 2.2 + 2.0 * ((len(shown) + 1) // 2)), dpi=100, layout="constrained")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    axes = fig.subplots((len(shown) + 1) // 2, 2, squeeze=False).ravel()
    for ax, (k, label) in zip(axes, shown, strict=False):
        for name in names:
            x = table.loc[table["scenario"] == name, k].to_numpy(dtype=float)
            x = x[np.isfinite(x)]
            if len(x) == 0:
                continue
            ax.hist(x, bins=min(30, max(5, len(x) // 4)), alpha=0.55, label=name)
            lo, hi = np.percentile(x, [2.5, 97.5])
            ax.axvline(lo, color="#555555", linewidth=0.7, linestyle=":")
            ax.axvline(hi, color="#555555", linewidth=0.7, linestyle=":")
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    if len(names) > 1:
        axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle(f"Outcomes across {table['draw'].nunique()} PSA draws (dotted: 95% uncertainty interval)", fontsize=10)
    _note(fig)
    return fig


def ce_plane(incremental: pd.DataFrame, names: list[str]) -> Figure:
    """Incremental QALYs (x) against incremental cost (y), one point per draw."""
    fig, ax = _figure(6.4, 4.6)
    dq = incremental["qalys_per_patient"].to_numpy(dtype=float)
    dc = incremental["cost_per_patient"].to_numpy(dtype=float)
    ax.scatter(dq, dc, s=9, alpha=0.5, color="#3b6ea8", linewidths=0)
    ax.scatter([np.mean(dq)], [np.mean(dc)], s=60, color="#d9734e", marker="D", label="mean")
    ax.axhline(0, color="#444444", linewidth=0.8)
    ax.axvline(0, color="#444444", linewidth=0.8)
    ax.set_xlabel(f"incremental QALYs per patient ({names[1]} - {names[0]})")
    ax.set_ylabel("incremental cost per patient")
    ax.set_title("Cost-effectiveness plane (paired PSA draws)", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    _note(fig)
    return fig


def ceac_curve(curve: pd.DataFrame, names: list[str]) -> Figure:
    """Probability that the scenario is cost-effective against the reference, by willingness to pay."""
    fig, ax = _figure(6.4, 4.2)
    ax.plot(curve["wtp"], curve["probability_cost_effective"], color="#3b6ea8", linewidth=1.6, label=names[1])
    ax.plot(curve["wtp"], 1 - curve["probability_cost_effective"], color="#999999", linewidth=1.2, linestyle="--", label=names[0])
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.set_xlabel("willingness to pay per QALY")
    ax.set_ylabel("probability cost-effective")
    ax.set_title("Cost-effectiveness acceptability curve", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    _note(fig)
    return fig


def tornado(table: pd.DataFrame, outcome_label: str, scenario_name: str = "") -> Figure:
    """Tornado diagram: each parameter's low and high value as bars around the base case (widest on top)."""
    n = max(1, len(table))
    fig, ax = _figure(7.4, 1.6 + 0.38 * n)
    if len(table):
        base = float(table["base"].iloc[0])
        y = np.arange(len(table))[::-1]
        lo = table["outcome_at_low"].to_numpy(dtype=float)
        hi = table["outcome_at_high"].to_numpy(dtype=float)
        ax.barh(y, lo - base, left=base, color="#8fb3d9", label="parameter at its 2.5th percentile")
        ax.barh(y, hi - base, left=base, color="#d9734e", alpha=0.85, label="parameter at its 97.5th percentile")
        ax.axvline(base, color="#333333", linewidth=0.9)
        ax.set_yticks(y)
        ax.set_yticklabels(table["parameter"], fontsize=8)
        ax.legend(fontsize=7, frameon=False, loc="lower right")
    ax.set_xlabel(outcome_label)
    ax.set_title(f"One-way sensitivity{': ' + scenario_name if scenario_name else ''}", fontsize=11)
    ax.grid(alpha=0.3, axis="x")
    _note(fig)
    return fig
