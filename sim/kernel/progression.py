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
    p.prog = ProgressionClock(m.weib_k[p.primary], m.weib_lam[p.primary], -math.log(p.u(P_PROG)))
    u_carc, u_hyper = p.u(P_PROG), p.u(P_PROG)
    v = beta_inv(p.u(P_PROG), m.carcinosis.onset_alpha, m.carcinosis.onset_beta)
    w = beta_inv(p.u(P_PROG), m.hypercalcemia.onset_alpha, m.hypercalcemia.onset_beta)
    p.prog.carcinosis_at = v * p.prog.threshold if u_carc < m.p_carc[p.primary] else INF
    p.prog.hypercalcemia_at = w * p.prog.threshold if u_hyper < m.p_hyper[p.primary][p.agent] else INF
    time_progression(p)
    p._v, p._w = v, w


def advance_progression(p: Patient) -> None:
    """Step 2: accumulate the progression hazard up to now."""
    p.prog.advance(p.now)


def time_progression(p: Patient) -> None:
    """Step 2: when the progression clock reaches its next threshold."""
    p.t_prog = p.prog.next_time()


def on_progression(p: Patient) -> None:
    """Step 2: the progression clock reached a threshold: hypercalcemia onset, carcinosis onset or death."""
    p.prog.accumulated = max(
        p.prog.accumulated,
        min(p.prog.carcinosis_at, p.prog.hypercalcemia_at, p.prog.threshold if p.prog.death_on else INF),
    )
    p.prog.since = p.now
    eps = 1e-12 * (1.0 + p.prog.threshold)
    if p.prog.hypercalcemia_at <= p.prog.accumulated + eps:
        p.prog.hypercalcemia_at = INF
        on_hypercalcemia(p)
    elif p.prog.carcinosis_at <= p.prog.accumulated + eps:
        p.prog.carcinosis_at = INF
        carcinosis_onset(p, relapse=False)
    elif p.prog.death_on and p.prog.threshold <= p.prog.accumulated + eps:
        p.die("progression")
    if p.alive:
        time_progression(p)
