"""Reports of a results folder: ``report.html`` (one self-contained file that
opens offline and prints cleanly) and ``report.xlsx`` (for planners).

The HTML embeds its figures as base64 PNG and its styles inline; it refers to
no external script, font, image or link.  It holds the question and scenario,
the model in brief, the results with confidence intervals, the figures, the
calibration targets beside the model's values, services (when the results
have them), replications (when run), the parameters with their sources, and
the STRESS-DES reporting items (Monk et al. 2019, Journal of Simulation
13(1):55-67).
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import platform
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.outcomes import CATALOGUE, PRECISION, REPLICATIONS_TABLE, REPORT_HEADLINE, flat_labels
from sim.analysis.survival import STATES, Analysis, analyse
from sim.oserrors import atomic_file, check_writable_folder
from sim.outputs.results import NotAResultsFolder, ResultsFolder, read_results
from sim.scenario.fields import ILLUSTRATIVE, PRIMARIES

PACKAGES = ("simpy", "numpy", "pandas", "pyarrow", "pydantic", "scipy", "lifelines", "matplotlib", "openpyxl")

MODEL_IN_BRIEF = [
    "Each patient enters at the diagnosis of bone metastasis with a primary tumour (prostate, breast, lung, renal, thyroid, other), "
    "an age, a bone-targeted agent (none, zoledronic acid, denosumab) and possibly visceral metastases.",
    "Competing time-to-event processes run from entry: progression to death (Weibull by primary; hazard raised after a "
    "skeletal-related event, after spinal cord compression and after hypercalcemia); recurrent skeletal-related events "
    "(radiation to bone, pathological fracture, cord compression with a risk of paralysis, surgery to bone), lowered by a "
    "bone-targeted agent; recurrent bone pain episodes; hypercalcemia episodes (admission, may be fatal, may recur); death "
    "from other causes (Gompertz in age).",
    "Bone marrow carcinosis replaces the progression course from its onset: cytopenias (anemia, thrombocytopenia, "
    "leukopenia; grades 1-4) that worsen, DIC and a leukoerythroblastic picture in some, infections and bleeding whose "
    "hazards rise with grade, detection by blood picture, scintigraphy and marrow biopsy, chemotherapy or best supportive "
    "care from diagnosis, terminal marrow failure, rare remission with later relapse.",
    "Palliative care sits beside the course: external beam radiotherapy (single 8 Gy fraction or several fractions), "
    "radionuclides (radium-223, strontium-89/samarium-153), chemotherapy cycles, red cell and platelet transfusions, "
    "surgery and hospital admissions; each requests a service.",
    "Death has a recorded cause; patients alive at the horizon are censored, never dropped. Time is in months.",
]

ASSUMPTIONS = [
    ILLUSTRATIVE,
    "Competing processes are independent given the patient's state.",
    "No curative treatment is modelled.",
    "Service capacity is unlimited unless the scenario sets a capacity.",
]


class ReportError(Exception):
    """The folder cannot be reported on (message says why)."""


# ----------------------------------------------------------------------------- reading


@dataclass
class ReportInputs:
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


# ----------------------------------------------------------------------------- tables


def _get(d: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


# (title, path in the summary's outcomes, format) of the headline table (sim.analysis.outcomes)
HEADLINE = [(CATALOGUE[n].title, str(CATALOGUE[n].key), CATALOGUE[n].fmt) for n in REPORT_HEADLINE]


def _fmt(v: Any, kind: str = "num") -> str:
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


def headline_table(summary: dict[str, Any]) -> pd.DataFrame:
    o = summary["outcomes"]
    rows = []
    for label, path, kind in HEADLINE:
        node = _get(o, path)
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
    delay = _get(o, "carcinosis.diagnosis_delay_days")
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
            v = _get(inp.scenario, f"{sec}.{key}")
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


# ----------------------------------------------------------------------------- HTML


CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; max-width: 62rem; margin: 1.5rem auto; padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.25rem; border-bottom: 2px solid #1f4e79; padding-bottom: .15rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin-top: 1.3rem; }
.notice { background: #fff4e5; border-left: 5px solid #e67e22; padding: .6rem .9rem; font-weight: 600; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .86rem; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #eef3f8; } td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.off td { color: #a33; }
figure { margin: 1rem 0 1.6rem; } figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: .85rem; color: #444; }
nav ol { columns: 2; font-size: .9rem; } .small { font-size: .8rem; color: #555; }
.tw { overflow-x: auto; }
table.params { width: 100%; table-layout: fixed; font-size: .78rem; }
.params th:nth-child(1) { width: 26%; } .params th:nth-child(2) { width: 9%; } .params th:nth-child(3) { width: 10%; }
.params th:nth-child(4) { width: 10%; } .params th:nth-child(5) { width: 25%; } .params th:nth-child(6) { width: 20%; }
.params td { overflow-wrap: anywhere; }
@media print {
  @page { size: A4; margin: 14mm 12mm; }
  body { max-width: none; margin: 0; font-size: 9.5pt; }
  nav { display: none; }
  h2 { break-after: avoid; page-break-after: avoid; } h3 { break-after: avoid; page-break-after: avoid; }
  figure, tr, .notice { break-inside: avoid; page-break-inside: avoid; }
  .tw { overflow: visible; }
  table { max-width: 100%; } th, td { overflow-wrap: anywhere; } td.n { overflow-wrap: normal; }
  table.wide { width: 100%; font-size: 6.5pt; } table.wide th { overflow-wrap: normal; hyphens: auto; } td:first-child { overflow-wrap: normal; }
  thead { display: table-header-group; }
  figure img { max-height: 115mm; border: none; }
  a { color: inherit; text-decoration: none; }
  table.params { font-size: 7pt; } th, td { padding: .1rem .3rem; }
}
"""


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _table(
    df: pd.DataFrame,
    formats: dict[str, Callable[[Any], str]] | None = None,
    cls: str = "",
    row_class: Callable[[pd.Series], str] | None = None,
) -> str:
    formats = formats or {}
    head = "".join(f"<th>{_e(str(c).replace('_', ' '))}</th>" for c in df.columns)
    body = []
    for _, r in df.iterrows():
        cells = []
        for c in df.columns:
            v = r[c]
            if c in formats:
                txt, num = formats[c](v), True
            elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
                txt, num = ("" if _isnan(float(v)) else _fmt(v)), True
            else:
                txt, num = ("" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)), False
            cells.append(f'<td class="n">{_e(txt)}</td>' if num else f"<td>{_e(txt)}</td>")
        rc = row_class(r) if row_class else ""
        body.append(f"<tr{f' class={chr(34)}{rc}{chr(34)}' if rc else ''}>{''.join(cells)}</tr>")
    if not cls and len(df.columns) > 8:
        cls = "wide"
    return f'<div class="tw"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _ci_text(est: Any, lo: Any, hi: Any, kind: str) -> tuple[str, str]:
    e = _fmt(est, kind)
    ci = f"{_fmt(lo, kind)} to {_fmt(hi, kind)}" if not _isnan(lo) and not _isnan(hi) else ""
    return e, ci


def _curve_table(df: pd.DataFrame, first: str, times: tuple[float, ...], pct: bool = True) -> pd.DataFrame:
    rows = []
    for _, r in df.iterrows():
        row: dict[str, Any] = {first: r[first]}
        for k in ("patients", "events"):
            if k in r:
                row[k] = int(r[k])
        note = str(r.get("note") or "") or "not estimable"
        if "median_months" in r:
            if _isnan(r["median_months"]):
                # survival stayed above one half within the follow-up (or there is nobody to follow)
                row["median (months)"] = note if int(r.get("patients", 1) or 0) == 0 else "not reached"
            else:
                row["median (months)"] = _fmt(r["median_months"]) + (
                    f" ({_fmt(r['median_lower'])} to {_fmt(r['median_upper'])})"
                    if r["median_lower"] is not None and not _isnan(r["median_lower"])
                    else ""
                )
        for t in times:
            if _isnan(r[f"at_{t:g}_months"]):
                row[f"at {t:g} months (95% CI)"] = note  # beyond the follow-up: no number
                continue
            e, ci = _ci_text(r[f"at_{t:g}_months"], r[f"at_{t:g}_lower"], r[f"at_{t:g}_upper"], "pct")
            row[f"at {t:g} months (95% CI)"] = f"{e} ({ci})"
        rows.append(row)
    return pd.DataFrame(rows)


def _isnan(x: Any) -> bool:
    return x is None or (isinstance(x, (float, np.floating)) and math.isnan(x))


def build_html(
    inp: ReportInputs, a: Analysis, figures: dict[str, tuple[str, str]], progress: Callable[[], None] | None = None
) -> str:
    s = inp.summary
    reps = s.get("replications") if isinstance(s.get("replications"), dict) else None
    n_reps = reps.get("count") if reps else 1
    sections: list[tuple[str, str, str]] = []

    # question and scenario
    q = [
        f"<p><strong>Question.</strong> {_e(s.get('description') or 'No description given in the scenario file.')}</p>",
        _table(
            pd.DataFrame(
                [
                    ("scenario", s.get("scenario")),
                    ("patients per replication", _fmt(s.get("patients"), "int")),
                    ("replications", n_reps),
                    ("root seed", s.get("seed")),
                    *(
                        (
                            ("mode", "population: Poisson arrivals"),
                            ("warm-up", f"{s.get('warmup_years')} years (patients entering then are not reported)"),
                            ("reported patients", _fmt(s.get("reported_patients"), "int")),
                            (
                                "reported period",
                                f"months {_fmt(s.get('reported_from_months'))} to {_fmt(s.get('reported_to_months'))}",
                            ),
                        )
                        if inp.population_mode
                        else (("mode", "cohort: every patient enters at time 0"),)
                    ),
                    ("follow-up (horizon)", f"{s.get('horizon_months')} months"),
                    ("events recorded (first replication)", _fmt(s.get("events"), "int")),
                    ("model version", s.get("model_version")),
                    ("scenario sha256", s.get("scenario_sha256")),
                ],
                columns=["item", "value"],
            ).astype(str)
        ),
    ]
    sections.append(("question", "Question and scenario", "".join(q)))

    model = "".join(f"<p>{_e(p)}</p>" for p in MODEL_IN_BRIEF)
    model += "<p><strong>Assumptions.</strong></p><ul>" + "".join(f"<li>{_e(x)}</li>" for x in ASSUMPTIONS) + "</ul>"
    sections.append(("model", "Model in brief", model))

    # results
    hl = headline_table(s)
    hl_rows = []
    for _, r in hl.iterrows():
        if _isnan(r["estimate"]):
            hl_rows.append({"outcome": r["outcome"], "estimate": r["reason"] or "not estimable", "95% CI": "", "CI method": ""})
            continue
        e, ci = _ci_text(r["estimate"], r["ci_low"], r["ci_high"], r["kind"])
        hl_rows.append({"outcome": r["outcome"], "estimate": e, "95% CI": ci, "CI method": r["ci_method"]})
    res = []
    basis = (
        f"mean of {n_reps} replications with Student-t 95% CIs"
        if n_reps > 1
        else (
            f"{_fmt(s.get('reported_patients'), 'int')} reported patients"
            if inp.population_mode
            else f"one cohort of {s.get('patients')} patients"
        )
    )
    if int(s.get("reported_patients", a.patients) or 0) == 0:
        where = (
            f" (nobody entered between months {_fmt(s.get('reported_from_months'))} and {_fmt(s.get('reported_to_months'))})"
            if inp.population_mode
            else ""
        )
        res.append(f'<p class="notice">No patients were reported{_e(where)}: the outcomes are not estimable.</p>')
    res.append(f"<p>Headline outcomes ({_e(basis)}).</p>")
    res.append(_table(pd.DataFrame(hl_rows)))
    curves_note = f" (first replication, {a.patients} patients)" if n_reps > 1 else ""
    res.append(f"<h3>Survival by primary tumour{_e(curves_note)}</h3>")
    res.append(_table(_curve_table(a.tables["survival"], "group", (12.0, 24.0, 60.0))))
    if len(a.tables["from_diagnosis"]):
        res.append("<h3>Survival from diagnosis of carcinosis</h3>")
        res.append(_table(_curve_table(a.tables["from_diagnosis"], "group", (1.0, 3.0, 6.0))))
    res.append("<h3>Cumulative incidence, death as competing risk (Aalen-Johansen)</h3>")
    res.append(_table(_curve_table(a.tables["incidence"], "event", (12.0, 24.0, 60.0))))
    res.append("<h3>State occupancy (share of the cohort)</h3>")
    res.append(_table(occupancy_table(a), {c: (lambda v: _fmt(v, "pct")) for c in STATES}))
    res.append("<h3>SRE-free survival</h3>")
    res.append(_table(_curve_table(a.tables["sre_free"], "group", (12.0, 24.0, 60.0))))
    res.append("<h3>Days in hospital per patient</h3>")
    hosp = a.hospital.copy()
    hosp["share_admitted"] = hosp["share_admitted"].map(lambda v: _fmt(v, "pct"))
    res.append(_table(hosp))
    deaths = _get(s, "outcomes.deaths.by_cause") or {}
    if deaths:
        dd = pd.DataFrame(
            [
                {"cause": k.replace("_", " "), "deaths": v.get("count"), "share of deaths": _fmt(v.get("share_of_deaths"), "pct")}
                for k, v in deaths.items()
            ]
        )
        res.append("<h3>Deaths by cause</h3>" + _table(dd, {"deaths": lambda v: _fmt(v, "int") if n_reps == 1 else _fmt(v)}))
    care = _get(s, "outcomes.care") or {}
    if care:
        cd = pd.DataFrame(
            [{"care": k.replace("_", " "), "total": v.get("total"), "per patient": v.get("per_patient")} for k, v in care.items()]
        )
        res.append("<h3>Care received</h3>" + _table(cd))
    sections.append(("results", "Results", "".join(res)))

    figs = "".join(
        f'<figure><img alt="{_e(cap)}" src="data:image/png;base64,{b64}"><figcaption>Figure {i}. {_e(cap)} {_e(ILLUSTRATIVE)}</figcaption></figure>'
        for i, (cap, b64) in enumerate(figures.values(), start=1)
    )
    sections.append(("figures", "Figures", figs))

    cal = calibration_table(s)
    if cal is not None:
        show = pd.DataFrame(
            {
                "target": cal.get("target"),
                "published": cal.get("published"),
                "range": [
                    f"{_fmt(lo)} to {_fmt(hi)}" for lo, hi in zip(cal.get("range_low"), cal.get("range_high"), strict=False)
                ],
                "model": cal.get("model"),
                "within range": cal.get("within_range").map(lambda b: "yes" if b else "no") if "within_range" in cal else "",
                "use": cal.get("use"),
                "source": cal.get("source"),
            }
        )
        if "model_ci95" in cal:
            show.insert(
                4,
                "model 95% CI",
                [f"{_fmt(c[0])} to {_fmt(c[1])}" if isinstance(c, list) and c[0] is not None else "" for c in cal["model_ci95"]],
            )
        sections.append(
            (
                "calibration",
                "Calibration and validation targets",
                "<p>Published figures beside the model's values; rows outside the published range are marked.</p>"
                + _table(show, row_class=lambda r: "off" if r["within range"] == "no" else ""),
            )
        )

    tot, years = services_tables(s)
    if tot is not None:
        period = "over the reported period" if inp.population_mode else "over the whole follow-up"
        sv = f"<p>Service use {period}" + (" (mean across replications)" if n_reps > 1 else "") + ".</p>" + _table(tot)
        if years is not None:
            sv += "<h3>By year" + (" (first replication)" if n_reps > 1 else "") + "</h3>" + _table(years)
        waits = inp.patients.get("total_wait_days")
        if waits is not None and float(np.nansum(waits)) > 0:
            w = np.asarray(waits, dtype=float)
            sv += f"<p>Waiting for services: mean {w.mean():.2f} days per patient, 95th percentile {np.percentile(w, 95):.1f} days.</p>"
        sections.append(("services", "Services", sv))

    if inp.replications is not None and reps:
        rt = replications_table(inp.replications)
        method = str(reps.get("method", ""))
        rp = f"<p>{_e(method[:1].upper() + method[1:])}.</p>"
        if reps.get("algorithm"):
            rp += (
                f"<p>Number of replications chosen by the {_e(reps['algorithm'])}: target relative half-width {_e(reps.get('precision'))}, "
                f"cap {_e(reps.get('cap'))}; solution {_e(reps.get('n_solution') or 'not reached within the cap')}; {n_reps} replications run.</p>"
            )
        sig = {c: (lambda v: "" if _isnan(v) else f"{float(v):.4g}") for c in ("mean", "ci_low", "ci_high", "half_width")}
        rp += _table(rt, {"relative_half_width": lambda v: _fmt(v, "pct"), **sig})
        sections.append(("replications", "Replications", rp))

    params = parameter_rows(inp.scenario)
    sections.append(
        (
            "parameters",
            "Parameters with sources",
            f"<p>{_e(ILLUSTRATIVE)} 'assumed' marks a value chosen by the modellers; 'calibrated' one fitted so the model meets a published figure.</p>"
            + _table(params.assign(value=params["value"].map(str)), cls="params"),
        )
    )

    stress = pd.DataFrame(stress_items(inp), columns=["section", "item", "this study"])
    sections.append(
        (
            "stress",
            "Reporting items (STRESS-DES)",
            "<p>Items of the STRESS-DES guideline for reporting discrete-event simulation studies (Monk et al. 2019, Journal of Simulation 13(1):55-67).</p>"
            + _table(stress),
        )
    )

    if progress:
        progress()
    nav = "<nav><ol>" + "".join(f'<li><a href="#{sid}">{_e(title)}</a></li>' for sid, title, _ in sections) + "</ol></nav>"
    body = "".join(f'<section id="{sid}"><h2>{_e(title)}</h2>{content}</section>' for sid, title, content in sections)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>bmc-sim report: {_e(s.get('scenario'))}</title><style>{CSS}</style></head><body>"
        f"<h1>Bone marrow carcinosis course simulation: {_e(s.get('scenario'))}</h1>"
        f'<p class="small">Report on results folder {_e(inp.folder.path.name)}, written {stamp} by bmc-sim {_e(s.get("model_version"))}.</p>'
        f'<p class="notice">{_e(ILLUSTRATIVE)} This report is for planning and teaching, not for decisions about individual patients.</p>'
        f"{nav}{body}"
        f'<p class="notice">{_e(ILLUSTRATIVE)}</p></body></html>\n'
    )


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
        if _isnan(r["estimate"]):
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
    "read_inputs",
    "write_report",
    "build_html",
    "build_workbook",
    "parameter_rows",
    "services_tables",
    "stress_items",
]
