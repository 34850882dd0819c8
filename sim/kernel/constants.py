"""A scenario turned into the plain numbers the course uses at run time
(units converted to months, per-primary values indexed by primary code,
cohort-level probabilities turned into per-patient ones)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, fields
from statistics import NormalDist
from typing import Any, Final

from sim.scenario.fields import AGENTS, PRIMARIES
from sim.scenario.model import Scenario

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
    if sum(w for w, r in zip(weights, rr, strict=True) if r > 0) < p:
        # not attainable: those at risk all get it
        return [1.0 if r > 0 else 0.0 for r in rr]

    def mean(q: float) -> float:
        return sum(w * (1.0 - (1.0 - q) ** r) for w, r in zip(weights, rr, strict=True))

    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mean(mid) < p:
            lo = mid
        else:
            hi = mid
    q = 0.5 * (lo + hi)
    return [1.0 - (1.0 - q) ** r for r in rr]


# ----------------------------------------------------------------------------- scenario values as native attributes
# The course reads these on every patient and event.  Read through a pydantic model
# each value goes through Python's slow attribute path (the model class has a
# ``__getattr__`` hook); these classes hold the same values, under the same names
# as in the scenario, as plain attributes of compiled classes (read as C fields
# in the compiled kernel).  Only the values the course and care use are mirrored.


@dataclass(frozen=True)
class Age:
    """``cohort.age`` (years)."""

    mean_years: float
    sd_years: float
    min_years: float
    max_years: float


@dataclass(frozen=True)
class OtherMortality:
    """``other_mortality``."""

    enabled: bool
    annual_rate_at_70: float
    doubling_years: float


@dataclass(frozen=True)
class Sre:
    """``sre`` (rates per month)."""

    later_rate_per_month: float
    paralysis_probability: float
    fracture_surgery_probability: float
    cord_compression_surgery_probability: float
    max_events: int


@dataclass(frozen=True)
class Pain:
    """``pain``."""

    rate_per_month: float
    radiotherapy_probability: float
    radionuclide_probability: float
    max_episodes: int


@dataclass(frozen=True)
class Hypercalcemia:
    """``hypercalcemia`` (``onset_alpha``/``onset_beta``: ``onset_fraction.alpha``/``.beta``)."""

    fatal_probability: float
    recurrence_probability: float
    recurrence_median_months: float
    admission_days: float
    max_episodes: int
    onset_alpha: float
    onset_beta: float


@dataclass(frozen=True)
class Carcinosis:
    """``carcinosis`` (``at_onset``: ``cytopenia_at_onset`` for anemia,
    thrombocytopenia, leukopenia; ``onset_alpha``/``onset_beta``: ``onset_fraction``)."""

    worsening_median_fraction: float
    terminal_min_grade: int
    dic_probability: float
    leukoerythroblastic_probability: float
    grade_hazard_ratio: tuple[float, ...]
    terminal_median_days: float
    remission_probability: float
    relapse_median_months: float
    onset_alpha: float
    onset_beta: float
    at_onset: tuple[float, float, float]


@dataclass(frozen=True)
class Detection:
    """``detection`` (days)."""

    suspicion_min_grade: int
    suspicion_median_days: float
    scintigraphy_negative_probability: float
    delay_after_negative_scan_days: float
    biopsy_delay_days: float
    biopsy_result_days: float


@dataclass(frozen=True)
class Complications:
    """``complications``."""

    severe_infection_probability: float
    severe_bleeding_probability: float
    infection_admission_days: float
    bleeding_admission_days: float
    max_episodes: int


@dataclass(frozen=True)
class Radiotherapy:
    """``care.radiotherapy``."""

    single_fraction_share: float
    multi_fraction_fractions: int
    routine_delay_days: float
    emergency_delay_days: float
    response_probability: float
    complete_response_probability: float
    response_share_by_end: float
    response_share_by_day_8: float
    retreatment_probability_single: float
    retreatment_probability_multi: float
    retreatment_median_months: float


@dataclass(frozen=True)
class Radium223:
    """``care.radionuclide.radium223``."""

    uptake: float
    injections: int
    interval_days: float
    death_hazard_ratio: float
    grade34_thrombocytopenia_probability: float
    grade34_neutropenia_probability: float


@dataclass(frozen=True)
class StrontiumSamarium:
    """``care.radionuclide.strontium_samarium``."""

    response_probability: float
    max_thrombocytopenia_grade: int
    grade34_thrombocytopenia_probability: float


@dataclass(frozen=True)
class Chemotherapy:
    """``care.chemotherapy``."""

    uptake: float
    death_hazard_ratio: float
    cycles: int
    interval_days: float
    febrile_neutropenia_probability: float
    febrile_neutropenia_fatal_probability: float
    nadir_factor: float
    nadir_days: float


@dataclass(frozen=True)
class Transfusion:
    """``care.transfusion``."""

    rbc_threshold_g_dl: float
    rbc_uptake: float
    rbc_units_per_episode: int
    platelet_threshold_e9_l: float
    platelet_uptake: float
    platelet_units_per_episode: int


@dataclass(frozen=True)
class Surgery:
    """``care.surgery`` (days)."""

    admission_days: float
    cord_compression_admission_days: float


@dataclass(frozen=True)
class Labs:
    """``labs``."""

    hb_baseline_mean_g_dl: float
    hb_baseline_sd_g_dl: float
    hb_baseline_min_g_dl: float
    hb_baseline_max_g_dl: float
    platelets_baseline_median_e9_l: float
    platelets_baseline_sd_log: float
    platelets_baseline_min_e9_l: float
    platelets_baseline_max_e9_l: float
    anc_baseline_median_e9_l: float
    anc_baseline_sd_log: float
    anc_baseline_min_e9_l: float
    anc_baseline_max_e9_l: float
    calcium_baseline_mean_mmol_l: float
    calcium_baseline_sd_mmol_l: float
    calcium_baseline_min_mmol_l: float
    calcium_baseline_max_mmol_l: float
    calcium_threshold_mmol_l: float
    calcium_peak_excess_mean_mmol_l: float
    calcium_rise_days: float
    calcium_half_life_days: float
    infiltration_rate_sd_log: float
    rbc_increment_g_dl: float
    rbc_half_life_days: float
    platelet_increment_e9_l: float
    platelet_half_life_days: float
    monitoring_interval_days: float
    keep_patients: int


def _mirror(cls: Any, model: Any, **extra: Any) -> Any:
    """An instance of mirror class ``cls`` with each field read from the pydantic
    ``model`` by name (``extra``: fields that are not the model's own).  Ints
    stay ints and floats become floats, as the compiled attributes require."""
    values: dict[str, Any] = {}
    for f in fields(cls):
        v = extra[f.name] if f.name in extra else getattr(model, f.name)
        values[f.name] = float(v) if f.type in ("float", float) and not isinstance(v, bool) else v
    return cls(**values)


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
    # the scenario's sections, as native attributes (the same names as in the scenario)
    age: Age
    visceral_disease_probability: float
    hazard_ratio_after_sre: float
    hazard_ratio_after_cord_compression: float
    other_mortality: OtherMortality
    sre: Sre
    pain: Pain
    hypercalcemia: Hypercalcemia
    carcinosis: Carcinosis
    detection: Detection
    complications: Complications
    radiotherapy: Radiotherapy
    radium223: Radium223
    strontium_samarium: StrontiumSamarium
    nadir_recovery_days: float  # care.radionuclide
    chemotherapy: Chemotherapy
    transfusion: Transfusion
    surgery: Surgery
    labs: Labs

    def age_quantile(self, u: float) -> float:
        """Age in years for a uniform: truncated normal by inversion."""
        a = self.age
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
    ao = s.carcinosis.cytopenia_at_onset
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
        age=_mirror(Age, s.cohort.age),
        visceral_disease_probability=float(s.cohort.visceral_disease_probability),
        hazard_ratio_after_sre=float(s.progression.hazard_ratio_after_sre),
        hazard_ratio_after_cord_compression=float(s.progression.hazard_ratio_after_cord_compression),
        other_mortality=_mirror(OtherMortality, s.other_mortality),
        sre=_mirror(Sre, s.sre),
        pain=_mirror(Pain, s.pain),
        hypercalcemia=_mirror(
            Hypercalcemia,
            s.hypercalcemia,
            onset_alpha=s.hypercalcemia.onset_fraction.alpha,
            onset_beta=s.hypercalcemia.onset_fraction.beta,
        ),
        carcinosis=_mirror(
            Carcinosis,
            s.carcinosis,
            grade_hazard_ratio=tuple(float(x) for x in s.carcinosis.grade_hazard_ratio),
            onset_alpha=s.carcinosis.onset_fraction.alpha,
            onset_beta=s.carcinosis.onset_fraction.beta,
            at_onset=(float(ao.anemia), float(ao.thrombocytopenia), float(ao.leukopenia)),  # type: ignore[attr-defined]
        ),
        detection=_mirror(Detection, s.detection),
        complications=_mirror(Complications, comp),
        radiotherapy=_mirror(Radiotherapy, s.care.radiotherapy),
        radium223=_mirror(Radium223, s.care.radionuclide.radium223),
        strontium_samarium=_mirror(StrontiumSamarium, s.care.radionuclide.strontium_samarium),
        nadir_recovery_days=float(s.care.radionuclide.nadir_recovery_days),
        chemotherapy=_mirror(Chemotherapy, s.care.chemotherapy),
        transfusion=_mirror(Transfusion, s.care.transfusion),
        surgery=_mirror(Surgery, s.care.surgery),
        labs=_mirror(Labs, lab),
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
