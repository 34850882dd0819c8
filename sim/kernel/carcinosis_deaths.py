"""Step 6 of the conceptual model (docs/model.md), death after carcinosis
onset: one clock per cause, hazards by grade, DIC and the terminal phase."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.kernel.codes import (
    _CARC_CAUSE,
    _CARC_DETAIL,
    C_BLEEDING,
    C_DIC,
    C_INFECTION,
    C_OTHER,
    C_PROGRESSION,
    INF,
    LEUKO,
    LN2,
    THROMBO,
)
from sim.kernel.constants import DAYS_PER_MONTH

if TYPE_CHECKING:
    from sim.kernel.course import Patient


def carcinosis_death_rates(p: Patient) -> list[float]:
    """Step 6 (death after onset): hazard per cause, r x share (x grade HR; DIC; terminal ln2 / median)."""
    m = p.m
    c = m.carcinosis
    r = m.carc_rate_bsc[p.primary]
    if p.carcinosis.on_chemo:
        r *= m.chemotherapy.death_hazard_ratio
    sh = m.cause_share
    ghr = c.grade_hazard_ratio
    g_plt = p.blood.grade[THROMBO]
    g_wbc = p.blood.grade[LEUKO]
    dic_p = c.dic_probability
    dic = r * sh[C_DIC] / dic_p if (p.carcinosis.dic and dic_p > 0) else 0.0
    prog = r * sh[C_PROGRESSION]
    if p.carcinosis.terminal_phase:
        # marrow failure: the progression hazard becomes the terminal one (slowed by treatment)
        term = LN2 / (c.terminal_median_days / DAYS_PER_MONTH)
        if p.carcinosis.on_chemo:
            term *= m.chemotherapy.death_hazard_ratio
        prog = max(prog, term)
    return [prog, r * sh[C_BLEEDING] * ghr[g_plt], r * sh[C_INFECTION] * ghr[g_wbc], dic, r * sh[C_OTHER]]


def time_carcinosis_death(p: Patient) -> None:
    """Step 6 (death after onset): accumulate each cause's hazard to now and re-time the earliest death."""
    if not p.has_carcinosis or p.remission:
        p.clocks.cdeath = INF
        return
    p.clocks.cdeath = p.deaths.retime(p.now, carcinosis_death_rates(p))


def on_carcinosis_death(p: Patient) -> None:
    """Step 6 (death after onset): death by the cause whose clock ran out."""
    c = p.deaths.cause_now(p.now)
    if c == C_PROGRESSION and p.carcinosis.terminal_phase:
        p.die("terminal_myelosuppression", "marrow failure")
    else:
        p.die(_CARC_CAUSE[c], _CARC_DETAIL[c])
