"""Step 1 of the conceptual model (docs/model.md): entry.  The patient's
primary tumour, age, bone-targeted agent and visceral disease, the baseline
blood counts and calcium, and the empty state of every later step."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

from sim.kernel.constants import phi_inv
from sim.kernel.draws import pick, trunclognorm, truncnorm
from sim.kernel.events import EV
from sim.kernel.labs import Trajectory
from sim.kernel.state import (
    BloodCounts,
    CarcinosisState,
    CareReceived,
    CauseOfDeathClocks,
    Clocks,
    Detection,
    TransfusionState,
)
from sim.kernel.vocabulary import STREAM_ID

if TYPE_CHECKING:
    from sim.kernel.course import Patient

INF: Final = math.inf
P_ENTRY: Final = STREAM_ID["entry"]
E_ENTRY: Final = EV["entry"]


def enter(p: Patient) -> None:
    """Step 1: primary, age, agent, visceral disease by inversion (pick, age_quantile); baseline labs (truncnorm, trunclognorm)."""
    m = p.m
    p.now = 0.0
    p.primary = pick(m.primary_cum, p.u(P_ENTRY))
    p.age = m.age_quantile(p.u(P_ENTRY))
    p.agent = pick(m.agent_cum, p.u(P_ENTRY))
    p.visceral = p.u(P_ENTRY) < m.visceral_disease_probability
    p.log(E_ENTRY, ("prostate", "breast", "lung", "renal", "thyroid", "other")[p.primary])

    p.alive = True
    p.clocks = Clocks()
    p.agenda = []
    p.seq = 0
    p.death_cause = None
    p.death_detail = ""
    p.n_sre = p.n_pain = p.n_hyper = 0
    p.first_sre = p.first_scc = p.first_hyper = INF
    p.paralysis = False
    p.has_carcinosis = p.remission = False
    # blood counts and calcium at baseline (labs section), then their trajectories
    lab = m.labs
    hb0 = truncnorm(
        p.u(P_ENTRY),
        lab.hb_baseline_mean_g_dl,
        lab.hb_baseline_sd_g_dl,
        lab.hb_baseline_min_g_dl,
        lab.hb_baseline_max_g_dl,
    )
    plt0 = trunclognorm(
        p.u(P_ENTRY),
        lab.platelets_baseline_median_e9_l,
        lab.platelets_baseline_sd_log,
        lab.platelets_baseline_min_e9_l,
        lab.platelets_baseline_max_e9_l,
    )
    anc0 = trunclognorm(
        p.u(P_ENTRY),
        lab.anc_baseline_median_e9_l,
        lab.anc_baseline_sd_log,
        lab.anc_baseline_min_e9_l,
        lab.anc_baseline_max_e9_l,
    )
    calcium0 = truncnorm(
        p.u(P_ENTRY),
        lab.calcium_baseline_mean_mmol_l,
        lab.calcium_baseline_sd_mmol_l,
        lab.calcium_baseline_min_mmol_l,
        lab.calcium_baseline_max_mmol_l,
    )
    p.blood = BloodCounts([Trajectory(hb0), Trajectory(plt0), Trajectory(anc0)], [hb0, plt0, anc0], calcium0)
    p.carcinosis = CarcinosisState(math.exp(lab.infiltration_rate_sd_log * phi_inv(p.u(P_ENTRY))))
    p.detection = Detection()
    p.deaths = CauseOfDeathClocks([], 0.0)  # timed from carcinosis onset
    p.received = CareReceived()
    p.transfusion = TransfusionState()
