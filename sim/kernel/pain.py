"""Step 4 of the conceptual model (docs/model.md): bone pain episodes, recurrent."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.errors import RunawayCourse
from sim.kernel.codes import E_ANALGESIA, E_PAIN, INF, P_PAIN

if TYPE_CHECKING:
    from sim.kernel.course import Patient


def time_pain(p: Patient) -> None:
    """Step 4: the next pain episode after an Exp(rate) wait -ln(u) / rate."""
    rate = p.m.pain.rate_per_month
    u = p.u(P_PAIN)
    p.clocks.pain = p.now + (-math.log(u) / rate if rate > 0 else INF)


def on_pain(p: Patient) -> None:
    """Step 4: a bone pain episode: radiotherapy, a radionuclide or analgesia by their probabilities."""
    pain = p.m.pain
    p.n_pain += 1
    p.log(E_PAIN, "bone pain")
    u = p.u(P_PAIN)
    if u < pain.radiotherapy_probability:
        p.care.refer_radiotherapy(p, "pain", emergency=False)
    elif u < pain.radiotherapy_probability + (1 - pain.radiotherapy_probability) * pain.radionuclide_probability:
        if not p.care.radionuclide(p):
            p.log(E_ANALGESIA, "not eligible for radionuclides")
    else:
        p.log(E_ANALGESIA, "analgesia and physiotherapy")
    if p.n_pain >= pain.max_episodes:
        raise RunawayCourse(f"pain: patient {p.pid} reached pain.max_episodes={pain.max_episodes}; lower pain.rate_per_month")
    time_pain(p)
