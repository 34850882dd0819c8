"""Step 5 of the conceptual model (docs/model.md): hypercalcemia episodes."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.errors import RunawayCourse
from sim.kernel.codes import A_HYPER_CRISIS, A_HYPER_RECUR, E_HYPERCALCEMIA, P_HYPER
from sim.kernel.constants import DAYS_PER_MONTH
from sim.kernel.draws import exp_median

if TYPE_CHECKING:
    from sim.kernel.course import Patient


def on_hypercalcemia(p: Patient) -> None:
    """Step 5: a hypercalcemia episode: peak calcium threshold + Exp(mean excess), admission, fatal crisis or recurrence."""
    h = p.m.hypercalcemia
    p.n_hyper += 1
    # corrected calcium has risen through the threshold now; it peaks a day later
    lab = p.m.labs
    peak = lab.calcium_threshold_mmol_l - lab.calcium_peak_excess_mean_mmol_l * math.log(p.u(P_HYPER))
    p.blood.calcium_peaks.append((p.now, peak))
    p.log(E_HYPERCALCEMIA, f"episode {p.n_hyper}: corrected calcium {peak:.2f} mmol/L")
    p.care.admit(p, "hypercalcemia: hydration and bisphosphonate", h.admission_days)
    if p.n_hyper == 1:
        p.first_hyper = p.now
        if p.progression_clock.running:
            p.multiply_progression(p.m.hr_hyper[p.primary])
    if p.u(P_HYPER) < h.fatal_probability:
        p.schedule(p.now + p.u(P_HYPER) * h.admission_days / DAYS_PER_MONTH, A_HYPER_CRISIS)
        return
    if p.u(P_HYPER) < h.recurrence_probability:
        if p.n_hyper >= h.max_episodes:
            raise RunawayCourse(
                f"hypercalcemia: patient {p.pid} reached hypercalcemia.max_episodes={h.max_episodes}; "
                "lower hypercalcemia.recurrence_probability or raise hypercalcemia.recurrence_median_months"
            )
        p.schedule(p.now + exp_median(p.u(P_HYPER), h.recurrence_median_months), A_HYPER_RECUR)
