"""Step 2 of the conceptual model (docs/model.md): progression to death on a
Weibull clock whose hazard the other steps multiply."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.kernel.carcinosis import carcinosis_onset
from sim.kernel.codes import INF, P_PROG
from sim.kernel.draws import beta_inv
from sim.kernel.hypercalcemia import on_hypercalcemia
from sim.kernel.state import ProgressionClock

if TYPE_CHECKING:
    from sim.kernel.course import Patient


def start_progression(p: Patient) -> None:
    """Step 2: the Weibull progression clock (threshold -ln u) and the Beta fractions of it at which carcinosis and hypercalcemia begin."""
    m = p.m
    p.progression_clock = ProgressionClock(m.weib_k[p.primary], m.weib_lam[p.primary], -math.log(p.u(P_PROG)))
    u_carc, u_hyper = p.u(P_PROG), p.u(P_PROG)
    v = beta_inv(p.u(P_PROG), m.carcinosis.onset_alpha, m.carcinosis.onset_beta)
    w = beta_inv(p.u(P_PROG), m.hypercalcemia.onset_alpha, m.hypercalcemia.onset_beta)
    p.progression_clock.carcinosis_at = v * p.progression_clock.threshold if u_carc < m.p_carc[p.primary] else INF
    p.progression_clock.hypercalcemia_at = w * p.progression_clock.threshold if u_hyper < m.p_hyper[p.primary][p.agent] else INF
    time_progression(p)
    p.carcinosis_fraction, p.hypercalcemia_fraction = v, w


def advance_progression(p: Patient) -> None:
    """Step 2: accumulate the progression hazard up to now."""
    p.progression_clock.advance(p.now)


def time_progression(p: Patient) -> None:
    """Step 2: when the progression clock reaches its next threshold."""
    p.clocks.prog = p.progression_clock.next_time()


def on_progression(p: Patient) -> None:
    """Step 2: the progression clock reached a threshold: hypercalcemia onset, carcinosis onset or death."""
    p.progression_clock.accumulated = max(
        p.progression_clock.accumulated,
        min(
            p.progression_clock.carcinosis_at,
            p.progression_clock.hypercalcemia_at,
            p.progression_clock.threshold if p.progression_clock.death_on else INF,
        ),
    )
    p.progression_clock.since = p.now
    eps = 1e-12 * (1.0 + p.progression_clock.threshold)
    if p.progression_clock.hypercalcemia_at <= p.progression_clock.accumulated + eps:
        p.progression_clock.hypercalcemia_at = INF
        on_hypercalcemia(p)
    elif p.progression_clock.carcinosis_at <= p.progression_clock.accumulated + eps:
        p.progression_clock.carcinosis_at = INF
        carcinosis_onset(p, relapse=False)
    elif p.progression_clock.death_on and p.progression_clock.threshold <= p.progression_clock.accumulated + eps:
        p.die("progression")
    if p.alive:
        time_progression(p)
