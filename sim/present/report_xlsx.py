"""The Excel report: ``report.xlsx``, the report's tables as sheets for planners.

:func:`build_workbook` writes a summary sheet (the scenario and the headline
outcomes with their confidence intervals) and one sheet per table of
:mod:`sim.present.report_tables`; every text cell is stored as text, never
as a formula.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from sim.analysis.survival import Analysis
from sim.present.report_inputs import ReportInputs
from sim.present.report_tables import (
    calibration_table,
    headline_table,
    isnan,
    occupancy_table,
    outcomes_by_primary,
    parameter_rows,
    replications_table,
    services_tables,
)
from sim.scenario.fields import ILLUSTRATIVE

# ----------------------------------------------------------------------------- Excel


def build_workbook(inp: ReportInputs, a: Analysis, path: Path) -> list[str]:
    """Write report.xlsx; returns the sheet names."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    s = inp.summary
    reps = s.get("replications") if isinstance(s.get("replications"), dict) else None
    summary_rows: list[tuple[Any, ...]] = [
        ("Notice", ILLUSTRATIVE, None, None, None),
        ("Scenario", s.get("scenario"), None, None, None),
        ("Question", s.get("description"), None, None, None),
        ("Patients per replication", s.get("patients"), None, None, None),
        ("Replications", reps.get("count") if reps else 1, None, None, None),
        ("Root seed", s.get("seed"), None, None, None),
        ("Horizon (months)", s.get("horizon_months"), None, None, None),
        ("Model version", s.get("model_version"), None, None, None),
        (None, None, None, None, None),
        ("Outcome", "Estimate", "95% CI low", "95% CI high", "CI method"),
    ]
    for _, r in headline_table(s).iterrows():
        if isnan(r["estimate"]):
            summary_rows.append((r["outcome"].strip(), r["reason"] or "not estimable", None, None, None))
            continue
        summary_rows.append((r["outcome"].strip(), r["estimate"], r["ci_low"], r["ci_high"], r["ci_method"]))
    sheets: dict[str, pd.DataFrame] = {
        "Summary": pd.DataFrame(summary_rows, columns=["item", "value", "ci_low", "ci_high", "note"]),
        "Outcomes by primary": outcomes_by_primary(inp.patients, a),
        "Cumulative incidence": a.tables["incidence"],
        "State occupancy": occupancy_table(a),
        "Hospital days": a.hospital,
    }
    tot, years = services_tables(s)
    if tot is not None:
        sheets["Services"] = tot
    if years is not None:
        sheets["Services by year"] = years
    cal = calibration_table(s)
    if cal is not None:
        cal = cal.copy()
        if "model_ci95" in cal:
            cal["model_ci95"] = cal["model_ci95"].map(lambda c: f"{c[0]} to {c[1]}" if isinstance(c, list) else "")
        sheets["Calibration"] = cal
    if inp.replications is not None:
        sheets["Replications"] = replications_table(inp.replications)
    sheets["Parameters"] = parameter_rows(inp.scenario).astype({"value": str})
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, df in sheets.items():
            df.to_excel(xw, sheet_name=name, index=False, header=name != "Summary")
            ws = xw.sheets[name]
            _text_cells(ws)
            if name != "Summary":
                for cell in ws[1]:
                    cell.font = Font(bold=True)
                    cell.fill = PatternFill("solid", fgColor="EEF3F8")
                ws.freeze_panes = "A2"
            else:
                ws["A1"].font = Font(bold=True, color="C0392B")
                for cell in ws[10]:
                    cell.font = Font(bold=True)
                ws["B3"].alignment = Alignment(wrap_text=True)
            for i, col in enumerate(df.columns, start=1):
                width = max([len(str(col))] + [len(str(v)) for v in df[col].head(200)])
                ws.column_dimensions[get_column_letter(i)].width = min(max(10, width + 2), 60)
        xw.book.properties.title = f"bmc-sim report: {s.get('scenario')}"
        xw.book.properties.description = ILLUSTRATIVE
    return list(sheets)


def _text_cells(ws: Any) -> None:
    """Every text cell of the sheet is text, never a formula: scenario text such as
    ``=HYPERLINK(...)`` (a name, a description, a service's unit, the currency) is
    stored as a string with Excel's quote prefix, shown as written and not evaluated.
    Numbers stay numbers."""
    from sim.outputs.results import FORMULA_START

    for row in ws.iter_rows():
        for cell in row:
            v = cell.value
            if isinstance(v, str) and (cell.data_type == "f" or v.startswith(FORMULA_START)):
                cell.data_type = "s"
                cell.quotePrefix = True
