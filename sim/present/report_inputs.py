"""What a report is made from: a complete results folder read back.

:func:`read_inputs` reads the folder (``summary.json``, the patients table,
the resolved scenario, ``timing.json`` and ``replications.parquet`` when
there) and checks it has what a report needs; :class:`ReportInputs` holds it
for the tables (:mod:`sim.present.report_tables`), the HTML
(:mod:`sim.present.report_html`) and the workbook
(:mod:`sim.present.report_xlsx`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim.outputs.results import NotAResultsFolder, ResultsFolder, read_results


@dataclass
class ReportInputs:
    """A results folder read back for a report: the folder, its resolved scenario, timing and replications."""

    folder: ResultsFolder
    scenario: dict[str, Any]  # the resolved scenario (raw dict)
    timing: dict[str, Any] | None
    replications: pd.DataFrame | None

    @property
    def summary(self) -> dict[str, Any]:
        return self.folder.summary

    @property
    def population_mode(self) -> bool:
        return self.summary.get("mode") == "population"

    @property
    def patients(self) -> pd.DataFrame:
        """The patients whose outcomes are reported (population mode: those who entered after the warm-up)."""
        df = self.folder.patients
        start = self.summary.get("reported_from_months")
        if isinstance(start, (int, float)) and start > 0 and "entry_months" in df:
            df = df[df["entry_months"] >= start].reset_index(drop=True)
        return df

    @property
    def horizon_months(self) -> float | None:
        return None if self.population_mode else self.summary.get("horizon_months")


def read_inputs(path: str | Path) -> ReportInputs:
    """Read a complete results folder (NotAResultsFolder if it is not one)."""
    folder = read_results(path)
    from sim.scenario.loader import parse_yaml

    try:
        scen = parse_yaml(folder.scenario_yaml, "scenario.resolved.yaml")
    except Exception as exc:  # noqa: BLE001 - any unreadable scenario means an unusable folder
        raise NotAResultsFolder(f"{folder.path}: scenario.resolved.yaml cannot be read ({exc})") from None
    if not isinstance(scen, dict):
        raise NotAResultsFolder(f"{folder.path}: scenario.resolved.yaml is not a scenario")
    need = {"followup_months", "censored", "primary", "bed_days", "carcinosis_onset_months"}
    missing = sorted(need - set(folder.patients.columns))
    if missing:
        raise NotAResultsFolder(f"{folder.path}: the patients table lacks {', '.join(missing)}; re-run 'run_sim.py run'")
    if "outcomes" not in folder.summary:
        raise NotAResultsFolder(f"{folder.path}: summary.json has no outcomes; re-run 'run_sim.py run'")
    timing = None
    tp = folder.path / "timing.json"
    if tp.is_file():
        try:
            timing = json.loads(tp.read_text(encoding="utf-8"))
        except ValueError:
            timing = None
    reps = None
    rp = folder.path / "replications.parquet"
    if rp.is_file():
        try:
            reps = pd.read_parquet(rp)
        except Exception as exc:  # noqa: BLE001
            raise NotAResultsFolder(f"{folder.path}: replications.parquet cannot be read ({exc})") from None
    return ReportInputs(folder, scen, timing, reps)
