"""Death from other causes (docs/model.md, step 2's competing clock): a
Gompertz hazard by age."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.kernel.codes import A_ONSET_BY_OTHER, INF, LN2, P_OTHER

if TYPE_CHECKING:
    from sim.kernel.course import Patient


def start_other_mortality(p: Patient) -> None:
    """Other causes: Gompertz death time log1p(e b / a0) / b (rate doubling every doubling_years from its value at 70)."""
    om = p.m.other_mortality
    e = -math.log(p.u(P_OTHER))
    if not om.enabled or om.annual_rate_at_70 <= 0:
        return
    b = LN2 / om.doubling_years
    a0 = om.annual_rate_at_70 * 2.0 ** ((p.age - 70.0) / om.doubling_years)
    t_other = p.clocks.other = math.log1p(e * b / a0) / b * 12.0
    # a patient due to develop carcinosis or hypercalcemia does so within
    # the course even when it ends by another cause: at the same fraction
    # of the way to that death
    if p.progression_clock.carcinosis_at < INF:
        p.schedule(p.carcinosis_fraction * t_other, A_ONSET_BY_OTHER, 0)
    if p.progression_clock.hypercalcemia_at < INF:
        p.schedule(p.hypercalcemia_fraction * t_other, A_ONSET_BY_OTHER, 1)
