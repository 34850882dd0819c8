"""Reports of a results folder: ``report.html`` (one self-contained file that
opens offline and prints cleanly) and ``report.xlsx`` (for planners).

The HTML embeds its figures as base64 PNG and its styles inline; it refers to
no external script, font, image or link.  It holds the question and scenario,
the model in brief, the results with confidence intervals, the figures, the
calibration targets beside the model's values, services (when the results
have them), replications (when run), the parameters with their sources, and
the STRESS-DES reporting items (Monk et al. 2019, Journal of Simulation
13(1):55-67).

This module is the entry point, :func:`write_report`; the folder is read by
:mod:`sim.present.report_inputs`, the tables made by
:mod:`sim.present.report_tables`, the files written by
:mod:`sim.present.report_html` and :mod:`sim.present.report_xlsx`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from sim.analysis.outcomes import PRECISION, flat_labels
from sim.analysis.survival import analyse
from sim.oserrors import atomic_file, check_writable_folder
from sim.present.report_html import build_html
from sim.present.report_inputs import ReportInputs, read_inputs
from sim.present.report_xlsx import build_workbook


class ReportError(Exception):
    """The folder cannot be reported on (message says why)."""


# ----------------------------------------------------------------------------- the whole report


def write_report(path: str | Path, *, excel: bool = True, progress: Callable[[int, int], None] | None = None) -> dict[str, Path]:
    """Write report.html (and report.xlsx) into a results folder."""
    from sim.present import cohort_figures as plots

    inp = read_inputs(path)
    check_writable_folder(inp.folder.path)  # a read-only folder fails now, not after the work
    steps = 4 if excel else 3
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(min(done, steps), steps)

    a = analyse(inp.patients, horizon_months=inp.horizon_months)
    step()
    figs = plots.report_figures(a)
    reps = inp.summary.get("replications")
    if inp.replications is not None and isinstance(reps, dict) and len(inp.replications) > 1:
        cols = {k: v for k, v in flat_labels(PRECISION).items() if k in inp.replications}
        figs["replications"] = (
            "Mean and t-based 95% CI as replications accumulate.",
            plots.replication_precision(inp.replications, cols),
        )
    lab_fig = carcinosis_lab_figure(inp)
    if lab_fig is not None:
        figs["labs"] = lab_fig
    encoded = {k: (cap, plots.png_base64(fig)) for k, (cap, fig) in figs.items()}
    step()
    out = {"html": inp.folder.path / "report.html"}
    text = build_html(inp, a, encoded)
    # each file whole or not at all, both given their names only once both are complete: a full disk,
    # a read-only folder or an interruption leaves the folder as it was
    with contextlib.ExitStack() as files:
        files.enter_context(atomic_file(out["html"])).write_text(text, encoding="utf-8")
        step()
        if excel:
            out["xlsx"] = inp.folder.path / "report.xlsx"
            build_workbook(inp, a, files.enter_context(atomic_file(out["xlsx"])))
            step()
    return out


def carcinosis_lab_figure(inp: ReportInputs) -> tuple[str, Any] | None:
    """Trajectories of the carcinosis group (patients whose values were kept),
    aligned at carcinosis onset, with the grade boundaries."""
    p = inp.folder.path / "labs.parquet"
    if not p.exists():
        return None
    import yaml

    from sim.present.course_figures import lab_trajectories
    from sim.scenario.loader import validate

    df = inp.patients
    carc = df[df["carcinosis_onset_months"].notna()]
    labs = pd.read_parquet(p)
    labs = labs[labs["patient_id"].isin(carc["patient_id"])]
    if labs.empty:
        return None
    onset = (carc["entry_months"] + carc["carcinosis_onset_months"]).set_axis(carc["patient_id"])
    labs = labs.assign(time_months=labs["time_months"].to_numpy() - onset.reindex(labs["patient_id"]).to_numpy())
    labs = labs[labs["time_months"] >= -1.0]
    scenario = validate(yaml.safe_load(inp.folder.scenario_yaml))
    n = labs["patient_id"].nunique()
    fig = lab_trajectories(labs, scenario, title=f"Blood counts and calcium from carcinosis onset ({n} patients)")
    fig.axes[-1].set_xlabel("months since carcinosis onset")
    return (
        f"Trajectories of the {n} patients with carcinosis among those whose values were kept (labs.keep_patients), aligned at onset; dotted lines are CTCAE grade boundaries, dashed the transfusion triggers.",
        fig,
    )


__all__ = [
    "ReportError",
    "ReportInputs",
    "read_inputs",
    "write_report",
    "carcinosis_lab_figure",
]
