"""Step 6 of the conceptual model (docs/model.md), treatment of carcinosis:
the effect of systemic treatment, remission and the relapse that follows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.kernel.carcinosis_deaths import time_carcinosis_death
from sim.kernel.codes import A_RELAPSE, E_REMISSION, INF, P_CHEMO
from sim.kernel.cytopenias import counts_changed
from sim.kernel.draws import exp_median
from sim.kernel.progression import time_progression

if TYPE_CHECKING:
    from sim.kernel.course import Patient


def start_treatment_effect(p: Patient) -> None:
    """Step 6 (treatment): counts fall and deaths come slower by death_hazard_ratio from now on."""
    if p.carcinosis.on_chemo:
        return
    p.carcinosis.on_chemo = True
    p.carcinosis.chemo = True
    hr = p.m.chemotherapy.death_hazard_ratio
    for traj in p.blood.trajectories:  # the counts fall more slowly by the same ratio
        traj.set_native(p.now, None, traj.seg_g[-1] * hr)
    time_carcinosis_death(p)
    counts_changed(p)


def end_treatment(p: Patient) -> None:
    """Step 6 (remission): remission with remission_probability; counts recover, relapse after Exp(median)."""
    c = p.m.carcinosis
    if p.has_carcinosis and not p.remission and p.u(P_CHEMO) < c.remission_probability:
        p.remission = True
        p.log(E_REMISSION, "after systemic treatment")
        for traj in p.blood.trajectories:  # the marrow recovers its own output
            traj.set_native(p.now, traj.seg_v[0], 0.0)
        p.clocks.cdeath = p.clocks.infect = p.clocks.bleed = INF
        p.carcinosis.terminal_phase = False
        p.deaths.rates = None
        p.carcinosis.on_chemo = False
        p.progression_clock.running = True
        p.progression_clock.since = p.now
        time_progression(p)
        p.schedule(p.now + exp_median(p.u(P_CHEMO), c.relapse_median_months), A_RELAPSE)
        counts_changed(p)
