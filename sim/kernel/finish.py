"""Step 7 of the conceptual model (docs/model.md): death with a cause, or
censoring at the horizon, and the patient's row of outcomes (the columns of
:data:`sim.kernel.vocabulary.PATIENT_COLUMNS`, including the lab outcomes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from sim.kernel.constants import DAYS_PER_MONTH
from sim.kernel.events import EV
from sim.kernel.labs import calcium, time_below

if TYPE_CHECKING:
    from sim.kernel.course import Patient

E_CENSORED: Final = EV["censored"]
E_DEATH: Final = EV["death"]


def lab_outcomes(p: Patient) -> tuple[float, ...]:
    """Step 7 (labs): worst values, days below the grade 3 boundaries (time_below), weekly values of kept patients."""
    m, lab = p.m, p.m.labs
    end = p.now
    for lin in range(3):
        v = p.blood.trajectories[lin].value(end)
        if v < p.blood.worst_val[lin]:
            p.blood.worst_val[lin] = v
    changed = any(len(t.seg_t) > 1 or t.dip for t in p.blood.trajectories)
    below = [0.0, 0.0, 0.0]
    if changed:
        t0 = (
            min(p.carcinosis.onset, *(d[0] for t in p.blood.trajectories for d in t.dip))
            if any(t.dip for t in p.blood.trajectories)
            else p.carcinosis.onset
        )
        t0 = min(t0, end)
        day = 1.0 / DAYS_PER_MONTH
        for lin in range(3):
            below[lin] = time_below(p.blood.trajectories[lin], m.thresholds[lin][2], t0, end, day) * DAYS_PER_MONTH
    ca_max = max([p.blood.calcium_baseline] + [p for _, p in p.blood.calcium_peaks])
    keep = lab.keep_patients
    if keep < 0 or p.pid < keep:
        week = 7.0 / DAYS_PER_MONTH
        n = int(end / week) + 1
        rows = p.rec.labs
        rise, hl = lab.calcium_rise_days / DAYS_PER_MONTH, lab.calcium_half_life_days / DAYS_PER_MONTH
        for k in range(n + 1):
            t = min(k * week, end)
            tc = p.entry + t
            for a, traj in enumerate(p.blood.trajectories):
                rows.append((p.pid, tc, a, traj.value(t)))
            rows.append(
                (
                    p.pid,
                    tc,
                    3,
                    calcium(p.blood.calcium_baseline, p.blood.calcium_peaks, t, lab.calcium_threshold_mmol_l, rise, hl),
                )
            )
    return (
        p.blood.trajectories[0].seg_v[0],
        p.blood.worst_val[0],
        p.blood.worst_val[1],
        p.blood.worst_val[2],
        ca_max,
        below[0],
        below[1],
        below[2],
    )


def finish(p: Patient, horizon: float) -> None:
    """Step 7: death with its cause, or censoring at the horizon; the patient's row in PATIENT_COLUMNS order."""
    if p.alive:
        p.now = horizon
        p.log(E_CENSORED, "alive at horizon")
        death, cause, follow = None, None, horizon
    else:
        p.log(E_DEATH, f"{p.death_cause}" + (f": {p.death_detail}" if p.death_detail else ""))
        death, cause, follow = p.now, p.death_cause, p.now
    got = p.received
    p.rec.rows.append(
        (  # in the order of sim.kernel.vocabulary.PATIENT_COLUMNS
            p.pid,
            p.primary,
            p.age,
            p.agent,
            p.visceral,
            p.entry,
            death,
            cause,
            follow,
            p.carcinosis.onset,
            p.detection.diagnosed_at,
            p.first_hyper,
            p.first_sre,
            p.first_scc,
            p.n_sre,
            p.n_pain,
            p.n_hyper,
            p.blood.worst[0],
            p.blood.worst[1],
            p.blood.worst[2],
            p.carcinosis.dic,
            p.carcinosis.leuko_eb,
            p.paralysis,
            p.carcinosis.chemo,
            p.remission,
            bool(p.carcinosis.at_onset & 1),
            bool(p.carcinosis.at_onset & 2),
            bool(p.carcinosis.at_onset & 4),
            got.radiotherapy_courses,
            got.radiotherapy_fractions,
            got.radionuclide,
            got.chemo_cycles,
            got.rbc_units,
            got.platelet_units,
            got.surgery,
            got.admissions,
            got.bed_days,
            got.scintigraphy,
            got.biopsy,
            got.wait_days,
            *lab_outcomes(p),
        )
    )
    p.done = True
    # drop references so a finished patient costs nothing
    p.numbers.release()
    p.agenda = None  # type: ignore[assignment]
