"""Step 3 of the conceptual model (docs/model.md): skeletal-related events,
recurrent, and spinal cord compression."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.errors import RunawayCourse
from sim.kernel.codes import E_CORD_COMPRESSION, E_PARALYSIS, E_SRE, INF, P_SRE
from sim.kernel.draws import pick

if TYPE_CHECKING:
    from sim.kernel.course import Patient


def sre_rate(p: Patient) -> float:
    """Step 3: the SRE rate, first or later, times the agent hazard ratio."""
    m = p.m
    base = m.sre_first[p.primary] if p.n_sre == 0 else m.sre.later_rate_per_month
    return base * m.agent_hr[p.agent]


def time_sre(p: Patient) -> None:
    """Step 3: the next SRE after an Exp(rate) wait -ln(u) / rate."""
    rate = sre_rate(p)
    u = p.u(P_SRE)
    p.clocks.sre = p.now + (-math.log(u) / rate if rate > 0 else INF)


def on_sre(p: Patient) -> None:
    """Step 3: an SRE of a type picked by its shares, and its care."""
    m = p.m
    sre = m.sre
    p.n_sre += 1
    kind = pick(p.m.sre_type_cum, p.u(P_SRE))
    name = ("radiation to bone", "pathological fracture", "spinal cord compression", "surgery to bone")[kind]
    p.log(E_SRE, name)
    if p.n_sre == 1:
        p.first_sre = p.now
        p.multiply_progression(m.hazard_ratio_after_sre)
    care = p.care
    if kind == 0:
        care.refer_radiotherapy(p, "SRE", emergency=False)
    elif kind == 1:
        if p.u(P_SRE) < sre.fracture_surgery_probability:
            care.surgery(p, "fracture fixation")
        else:
            care.refer_radiotherapy(p, "fracture", emergency=False)
    elif kind == 2:
        cord_compression(p)
    else:
        care.surgery(p, "surgery to bone")
    if p.n_sre >= sre.max_events:
        raise RunawayCourse(f"sre: patient {p.pid} reached sre.max_events={sre.max_events}; lower the SRE rates")
    time_sre(p)


def cord_compression(p: Patient) -> None:
    """Step 3: spinal cord compression: paralysis with its probability, radiotherapy, surgery or admission."""
    m = p.m
    if p.first_scc == INF:
        p.first_scc = p.now
        p.multiply_progression(m.hazard_ratio_after_cord_compression)
    p.log(E_CORD_COMPRESSION)
    if not p.paralysis and p.u(P_SRE) < m.sre.paralysis_probability:
        p.paralysis = True
        p.log(E_PARALYSIS, "permanent")
    p.care.refer_radiotherapy(p, "cord compression", emergency=True)
    if p.u(P_SRE) < m.sre.cord_compression_surgery_probability:
        p.care.surgery(p, "decompression")
    else:
        p.care.admit(p, "cord compression", m.surgery.cord_compression_admission_days)
