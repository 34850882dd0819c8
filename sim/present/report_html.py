"""The HTML report: one self-contained file that opens offline and prints cleanly.

:func:`build_html` writes the question and scenario, the model in brief, the
results with confidence intervals, the figures (embedded as base64 PNG),
the calibration targets beside the model's values, services (when the
results have them), replications (when run), the parameters with their
sources and the STRESS-DES reporting items; its styles are inline and it
refers to no external script, font, image or link.  The tables come from
:mod:`sim.present.report_tables`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.survival import STATES, Analysis
from sim.present.report_inputs import ReportInputs
from sim.present.report_tables import (
    ASSUMPTIONS,
    calibration_table,
    fmt,
    get,
    headline_table,
    isnan,
    occupancy_table,
    parameter_rows,
    replications_table,
    services_tables,
    stress_items,
)
from sim.scenario.fields import ILLUSTRATIVE

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
                txt, num = ("" if isnan(float(v)) else fmt(v)), True
            else:
                txt, num = ("" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)), False
            cells.append(f'<td class="n">{_e(txt)}</td>' if num else f"<td>{_e(txt)}</td>")
        rc = row_class(r) if row_class else ""
        body.append(f"<tr{f' class={chr(34)}{rc}{chr(34)}' if rc else ''}>{''.join(cells)}</tr>")
    if not cls and len(df.columns) > 8:
        cls = "wide"
    return f'<div class="tw"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _ci_text(est: Any, lo: Any, hi: Any, kind: str) -> tuple[str, str]:
    e = fmt(est, kind)
    ci = f"{fmt(lo, kind)} to {fmt(hi, kind)}" if not isnan(lo) and not isnan(hi) else ""
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
            if isnan(r["median_months"]):
                # survival stayed above one half within the follow-up (or there is nobody to follow)
                row["median (months)"] = note if int(r.get("patients", 1) or 0) == 0 else "not reached"
            else:
                row["median (months)"] = fmt(r["median_months"]) + (
                    f" ({fmt(r['median_lower'])} to {fmt(r['median_upper'])})"
                    if r["median_lower"] is not None and not isnan(r["median_lower"])
                    else ""
                )
        for t in times:
            if isnan(r[f"at_{t:g}_months"]):
                row[f"at {t:g} months (95% CI)"] = note  # beyond the follow-up: no number
                continue
            e, ci = _ci_text(r[f"at_{t:g}_months"], r[f"at_{t:g}_lower"], r[f"at_{t:g}_upper"], "pct")
            row[f"at {t:g} months (95% CI)"] = f"{e} ({ci})"
        rows.append(row)
    return pd.DataFrame(rows)


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
                    ("patients per replication", fmt(s.get("patients"), "int")),
                    ("replications", n_reps),
                    ("root seed", s.get("seed")),
                    *(
                        (
                            ("mode", "population: Poisson arrivals"),
                            ("warm-up", f"{s.get('warmup_years')} years (patients entering then are not reported)"),
                            ("reported patients", fmt(s.get("reported_patients"), "int")),
                            (
                                "reported period",
                                f"months {fmt(s.get('reported_from_months'))} to {fmt(s.get('reported_to_months'))}",
                            ),
                        )
                        if inp.population_mode
                        else (("mode", "cohort: every patient enters at time 0"),)
                    ),
                    ("follow-up (horizon)", f"{s.get('horizon_months')} months"),
                    ("events recorded (first replication)", fmt(s.get("events"), "int")),
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
        if isnan(r["estimate"]):
            hl_rows.append({"outcome": r["outcome"], "estimate": r["reason"] or "not estimable", "95% CI": "", "CI method": ""})
            continue
        e, ci = _ci_text(r["estimate"], r["ci_low"], r["ci_high"], r["kind"])
        hl_rows.append({"outcome": r["outcome"], "estimate": e, "95% CI": ci, "CI method": r["ci_method"]})
    res = []
    basis = (
        f"mean of {n_reps} replications with Student-t 95% CIs"
        if n_reps > 1
        else (
            f"{fmt(s.get('reported_patients'), 'int')} reported patients"
            if inp.population_mode
            else f"one cohort of {s.get('patients')} patients"
        )
    )
    if int(s.get("reported_patients", a.patients) or 0) == 0:
        where = (
            f" (nobody entered between months {fmt(s.get('reported_from_months'))} and {fmt(s.get('reported_to_months'))})"
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
    res.append(_table(occupancy_table(a), {c: (lambda v: fmt(v, "pct")) for c in STATES}))
    res.append("<h3>SRE-free survival</h3>")
    res.append(_table(_curve_table(a.tables["sre_free"], "group", (12.0, 24.0, 60.0))))
    res.append("<h3>Days in hospital per patient</h3>")
    hosp = a.hospital.copy()
    hosp["share_admitted"] = hosp["share_admitted"].map(lambda v: fmt(v, "pct"))
    res.append(_table(hosp))
    deaths = get(s, "outcomes.deaths.by_cause") or {}
    if deaths:
        dd = pd.DataFrame(
            [
                {"cause": k.replace("_", " "), "deaths": v.get("count"), "share of deaths": fmt(v.get("share_of_deaths"), "pct")}
                for k, v in deaths.items()
            ]
        )
        res.append("<h3>Deaths by cause</h3>" + _table(dd, {"deaths": lambda v: fmt(v, "int") if n_reps == 1 else fmt(v)}))
    care = get(s, "outcomes.care") or {}
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
                "range": [f"{fmt(lo)} to {fmt(hi)}" for lo, hi in zip(cal.get("range_low"), cal.get("range_high"), strict=False)],
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
                [f"{fmt(c[0])} to {fmt(c[1])}" if isinstance(c, list) and c[0] is not None else "" for c in cal["model_ci95"]],
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
        sig = {c: (lambda v: "" if isnan(v) else f"{float(v):.4g}") for c in ("mean", "ci_low", "ci_high", "half_width")}
        rp += _table(rt, {"relative_half_width": lambda v: fmt(v, "pct"), **sig})
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
