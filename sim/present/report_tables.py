"""The tables of a report, as data frames: the headline outcomes with their
confidence intervals, outcomes by primary tumour, state occupancy, services,
calibration targets, replications, the parameters with their sources and
the STRESS-DES reporting items (Monk et al. 2019, Journal of Simulation
13(1):55-67).  Both the HTML (:mod:`sim.present.report_html`) and the
workbook (:mod:`sim.present.report_xlsx`) are made of them; :func:`fmt`,
:func:`get` and :func:`isnan` are the small helpers they share.
"""

from __future__ import annotations

import json
import math
import platform
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.outcomes import CATALOGUE, REPLICATIONS_TABLE, REPORT_HEADLINE, flat_labels
from sim.analysis.survival import STATES, Analysis
from sim.present.report_inputs import ReportInputs
from sim.scenario.fields import ILLUSTRATIVE, PRIMARIES

PACKAGES = ("simpy", "numpy", "pandas", "pyarrow", "pydantic", "scipy", "lifelines", "matplotlib", "openpyxl")

ASSUMPTIONS = [
    ILLUSTRATIVE,
    "Competing processes are independent given the patient's state.",
    "No curative treatment is modelled.",
    "Service capacity is unlimited unless the scenario sets a capacity.",
]


# ----------------------------------------------------------------------------- tables


def get(d: Any, path: str) -> Any:
    """The value at dotted ``path`` in nested dicts, or None where a step is missing."""
    for part in path.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


# (title, path in the summary's outcomes, format) of the headline table (sim.analysis.outcomes)
HEADLINE = [(CATALOGUE[n].title, str(CATALOGUE[n].key), CATALOGUE[n].fmt) for n in REPORT_HEADLINE]


def fmt(v: Any, kind: str = "num") -> str:
    """A value as report text: ``kind`` "pct" (a share as a percentage), "int", or "num"; missing: "n/a"."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if kind == "pct":
        return f"{100 * float(v):.1f}%"
    if kind == "int":
        return f"{int(round(float(v))):,}"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if f.is_integer() and abs(f) >= 1:
            return f"{int(f):,}"
        return f"{f:,.2f}" if abs(f) < 1000 else f"{f:,.0f}"
    return str(v)


def isnan(x: Any) -> bool:
    """None or a floating NaN: a missing value."""
    return x is None or (isinstance(x, (float, np.floating)) and math.isnan(x))


def headline_table(summary: dict[str, Any]) -> pd.DataFrame:
    o = summary["outcomes"]
    rows = []
    for label, path, kind in HEADLINE:
        node = get(o, path)
        if not isinstance(node, dict):
            continue
        lo, hi = (node.get("ci95") or [None, None])[:2]
        method = node.get("ci_method") or ("Wilson score" if kind == "pct" and "proportion" in path else "Kaplan-Meier (log-log)")
        # an estimate that is missing says why (e.g. "not estimable (follow-up 6 months)")
        reason = node.get("reason") if node.get("estimate") is None else None
        rows.append(
            {
                "outcome": label,
                "estimate": node.get("estimate"),
                "ci_low": lo,
                "ci_high": hi,
                "kind": kind,
                "ci_method": method,
                "reason": reason or ("not estimable" if node.get("estimate") is None else None),
            }
        )
    delay = get(o, "carcinosis.diagnosis_delay_days")
    if isinstance(delay, dict):
        rows.append(
            {
                "outcome": "Onset to diagnosis of carcinosis, median (days)",
                "estimate": delay.get("median"),
                "ci_low": None,
                "ci_high": None,
                "kind": "num",
                "ci_method": "",
                "reason": "not estimable (no diagnosed carcinosis)" if delay.get("median") is None else None,
            }
        )
    sre = CATALOGUE["sre_per_patient"]
    mean_sre = sre.read(o)
    if mean_sre is not None:
        rows.append(
            {
                "outcome": sre.title,
                "estimate": mean_sre,
                "ci_low": None,
                "ci_high": None,
                "kind": "num",
                "ci_method": "",
                "reason": None,
            }
        )
    return pd.DataFrame(rows)


def outcomes_by_primary(patients: pd.DataFrame, a: Analysis) -> pd.DataFrame:
    """One row per primary tumour: size, proportions with Wilson CIs, survival with KM CIs, hospital days."""
    from sim.analysis.summary import wilson

    surv = a.tables["survival"].set_index("group")
    rows = []
    prim = patients["primary"].astype(str)
    for p in ("all patients", *PRIMARIES):
        g = patients if p == "all patients" else patients[prim == p]
        n = len(g)
        if n == 0:
            continue
        row: dict[str, Any] = {"primary": p, "patients": n}
        for label, ok in (
            ("carcinosis", g["carcinosis_onset_months"].notna()),
            ("hypercalcemia", g["hypercalcemia_months"].notna()),
            ("any SRE", g["n_sre"] > 0),
            ("cord compression", g["cord_compression_months"].notna()),
        ):
            w = wilson(int(ok.sum()), n)
            row[f"{label} %"] = 100 * w["estimate"]
            row[f"{label} % low"] = 100 * w["ci95"][0]
            row[f"{label} % high"] = 100 * w["ci95"][1]
        if p in surv.index:
            s = surv.loc[p]
            row["median survival (months)"] = s["median_months"]
            row["median low"] = s["median_lower"]
            row["median high"] = s["median_upper"]
            row["alive at 12 months %"] = 100 * s["at_12_months"]
            row["12 months low"] = 100 * s["at_12_lower"]
            row["12 months high"] = 100 * s["at_12_upper"]
            if not math.isfinite(float(s["at_12_months"])):
                row["note"] = f"alive at 12 months: {s.get('note') or 'not estimable'}"
        row["days in hospital (mean)"] = float(g["bed_days"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def occupancy_table(a: Analysis, at: tuple[float, ...] = (6.0, 12.0, 24.0, 60.0)) -> pd.DataFrame:
    """State occupancy at a few times (months)."""
    occ = a.occupancy
    t = occ["time"].to_numpy()
    rows = []
    for x in at:
        if len(t) == 0 or x > t.max():
            continue
        i = int(np.searchsorted(t, x, side="right") - 1)
        rows.append({"month": x, **{st: float(occ[st].iloc[i]) for st in STATES}})
    return pd.DataFrame(rows, columns=["month", *STATES])


def parameter_rows(raw: dict[str, Any]) -> pd.DataFrame:
    """Every parameter of the resolved scenario with unit, range and source."""
    from sim.scenario.fields import section_model
    from sim.scenario.model import Scenario
    from sim.scenario.reference import field_info

    rows: list[dict[str, Any]] = []

    def walk(node: dict[str, Any], model: Any, prefix: str) -> None:
        fields = getattr(model, "model_fields", {}) if model is not None else {}
        for k, v in node.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            sub = section_model(fields[k].annotation) if k in fields else None
            if isinstance(v, dict):
                walk(v, sub, path)
                continue
            info = field_info(model, k) if k in fields else {}
            rng = ""
            if info.get("min") is not None or info.get("max") is not None:
                rng = f"{info.get('min')} to {info.get('max')}"
            rows.append(
                {
                    "parameter": path,
                    "value": v if not isinstance(v, (list, dict)) else json.dumps(v),
                    "unit": info.get("unit") or "",
                    "range": rng,
                    "source": info.get("source") or "",
                    "description": info.get("description") or "",
                }
            )

    walk(raw, Scenario, "")
    return pd.DataFrame(rows, columns=["parameter", "value", "unit", "range", "source", "description"])


def services_tables(summary: dict[str, Any]) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Service totals and, when the results carry them, per-year figures (any shape of year table)."""
    sv = summary.get("services")
    if not isinstance(sv, dict) or not sv:
        return None, None
    totals, years = [], []
    for name, node in sv.items():
        if isinstance(node, (int, float)) and not isinstance(node, bool):
            totals.append({"service": name.replace("_", " "), "value": node})
            continue
        if not isinstance(node, dict):
            continue
        row: dict[str, Any] = {"service": name.replace("_", " ")}
        for k, v in node.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                row[k] = v
            elif isinstance(v, dict) and "year" not in k.lower() and all(isinstance(x, (int, float)) for x in v.values()):
                for kk, vv in v.items():
                    row[f"{k} {kk}"] = vv
            elif "year" in k.lower():
                years.extend(_year_rows(name.replace("_", " "), v))
        totals.append(row)
    tot = pd.DataFrame(totals) if totals else None
    yr = pd.DataFrame(years) if years else None
    if yr is not None:
        cols = ["service", "year"] + [c for c in yr.columns if c not in ("service", "year")]
        yr = yr[cols]
    return tot, yr


def _year_rows(service: str, node: Any) -> list[dict[str, Any]]:
    rows = []
    if isinstance(node, list):
        for i, item in enumerate(node):
            if isinstance(item, dict):
                r = {"service": service, "year": item.get("year", i + 1)}
                r.update({k: v for k, v in item.items() if k != "year" and not isinstance(v, (dict, list))})
                rows.append(r)
            else:
                rows.append({"service": service, "year": i + 1, "value": item})
    elif isinstance(node, dict):
        for year, item in node.items():
            rec: dict[str, Any] = {"service": service, "year": year}
            if isinstance(item, dict):
                rec.update({k: v for k, v in item.items() if not isinstance(v, (dict, list))})
            else:
                rec["value"] = item
            rows.append(rec)
    return rows


def calibration_table(summary: dict[str, Any]) -> pd.DataFrame | None:
    cal = summary.get("calibration")
    if not isinstance(cal, list) or not cal:
        return None
    return pd.DataFrame(cal)


def replications_table(reps: pd.DataFrame) -> pd.DataFrame:
    from sim.analysis.intervals import t_ci

    labels = flat_labels(REPLICATIONS_TABLE)
    rows = []
    for col, label in labels.items():
        if col not in reps:
            continue
        c = t_ci(reps[col].to_numpy())
        rows.append(
            {
                "outcome": label,
                "mean": c["mean"],
                "ci_low": c["ci95"][0],
                "ci_high": c["ci95"][1],
                "half_width": c["half_width"],
                "relative_half_width": c["relative_half_width"],
                "replications": c["n"],
            }
        )
    return pd.DataFrame(rows)


def software_versions() -> dict[str, str]:
    from sim import __version__

    out = {"bmc-sim": __version__, "python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def stress_items(inp: ReportInputs) -> list[tuple[str, str, str]]:
    """STRESS-DES items: (section, item, what this study did)."""
    s = inp.summary
    run = inp.scenario.get("run", {}) if isinstance(inp.scenario.get("run"), dict) else {}
    reps = s.get("replications") if isinstance(s.get("replications"), dict) else None
    n_reps = reps.get("count") if reps else 1
    indices = reps.get("indices") if reps else [s.get("replication", run.get("replication", 0))]
    warm = None
    for key in ("warmup_years", "warm_up_years", "warmup_months", "warm_up_months"):
        for sec in ("run", "population"):
            v = get(inp.scenario, f"{sec}.{key}")
            if v is not None:
                warm = f"{v} {key.rsplit('_', 1)[-1]} ({sec}.{key}), excluded from results"
    warm = warm or "none: cohort mode, every patient enters at time 0 and is followed from entry (no initial bias to remove)"
    t = inp.timing or {}
    run_time = f"{t['wall_seconds']:.2f} s wall time" if "wall_seconds" in t else "not recorded (timing.json missing)"
    if "simulate_seconds" in t:
        run_time += f", of which {t['simulate_seconds']:.2f} s simulating"
    if inp.population_mode:
        pop = inp.scenario.get("population") or {}
        run_length = (
            f"{pop.get('horizon_years')} years of arrivals, the first {pop.get('warmup_years')} a warm-up; "
            f"{s.get('reported_patients')} patients reported; each course followed for at most {s.get('horizon_months')} months or to the end of the run"
        )
    else:
        run_length = f"{s.get('horizon_months')} months of follow-up from entry; {s.get('patients')} patients per replication"
    versions = ", ".join(f"{k} {v}" for k, v in software_versions().items())
    rep_text = f"{n_reps} independent replication{'s' if n_reps != 1 else ''} (indices {', '.join(str(i) for i in indices[:12])}{' ...' if len(indices) > 12 else ''})"
    if reps and reps.get("algorithm"):
        rep_text += f"; number chosen by the {reps['algorithm']}, target relative CI half-width {reps.get('precision')}, cap {reps.get('cap')}"
        rep_text += f"; N_sol = {reps.get('n_solution')}" if reps.get("n_solution") else "; precision not reached within the cap"
    if n_reps > 1:
        rep_text += (
            ". Outcomes: mean across replications with Student-t 95% CIs; curves and per-patient tables: first replication"
        )
    else:
        rep_text += ". Outcomes: one cohort; proportions with Wilson 95% CIs, survival with Kaplan-Meier log-log 95% CIs"
    return [
        (
            "1 Objectives",
            "1.1 Purpose of the model",
            s.get("description")
            or "Course of bone metastases and bone marrow carcinosis in a cohort, for planning and teaching.",
        ),
        (
            "1 Objectives",
            "1.2 Model outputs",
            "Per patient: events with times, carcinosis onset and diagnosis, worst cytopenia grades, SREs, care, death cause or censoring. Cohort: survival, cumulative incidence, state occupancy, proportions with CIs, service use.",
        ),
        (
            "1 Objectives",
            "1.3 Experimentation aims",
            f"Scenario {s.get('scenario')!r}; compare with other scenario files by the same seed (common random numbers).",
        ),
        (
            "2 Logic",
            "2.1-2.2 Base model logic",
            "Competing time-to-event processes per patient (see 'Model in brief'); care requested through services beside the course.",
        ),
        (
            "2 Logic",
            "2.3 Scenario logic",
            "Scenario files change parameters only; the resolved scenario is stored with the results (scenario.resolved.yaml).",
        ),
        (
            "2 Logic",
            "2.4 Algorithms",
            "Inverse-transform sampling from addressed uniform streams; hazards re-timed on state changes without new draws; Kaplan-Meier and Aalen-Johansen estimators from lifelines.",
        ),
        (
            "2 Logic",
            "2.5 Components",
            "Entities: patients. Activities: radiotherapy, radionuclides, chemotherapy, transfusion, surgery, admission, biopsy. Resources: services (unlimited unless capacities are set). Entry at diagnosis of bone metastasis; exit at death or horizon.",
        ),
        (
            "3 Data",
            "3.1-3.3 Data sources and input parameters",
            "Published figures and assumptions, each parameter with unit, range and source (see 'Parameters'). " + ILLUSTRATIVE,
        ),
        ("3 Data", "3.4 Assumptions", " ".join(ASSUMPTIONS)),
        ("4 Experimentation", "4.1 Initialisation (warm-up)", warm),
        ("4 Experimentation", "4.2 Run length (horizon)", run_length),
        ("4 Experimentation", "4.3 Estimation approach (replications)", rep_text),
        ("5 Implementation", "5.1 Software and versions", versions),
        (
            "5 Implementation",
            "5.2 Random sampling",
            f"{s.get('random_numbers', 'addressed streams')}; root seed {s.get('seed')}; replication index is part of every stream address",
        ),
        (
            "5 Implementation",
            "5.3 Model execution",
            "SimPy process-interaction discrete-event simulation; patients without finite-capacity services run in independent chunks (results do not depend on chunk size).",
        ),
        (
            "5 Implementation",
            "5.4 System specification and run time",
            f"{platform.system()} {platform.machine()}, Python {platform.python_version()}; {run_time}",
        ),
        (
            "6 Code access",
            "6.1 Computer model sharing",
            f"bmc-sim {s.get('model_version')}; scenario sha256 {s.get('scenario_sha256')}",
        ),
    ]
