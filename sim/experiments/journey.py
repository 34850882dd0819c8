"""One patient's story: the course of a single patient as a dated, readable
timeline, and the same patient under two scenarios side by side.

The patient is simulated alone (:func:`sim.engine.simulate.run_chunk` with one id),
drawing from exactly the random streams it has in a full run of the same
scenario, seed and replication: the story is that patient's course in the
cohort results.  Under another scenario the same id meets the same luck, so
the two stories are identical up to the first point where the scenarios'
differences matter.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute

from sim.engine.simulate import patients_frame, run_chunk
from sim.kernel.constants import DAYS_PER_MONTH
from sim.kernel.events import EVENT_LABELS, Recorder
from sim.scenario.fields import ILLUSTRATIVE
from sim.scenario.model import Scenario, patients_interact

AGENT_NAMES = {"none": "no bone-targeted agent", "zoledronic_acid": "zoledronic acid", "denosumab": "denosumab"}
TRIGGERS = {
    "pain",
    "sre",
    "cord_compression",
    "hypercalcemia",
    "infection",
    "bleeding",
    "febrile_neutropenia",
    "carcinosis_diagnosis",
    "paralysis",
}
TRANSFUSIONS = {"transfusion_rbc", "transfusion_platelets"}
# skeletal events that may be referred for radiotherapy, and the reason radiotherapy then records
REFERRAL = {"radiation to bone": "SRE", "pathological fracture": "fracture"}


@dataclass
class Course:
    """One patient's simulated course."""

    scenario: Scenario
    patient_id: int
    row: dict[str, Any]
    events: pd.DataFrame  # time_months, event, detail in the order they happened
    labs: pd.DataFrame | None = None  # time_months (from entry), analyte, value: week by week


@dataclass
class Line:
    time: float
    text: str
    end: float | None = None  # a collapsed run of lines ends here
    events: list[tuple[float, str, str]] = field(default_factory=list)


def simulate_patient(scenario: Scenario, patient_id: int) -> Course:
    """Simulate one patient exactly as in a full run (same random streams).

    Without interaction between patients the patient runs alone; with finite
    capacities or in population mode the whole run is simulated and the
    patient's course taken from it."""
    if patient_id < 0:
        raise ValueError("patient id must be 0 or more")
    from sim.scenario.loader import with_overrides

    scenario = with_overrides(scenario, {"labs.keep_patients": -1}) if scenario.labs.keep_patients != -1 else scenario
    labs_tab = None
    if patients_interact(scenario):
        from sim.engine.simulate import simulate

        res = simulate(scenario, keep_events=True)
        df = res.patients
        hit = df[df["patient_id"] == patient_id]
        if hit.empty:
            raise ValueError(f"patient {patient_id} is not in this run; its ids are {_id_ranges(df['patient_id'].to_numpy())}")
        row = hit.iloc[0].to_dict()
        assert res.events is not None
        tab = res.events.filter(pa.compute.equal(res.events["patient_id"], patient_id)).to_pandas()
        if res.labs is not None:
            labs_tab = res.labs.filter(pa.compute.equal(res.labs["patient_id"], patient_id)).to_pandas()
    else:
        rec = Recorder()
        run_chunk(scenario, np.array([patient_id], dtype=np.int64), rec)
        tab = rec.table().to_pandas()
        row = patients_frame(rec.rows).iloc[0].to_dict()
        labs_tab = rec.labs_table().to_pandas() if rec.labs else None
    entry = float(row.get("entry_months") or 0.0)
    ev = pd.DataFrame(
        {
            # months from the patient's entry (event tables hold calendar months)
            "time_months": tab["time_months"].to_numpy(dtype=float) - entry,
            "event": tab["event"].astype(str).to_numpy(),
            "detail": tab["detail"].astype(str).to_numpy(),
        }
    )
    # stable sort by time keeps the recorded order of simultaneous events
    # (times compared to 1e-9 months: calendar minus entry is not exact)
    ev["_key"] = np.round(ev["time_months"].to_numpy(), 9)
    ev = ev.sort_values("_key", kind="stable").drop(columns="_key").reset_index(drop=True)
    labs = None
    if labs_tab is not None and len(labs_tab):
        labs = pd.DataFrame(
            {
                "time_months": labs_tab["time_months"].to_numpy(dtype=float) - entry,
                "analyte": labs_tab["analyte"].astype(str),
                "value": labs_tab["value"].to_numpy(),
            }
        )
    return Course(scenario, int(patient_id), row, ev, labs)


def _id_ranges(ids: np.ndarray) -> str:
    ids = np.sort(ids)
    if len(ids) == 0:
        return "none"
    breaks = np.flatnonzero(np.diff(ids) != 1)
    starts = np.concatenate([[ids[0]], ids[breaks + 1]])
    ends = np.concatenate([ids[breaks], [ids[-1]]])
    parts = [f"{a}" if a == b else f"{a} to {b}" for a, b in zip(starts, ends, strict=False)]
    return ", ".join(parts[:4]) + (" ..." if len(parts) > 4 else "")


def _units(detail: str) -> str:
    return detail.replace("1 units", "1 unit")


def _cause(text: str) -> str:
    return text.replace("_", " ")


# events told by their label alone (their detail adds nothing to the story)
_LABEL_ONLY = frozenset({"pain", "cord_compression", "relapse", "leukoerythroblastic", "febrile_neutropenia", "censored"})


def phrase(event: str, detail: str, row: dict[str, Any]) -> str:
    """One event in words."""
    d = detail
    if event in _LABEL_ONLY:
        return EVENT_LABELS[event]
    if event == "entry":
        age = row.get("age_years")
        agent = AGENT_NAMES.get(str(row.get("bone_targeted_agent")), str(row.get("bone_targeted_agent")))
        visc = ", visceral metastases" if row.get("visceral_disease") else ""
        return f"bone metastases diagnosed ({d} primary, age {age:.0f}{visc}; {agent})"
    if event == "radiotherapy":
        what, _, why = d.partition(": ")
        return f"radiotherapy, {what}" + (f" (for {why})" if why else "")
    if event == "radionuclide":
        return f"radionuclide therapy: {d}"
    if event == "analgesia":
        return "analgesia and physiotherapy" if d.startswith("analgesia") else f"analgesia ({d})"
    if event == "sre":
        return f"skeletal event: {d}"
    if event == "surgery":
        return f"surgery: {d}"
    if event == "admission":
        return f"admitted: {d}"
    if event == "carcinosis_onset":
        return "bone marrow carcinosis begins, not yet known (diffuse marrow infiltration)"
    if event == "cytopenia":
        return d
    if event == "dic":
        return "disseminated intravascular coagulation (DIC)"
    if event == "suspicion":
        return "blood count raises suspicion of marrow involvement"
    if event == "scintigraphy":
        return f"bone scintigraphy: {d}"
    if event == "biopsy":
        return f"bone marrow biopsy ({d})"
    if event == "carcinosis_diagnosis":
        return f"carcinosis diagnosed: {d}"
    if event == "chemotherapy_cycle":
        return f"chemotherapy {d}"
    if event == "transfusion_rbc":
        return f"red cell transfusion ({_units(d)})"
    if event == "transfusion_platelets":
        return f"platelet transfusion ({_units(d)})"
    if event == "infection":
        return f"{d} infection" if d else "infection"
    if event == "bleeding":
        return f"{d} bleeding" if d else "bleeding"
    if event == "terminal_myelosuppression":
        return f"marrow failure begins ({d})"
    if event == "death":
        cause, _, why = d.partition(": ")
        return f"death from {_cause(cause)}" + (f" ({why})" if why else "")
    return EVENT_LABELS[event] + (f" ({d})" if d else "")  # the event's label, with its detail


def _join(parts: list[tuple[str, str]]) -> str:
    """Simultaneous events: cytopenias listed together, a trigger leads with an arrow."""
    out: list[str] = []
    for ev, text in parts:
        if out and ev == "cytopenia" and out[-1].startswith("\x00cyt"):
            out[-1] += ", " + text
        elif ev == "cytopenia":
            out.append("\x00cyt" + text)
        else:
            out.append(text)
    out = [o.replace("\x00cyt", "", 1) for o in out]
    return " → ".join(out)


def narrate(course: Course, collapse: bool = True) -> list[Line]:
    """The course as dated lines; pain responses are told with the treatment
    that brought them; runs of transfusion-only lines are collapsed."""
    ev = course.events
    lines: list[Line] = []
    last_pain_treatment: Line | None = None
    waiting: dict[str, list[Line]] = {}  # episodes referred for radiotherapy, by the reason the course gives
    last_treat_time = 0.0
    i = 0
    n = len(ev)
    times = ev["time_months"].to_numpy()
    names = ev["event"].tolist()
    details = ev["detail"].tolist()
    while i < n:
        t = times[i]
        j = i
        parts: list[tuple[str, str]] = []
        raw: list[tuple[float, str, str]] = []
        responses: list[tuple[float, str, str]] = []
        while j < n and abs(times[j] - t) <= 1e-9:
            e, d = names[j], details[j]
            if e == "pain_response":
                responses.append((float(t), e, d))
            else:
                raw.append((float(t), e, d))
                parts.append((e, phrase(e, d, course.row)))
            j += 1
        line = Line(float(t), _join(parts), events=raw) if parts else None
        reason = raw[0][2].partition(": ")[2] if len(raw) == 1 and raw[0][1] == "radiotherapy" else None
        if line is not None and waiting.get(reason or ""):
            # radiotherapy for an earlier episode (pain, SRE, fracture, cord compression): told on its line
            first = waiting[reason or ""].pop(0)
            days = round((t - first.time) * DAYS_PER_MONTH)
            what = raw[0][2].partition(": ")[0]
            when_rt = "the same day" if days == 0 else f"{days} day{'s' if days != 1 else ''} later"
            first.text += f" → radiotherapy {when_rt}, {what}"
            first.events.extend(raw)
            last_pain_treatment, last_treat_time = first, float(t)
        elif line is not None:
            lines.append(line)
            if any(e in ("radiotherapy", "radionuclide") for e, _ in parts):
                last_pain_treatment = line
                last_treat_time = float(t)
            operated = any(e == "surgery" for _, e, _ in raw)
            for e, d in ((e, d) for _, e, d in raw):
                if e == "pain" and parts[-1][0] == "pain":
                    waiting.setdefault("pain", []).append(line)
                elif e == "sre" and d in REFERRAL and not (operated and d == "pathological fracture"):
                    waiting.setdefault(REFERRAL[d], []).append(line)
                elif e == "cord_compression":
                    waiting.setdefault("cord compression", []).append(line)
        for r in responses:
            how = {"complete": "pain relieved (complete response)", "partial": "pain eased (partial response)"}.get(
                r[2], "pain relieved"
            )
            if last_pain_treatment is not None:
                weeks = max(1, math.ceil((t - last_treat_time) * DAYS_PER_MONTH / 7.0 - 1e-9))
                last_pain_treatment.text += f"; {how} by week {weeks}"
                last_pain_treatment.events.append(r)
            else:
                lines.append(Line(float(t), how, events=[r]))
        i = j
    return _collapse_transfusions(lines) if collapse else lines


def _collapse_transfusions(lines: list[Line]) -> list[Line]:
    out: list[Line] = []
    k = 0
    while k < len(lines):
        m = k
        while m < len(lines) and lines[m].events and all(e in TRANSFUSIONS for _, e, _ in lines[m].events):
            m += 1
        if m - k >= 3:
            run = lines[k:m]
            evs = [x for ln in run for x in ln.events]
            rbc = sum(_n_units(d) for _, e, d in evs if e == "transfusion_rbc")
            plt = sum(_n_units(d) for _, e, d in evs if e == "transfusion_platelets")
            bits = []
            if rbc:
                bits.append(f"{rbc} red cell unit{'s' if rbc != 1 else ''}")
            if plt:
                bits.append(f"{plt} platelet unit{'s' if plt != 1 else ''}")
            out.append(
                Line(
                    run[0].time,
                    f"regular transfusions: {' and '.join(bits)} in {len(evs)} episodes",
                    end=run[-1].time,
                    events=evs,
                )
            )
            k = m
        else:
            out.append(lines[k])
            k += 1
    return out


def _n_units(detail: str) -> int:
    try:
        return int(detail.split()[0])
    except (ValueError, IndexError):
        return 1


def when(line: Line) -> str:
    if line.end is not None and line.end > line.time:
        return f"month {line.time:.1f}–{line.end:.1f}"
    return f"month {line.time:.1f}"


def header(course: Course) -> str:
    s = course.scenario
    text = f"Patient {course.patient_id}, scenario {s.name!r} (seed {s.run.seed}, replication {s.run.replication}, horizon {s.run.horizon_months:g} months)"
    entry = float(course.row.get("entry_months") or 0.0)
    if entry > 0:
        text += f"\nEntered at calendar month {entry:.1f}; months below count from entry."
    return text


def blood_line(course: Course) -> str:
    """The lowest counts and highest calcium of the course."""
    r = course.row
    if r.get("hb_min_g_dl") is None:
        return ""
    return (
        f"Lowest haemoglobin {r['hb_min_g_dl']:.1f} g/dL (at entry {r['hb_baseline_g_dl']:.1f}), platelets {r['platelets_min_e9_l']:.0f} x10^9/L, "
        f"neutrophils {r['anc_min_e9_l']:.1f} x10^9/L; highest corrected calcium {r['calcium_max_mmol_l']:.2f} mmol/L."
    )


def ending(course: Course) -> str:
    r = course.row
    if r.get("censored"):
        return f"Alive at the end of follow-up (month {r['followup_months']:.1f})."
    return f"Died at month {r['death_months']:.1f} ({r['death_months'] / 12:.1f} years after entry) of {_cause(str(r['death_cause']))}."


def render(course: Course, collapse: bool = True) -> str:
    """The readable timeline of one patient."""
    out = [header(course), ILLUSTRATIVE, ""]
    for ln in narrate(course, collapse):
        out.append(f"{when(ln)}: {ln.text}")
    out += ["", ending(course)]
    blood = blood_line(course)
    if blood:
        out.append(blood)
    return "\n".join(out)


def first_difference(a: Course, b: Course) -> int:
    """Index of the first event where two courses differ (len if identical)."""
    ea = list(zip(a.events["time_months"], a.events["event"], a.events["detail"], strict=False))
    eb = list(zip(b.events["time_months"], b.events["event"], b.events["detail"], strict=False))
    k = 0
    while k < min(len(ea), len(eb)) and ea[k] == eb[k]:
        k += 1
    return k


def render_compare(a: Course, b: Course, width: int = 120, collapse: bool = True) -> str:
    """The same patient under two scenarios: the shared story, then side by side."""
    la, lb = narrate(a, collapse), narrate(b, collapse)
    k = 0
    while k < min(len(la), len(lb)) and (la[k].time, la[k].text, la[k].end) == (lb[k].time, lb[k].text, lb[k].end):
        k += 1
    na, nb = a.scenario.name, b.scenario.name
    if na == nb:
        na, nb = f"{na} (A)", f"{nb} (B)"
    out = [
        f"Patient {a.patient_id}: {na!r} beside {nb!r} (seed {a.scenario.run.seed}, replication {a.scenario.run.replication}; same patient, same random numbers)",
        ILLUSTRATIVE,
        "",
    ]
    if k:
        out.append("Same in both scenarios:")
        out += [f"  {when(ln)}: {ln.text}" for ln in la[:k]]
        out.append("")
    if k == len(la) == len(lb):
        out.append("The two scenarios give this patient the same course.")
        out += ["", ending(a)]
        return "\n".join(out)
    start = min([ln.time for ln in la[k : k + 1]] + [ln.time for ln in lb[k : k + 1]])
    out.append(f"The scenarios part here (month {start:.1f}); '=' marks lines that are the same in both:")
    col = max(30, (width - 3) // 2)
    out.append(f"{na:<{col}} | {nb}")
    out.append(f"{'-' * col}-+-{'-' * col}")
    ra, rb = la[k:], lb[k:]
    i = j = 0
    while i < len(ra) or j < len(rb):
        ta = ra[i].time if i < len(ra) else math.inf
        tb = rb[j].time if j < len(rb) else math.inf
        left = right = ""
        if ta <= tb:
            left = f"{when(ra[i])}: {ra[i].text}"
            i += 1
        if tb <= ta:
            right = f"{when(rb[j])}: {rb[j].text}"
            j += 1
        lw = textwrap.wrap(left, col) or [""]
        rw = textwrap.wrap(right, col) or [""]
        for x in range(max(len(lw), len(rw))):
            lt = lw[x] if x < len(lw) else ""
            rt = rw[x] if x < len(rw) else ""
            sep = "=" if left == right else "|"
            out.append(f"{lt:<{col}} {sep} {rt}".rstrip())
    out += ["", f"{na}: {ending(a)}", f"{nb}: {ending(b)}"]
    return "\n".join(out)
