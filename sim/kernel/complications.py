"""Step 6 of the conceptual model (docs/model.md), complications of carcinosis:
infections and bleeding at rates by the neutrophil and platelet grades."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.errors import RunawayCourse
from sim.kernel.codes import E_BLEEDING, E_INFECTION, INF, LEUKO, P_COMPL, THROMBO

if TYPE_CHECKING:
    from sim.kernel.course import Patient


def time_complications(p: Patient, eff: list[int]) -> None:
    """Step 6 (complications): next infection and bleeding after Exp waits -ln(u) / rate(grade)."""
    m = p.m
    ri = m.infection_rate[eff[LEUKO]]
    rb = m.bleeding_rate[eff[THROMBO]]
    p.clocks.infect = p.now + -math.log(p.u(P_COMPL)) / ri if ri > 0 else INF
    p.clocks.bleed = p.now + -math.log(p.u(P_COMPL)) / rb if rb > 0 else INF


def on_complication(p: Patient, bleed: bool) -> None:
    """Step 6 (complications): an infection or bleeding, severe with its probability (admission, platelets)."""
    comp = p.m.complications
    p.carcinosis.n_complications += 1
    if p.carcinosis.n_complications >= comp.max_episodes:
        raise RunawayCourse(
            f"complications: patient {p.pid} reached complications.max_episodes={comp.max_episodes}; "
            "lower complications.infection_rate_per_month or complications.bleeding_rate_per_month"
        )
    if bleed:
        severe = p.u(P_COMPL) < comp.severe_bleeding_probability
        p.log(E_BLEEDING, "severe" if severe else "minor")
        if severe:
            p.care.admit(p, "bleeding", comp.bleeding_admission_days)
            p.care.transfuse_platelets(p, "bleeding")
    else:
        severe = p.u(P_COMPL) < comp.severe_infection_probability
        p.log(E_INFECTION, "severe" if severe else "minor")
        if severe:
            p.care.admit(p, "severe infection", comp.infection_admission_days)
    time_complications(p, p.blood.grade)
