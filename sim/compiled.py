"""A scenario turned into the plain numbers the course uses at run time
(units converted to months, per-primary values indexed by primary code,
cohort-level probabilities turned into per-patient ones)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Final

from .params import AGENTS, PRIMARIES
from .scenario import Scenario

DAYS_PER_MONTH: Final = 365.25 / 12
LN2: Final = math.log(2.0)
_ND = NormalDist()
# the C routine behind NormalDist.inv_cdf, called without the method's Python frame (same numbers)
_INV_CDF: Final[Any] = getattr(statistics, "_normal_dist_inv_cdf", None)


def phi_inv(p: float) -> float:
    """Standard normal quantile, 0 < p < 1: ``NormalDist().inv_cdf(p)``."""
    if _INV_CDF is None:
        return _ND.inv_cdf(p)
    return float(_INV_CDF(p, 0.0, 1.0))


def individual_probabilities(p: float, rr: list[float], weights: list[float]) -> list[float]:
    """Per-group probabilities with relative risks that average to ``p``.

    Relative risk acts on the cumulative hazard (complementary log-log
    scale): p_i = 1 - (1 - q) ** rr_i, with q chosen so that the
    weighted mean of p_i equals p.  So p = 0 gives 0 for everyone, p = 1
    gives 1 for everyone (with rr_i > 0), and group order follows rr.
    """
    if p <= 0.0:
        return [0.0] * len(rr)
    if p >= 1.0:
        return [1.0 if r > 0 else 0.0 for r in rr]
    if sum(w for w, r in zip(weights, rr) if r > 0) < p:
        # not attainable: those at risk all get it
        return [1.0 if r > 0 else 0.0 for r in rr]

    def mean(q: float) -> float:
        return sum(w * (1.0 - (1.0 - q) ** r) for w, r in zip(weights, rr))

    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mean(mid) < p:
            lo = mid
        else:
            hi = mid
    q = 0.5 * (lo + hi)
    return [1.0 - (1.0 - q) ** r for r in rr]


@dataclass(frozen=True)
class Compiled:
    """Run-time constants of one scenario (months throughout)."""

    s: Scenario
    horizon: float
    primary_cum: tuple[float, ...]
    agent_cum: tuple[float, ...]
    weib_k: tuple[float, ...]
    weib_lam: tuple[float, ...]
    hr_hyper: tuple[float, ...]
    sre_first: tuple[float, ...]
    sre_type_cum: tuple[float, ...]
    agent_hr: tuple[float, ...]
    p_carc: tuple[float, ...]
    p_hyper: tuple[tuple[float, ...], ...]  # [primary][agent]
    carc_rate_bsc: tuple[float, ...]
    cause_share: tuple[float, ...]  # progression, bleeding, infection, dic, other
    grade_cum: tuple[float, ...]
    infection_rate: tuple[float, ...]
    bleeding_rate: tuple[float, ...]
    thresholds: tuple[tuple[float, ...], ...]  # per lineage, grade 1..4 boundaries (descending)
    watch: tuple[tuple[float, ...], ...]  # per lineage, every value whose crossing matters (descending)
    decline_log: tuple[float, ...]  # per lineage, log of the ratio of one grade band (how far a step falls)
    age_cdf: tuple[float, float]  # standard normal CDF at the age bounds (computed once)

    def age_quantile(self, u: float) -> float:
        """Age in years for a uniform: truncated normal by inversion."""
        a = self.s.cohort.age
        if a.sd_years <= 0:
            return a.mean_years
        lo, hi = self.age_cdf
        q = min(max(lo + (hi - lo) * u, 1e-12), 1 - 1e-12)
        return min(max(a.mean_years + a.sd_years * phi_inv(q), a.min_years), a.max_years)


def compile_scenario(s: Scenario) -> Compiled:
    """Precompute everything the course looks up per event."""
    mix = [getattr(s.cohort.primary_mix, p) for p in PRIMARIES]
    amix = [getattr(s.cohort.bone_targeted_agent_mix, a) for a in AGENTS]
    rr_c = [getattr(s.carcinosis.relative_risk, p) for p in PRIMARIES]
    rr_h = [getattr(s.hypercalcemia.relative_risk, p) for p in PRIMARIES]
    a_rr = s.hypercalcemia.agent_relative_risk
    # hypercalcemia: relative risk by primary and agent; the cohort mean is the knob
    groups_rr = [r * (1.0 if a == "none" else a_rr) for r in rr_h for a in AGENTS]
    groups_w = [w * v for w in mix for v in amix]
    ph = individual_probabilities(s.hypercalcemia.probability, groups_rr, groups_w)
    p_hyper = tuple(tuple(ph[i * len(AGENTS) + j] for j in range(len(AGENTS))) for i in range(len(PRIMARIES)))
    sre = s.sre
    agent_hr = (1.0, sre.agent_hazard_ratio.zoledronic_acid, sre.agent_hazard_ratio.denosumab)  # type: ignore[attr-defined]
    tm = sre.type_mix
    grades = s.carcinosis.initial_grade_mix
    sh = s.carcinosis.death_cause_shares
    comp = s.complications
    lab = s.labs
    thresholds = (tuple(lab.anemia_thresholds_g_dl), tuple(lab.platelet_thresholds_e9_l), tuple(lab.anc_thresholds_e9_l))
    return Compiled(
        s=s,
        horizon=s.run.horizon_months,
        primary_cum=_cum(mix),
        agent_cum=_cum(amix),
        weib_k=tuple(getattr(s.progression.weibull, p).shape for p in PRIMARIES),
        weib_lam=tuple(getattr(s.progression.weibull, p).scale_months for p in PRIMARIES),
        hr_hyper=tuple(getattr(s.progression.hazard_ratio_after_hypercalcemia, p) for p in PRIMARIES),
        sre_first=tuple(getattr(sre.first_rate_per_month, p) for p in PRIMARIES),
        sre_type_cum=_cum([tm.radiation_to_bone, tm.pathological_fracture, tm.spinal_cord_compression, tm.surgery_to_bone]),  # type: ignore[attr-defined]
        agent_hr=agent_hr,
        p_carc=tuple(individual_probabilities(s.carcinosis.probability, rr_c, mix)),
        p_hyper=p_hyper,
        carc_rate_bsc=tuple(LN2 / getattr(s.carcinosis.survival_median_months_bsc, p) for p in PRIMARIES),
        cause_share=(sh.progression, sh.bleeding, sh.infection, sh.dic, sh.other),  # type: ignore[attr-defined]
        grade_cum=_cum([grades.grade_1, grades.grade_2, grades.grade_3, grades.grade_4]),  # type: ignore[attr-defined]
        infection_rate=tuple(getattr(comp.infection_rate_per_month, f"grade_{g}") for g in range(5)),
        bleeding_rate=tuple(getattr(comp.bleeding_rate_per_month, f"grade_{g}") for g in range(5)),
        thresholds=thresholds,
        watch=(
            tuple(sorted(set(thresholds[0]) | {s.care.transfusion.rbc_threshold_g_dl}, reverse=True)),
            tuple(sorted(set(thresholds[1]) | {s.care.transfusion.platelet_threshold_e9_l}, reverse=True)),
            thresholds[2],
        ),
        decline_log=tuple(math.log(t[0] / t[3]) / 3.0 for t in thresholds),
        age_cdf=_age_cdf(s),
    )


def _age_cdf(s: Scenario) -> tuple[float, float]:
    a = s.cohort.age
    if a.sd_years <= 0:
        return (0.0, 1.0)
    return (_ND.cdf((a.min_years - a.mean_years) / a.sd_years), _ND.cdf((a.max_years - a.mean_years) / a.sd_years))


def _cum(shares: list[float]) -> tuple[float, ...]:
    out, acc = [], 0.0
    for x in shares:
        acc += x
        out.append(acc)
    out[-1] = 1.0 + 1e-12  # a uniform below 1 always finds a category
    return tuple(out)
