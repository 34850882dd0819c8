"""Step 6 of the conceptual model (docs/model.md): onset (or relapse) of bone
marrow carcinosis, the counts at onset, DIC and the death clocks."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.kernel.codes import A_HYPER_RECUR, E_CARCINOSIS_ONSET, E_DIC, E_LEUKOERYTHROBLASTIC, E_RELAPSE, INF, LN2, P_CARC, P_COMPL
from sim.kernel.cytopenias import counts_changed, next_visit
from sim.kernel.draws import pick
from sim.kernel.state import CauseOfDeathClocks

if TYPE_CHECKING:
    from sim.kernel.course import Patient


def carcinosis_onset(p: Patient, relapse: bool) -> None:
    """Step 6 (onset): counts fall from onset (log-rate / step x rate_mult); initial grades, DIC, death clocks."""
    m = p.m
    c = m.carcinosis
    p.has_carcinosis = True
    p.remission = False
    if p.carcinosis.onset == INF:
        p.carcinosis.onset = p.now
    p.log(E_RELAPSE if relapse else E_CARCINOSIS_ONSET, "diffuse marrow infiltration")
    # the progression clock stops: the course is now the carcinosis course
    p.progression_clock.advance(p.now)
    p.progression_clock.running = False
    p.clocks.prog = INF
    hyper_pending = p.progression_clock.hypercalcemia_at < INF
    at_onset = c.at_onset
    step = c.worsening_median_fraction * LN2 / m.carc_rate_bsc[p.primary]  # months per grade step
    hr = m.chemotherapy.death_hazard_ratio if p.carcinosis.on_chemo else 1.0
    for lin, prob in enumerate(at_onset):
        present = p.u(P_CARC) < prob
        g = pick(m.grade_cum, p.u(P_CARC)) + 1
        v_in_band = p.u(P_CARC)
        traj = p.blood.trajectories[lin]
        rate = m.decline_log[lin] / step * p.carcinosis.infiltration_rate * hr
        if present:
            # the count has already fallen into the band of its initial grade
            thr = m.thresholds[lin]
            upper = thr[g - 1]
            lower = thr[g] if g < 4 else thr[3] * 0.6
            value = min(upper * (lower / upper) ** v_in_band, traj.native(p.now))
            traj.set_native(p.now, value, rate)
            p.carcinosis.at_onset |= 1 << lin
        else:
            traj.set_native(p.now, None, rate)  # spared so far: falls from where it is
    if not relapse:
        if p.u(P_CARC) < c.dic_probability:
            p.carcinosis.dic = True
            p.log(E_DIC)
        if p.u(P_CARC) < c.leukoerythroblastic_probability:
            p.carcinosis.leuko_eb = True
            p.log(E_LEUKOERYTHROBLASTIC)
    # death after onset: one threshold per cause
    p.deaths = CauseOfDeathClocks([-math.log(p.u(P_CARC)) for _ in range(5)], p.now)
    p.carcinosis.infection_threshold = -math.log(p.u(P_COMPL))
    p.carcinosis.bleeding_threshold = -math.log(p.u(P_COMPL))
    if relapse:
        p.detection.diagnosed = False
        p.detection.suspected = False
    next_visit(p)  # the blood picture is seen at the next visit (at once with an interval of 0)
    counts_changed(p)
    if hyper_pending:
        # a hypercalcemia still due keeps its place in the course: the same
        # share of the way from onset to the expected end of the carcinosis course
        frac = (p.progression_clock.hypercalcemia_at - p.progression_clock.accumulated) / max(
            p.progression_clock.threshold - p.progression_clock.accumulated, 1e-12
        )
        p.progression_clock.hypercalcemia_at = INF
        p.schedule(p.now + frac * (p.clocks.cdeath - p.now), A_HYPER_RECUR)
