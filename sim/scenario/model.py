"""The scenario: every parameter of the model, with unit, range, default and
source, grouped in the order of the conceptual model (docs/model.md).

Parameters are illustrative, not clinically validated.  Sources abbreviate
the references listed in docs/model.md; ``assumed`` marks a value chosen by
the modellers, ``calibrated`` one fitted so the whole model meets a
published figure (docs/calibration.md says how).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from sim.scenario.distributions import (
    UNCERTAINTY_DOC,
    UNCERTAINTY_EXCLUDE,
    UNCERTAINTY_EXTRA,
    UTILITIES_DOC,
    Distribution,
    Utilities,
    check_uncertainty,
)
from sim.scenario.fields import AGENTS, ASSUMED, LINEAGES, PRIMARIES, Section, keyed, par, section_field

CAL = "calibrated (docs/calibration.md)"

# ----------------------------------------------------------------------------- run


class Run(Section):
    """How a run is set up: cohort size, seed, follow-up."""

    patients: int = par(10_000, 1, 10_000_000, "patients", ASSUMED, "Number of patients in the cohort")
    seed: int = par(20261125, 0, 2**63 - 1, "integer", ASSUMED, "Root seed of all random streams")
    horizon_months: float = par(120.0, 0.01, 1200.0, "months", ASSUMED, "Follow-up from entry; alive then = censored")
    replication: int = par(0, 0, 2**31 - 1, "index", ASSUMED, "Replication index (part of every random-stream address)")


# ----------------------------------------------------------------------------- entry

PrimaryMix = keyed(
    "PrimaryMix",
    {"prostate": 0.34, "breast": 0.22, "lung": 0.20, "renal": 0.05, "thyroid": 0.02, "other": 0.17},
    0.0,
    1.0,
    "share",
    "Svensson 2017 (prostate, breast, lung); split of renal/thyroid/other assumed",
    "Share of the cohort by primary tumour",
    mix=True,
)

AgentMix = keyed(
    "AgentMix",
    {"none": 0.40, "zoledronic_acid": 0.35, "denosumab": 0.25},
    0.0,
    1.0,
    "share",
    ASSUMED,
    "Share of the cohort by bone-targeted agent",
    mix=True,
)


class Age(Section):
    """Age at entry: normal, truncated to [min_years, max_years]."""

    mean_years: float = par(68.0, 18, 100, "years", ASSUMED, "Mean age at diagnosis of bone metastasis")
    sd_years: float = par(10.0, 0, 40, "years", ASSUMED, "Standard deviation of age")
    min_years: float = par(30.0, 0, 120, "years", ASSUMED, "Lowest age")
    max_years: float = par(95.0, 0, 120, "years", ASSUMED, "Highest age")

    @model_validator(mode="after")
    def _order(self) -> Age:
        if not self.min_years <= self.mean_years <= self.max_years:
            raise ValueError("need min_years <= mean_years <= max_years")
        return self


class Cohort(Section):
    """Who enters: primary tumour, age, bone-targeted agent, visceral disease."""

    primary_mix: PrimaryMix = section_field(PrimaryMix, "Primary tumour shares")  # type: ignore[valid-type]
    age: Age = section_field(Age, "Age at entry")
    bone_targeted_agent_mix: AgentMix = section_field(AgentMix, "Bone-targeted agent shares")  # type: ignore[valid-type]
    visceral_disease_probability: float = par(
        0.25, 0, 1, "probability", ASSUMED, "Visceral metastases at entry (excludes radium-223)"
    )


# ----------------------------------------------------------------------------- progression


_WEIBULL_SOURCE = "fitted to Svensson 2017, Norgaard 2010, Coleman 2001, Ruatta 2017, Zhang 2022; " + CAL


class Weibull(Section):
    """Weibull time to death from progression: S(t) = exp(-(t/scale)^shape)."""

    shape: float = par(1.0, 0.05, 20, "dimensionless", _WEIBULL_SOURCE, "Weibull shape k")
    scale_months: float = par(12.0, 0.01, 10_000, "months", _WEIBULL_SOURCE, "Weibull scale lambda")


class WeibullByPrimary(Section):
    """Death from cancer progression by primary (before hazard changes)."""

    prostate: Weibull = Field(default_factory=lambda: Weibull(shape=0.8072, scale_months=20.829))
    breast: Weibull = Field(default_factory=lambda: Weibull(shape=0.4178, scale_months=53.339))
    lung: Weibull = Field(default_factory=lambda: Weibull(shape=1.09, scale_months=6.917))
    renal: Weibull = Field(default_factory=lambda: Weibull(shape=0.9, scale_months=56.593))
    thyroid: Weibull = Field(default_factory=lambda: Weibull(shape=0.5, scale_months=324.686))
    other: Weibull = Field(default_factory=lambda: Weibull(shape=1.0, scale_months=10.892))


HypercalcemiaHR = keyed(
    "HypercalcemiaDeathHR",
    {p: (1.0 if p == "breast" else 1.44) for p in PRIMARIES},
    1.0,
    1000.0,
    "hazard ratio",
    "targets: median 1.5 months after hypercalcemia, breast 4.5 (reviews); " + CAL,
    "Progression hazard multiplier from the first hypercalcemia episode",
)


class Progression(Section):
    """Progression to death and what raises its hazard."""

    weibull: WeibullByPrimary = section_field(WeibullByPrimary, "Weibull per primary (" + _WEIBULL_SOURCE + ")")
    hazard_ratio_after_sre: float = par(1.4, 1.0, 100, "hazard ratio", "Norgaard 2010", "Multiplier from the first SRE")
    hazard_ratio_after_cord_compression: float = par(
        6.468,
        1.0,
        1000,
        "hazard ratio",
        "target: median 2.9 months after compression (Loblaw 2003); " + CAL,
        "Multiplier from spinal cord compression",
    )
    hazard_ratio_after_hypercalcemia: HypercalcemiaHR = section_field(  # type: ignore[valid-type]
        HypercalcemiaHR, "Multiplier from the first hypercalcemia episode, by primary"
    )


class OtherMortality(Section):
    """Death from other causes (Gompertz in age)."""

    enabled: bool = Field(
        True,
        description="Background mortality from other causes on or off",
        json_schema_extra={"unit": "on/off", "source": ASSUMED},
    )
    annual_rate_at_70: float = par(
        0.02, 0, 1, "per year", ASSUMED + " (order of Western life tables)", "Other-cause mortality at age 70"
    )
    doubling_years: float = par(8.0, 1, 50, "years", ASSUMED + " (Gompertz law)", "Years for the other-cause rate to double")


# ----------------------------------------------------------------------------- SREs

SreFirstRate = keyed(
    "SreFirstRate",
    {"prostate": 0.066, "breast": 0.099, "lung": 0.128, "renal": 0.29, "thyroid": 0.066, "other": 0.128},
    0.0,
    50.0,
    "per month",
    "placebo arms: Saad 2002, Hortobagyi 1998, Rosen 2003, RCC subset 2004",
    "Hazard of the first SRE without a bone-targeted agent",
    sources={"thyroid": ASSUMED},
)
SreTypeMix = keyed(
    "SreTypeMix",
    {"radiation_to_bone": 0.55, "pathological_fracture": 0.30, "spinal_cord_compression": 0.08, "surgery_to_bone": 0.07},
    0.0,
    1.0,
    "share",
    ASSUMED,
    "Type of an SRE",
    mix=True,
)
AgentHR = keyed(
    "AgentHR",
    {"zoledronic_acid": 0.73, "denosumab": 0.61},
    0.0,
    2.0,
    "hazard ratio",
    "Rosen 2003 (zoledronic acid); Lipton 2012 (denosumab 0.83 x zoledronic acid)",
    "SRE hazard ratio of a bone-targeted agent vs none",
)


class Sre(Section):
    """Skeletal-related events, recurrent."""

    first_rate_per_month: SreFirstRate = section_field(SreFirstRate, "First SRE hazard by primary")  # type: ignore[valid-type]
    later_rate_per_month: float = par(
        0.25, 0, 50, "per month", "Coleman 2006 (one event every 3-6 months)", "Hazard of each later SRE"
    )
    type_mix: SreTypeMix = section_field(SreTypeMix, "Type of SRE")  # type: ignore[valid-type]
    agent_hazard_ratio: AgentHR = section_field(AgentHR, "Bone-targeted agent effect")  # type: ignore[valid-type]
    paralysis_probability: float = par(0.3, 0, 1, "probability", ASSUMED, "Permanent paralysis after cord compression")
    fracture_surgery_probability: float = par(0.35, 0, 1, "probability", ASSUMED, "Surgery for a pathological fracture")
    cord_compression_surgery_probability: float = par(
        0.15, 0, 1, "probability", ASSUMED, "Decompressive surgery for cord compression"
    )
    max_events: int = par(1000, 1, 100_000, "events", ASSUMED, "Safety cap on SREs per patient (a run-away rate is refused)")


# ----------------------------------------------------------------------------- pain


class Pain(Section):
    """Bone pain episodes, the trigger for palliative radiotherapy and radionuclides."""

    rate_per_month: float = par(0.10, 0, 20, "per month", ASSUMED, "Hazard of a new pain episode")
    radiotherapy_probability: float = par(
        0.60, 0, 1, "probability", ASSUMED, "Pain episode treated with external beam radiotherapy"
    )
    radionuclide_probability: float = par(0.30, 0, 1, "probability", ASSUMED, "Otherwise: radionuclide therapy when eligible")
    max_episodes: int = par(1000, 1, 100_000, "episodes", ASSUMED, "Safety cap on pain episodes per patient")


# ----------------------------------------------------------------------------- hypercalcemia

HypercalcemiaRR = keyed(
    "HypercalcemiaRR",
    {"prostate": 0.4, "breast": 1.6, "lung": 1.4, "renal": 1.6, "thyroid": 0.5, "other": 1.0},
    0.0,
    100.0,
    "relative risk",
    "Gastanaga 2016 (prostate lower); others " + ASSUMED,
    "Relative risk of hypercalcemia by primary",
)


class Beta(Section):
    """Beta distribution on (0, 1)."""

    alpha: float = par(2.0, 0.05, 1000, "dimensionless", ASSUMED, "Beta alpha")
    beta: float = par(1.0, 0.05, 1000, "dimensionless", ASSUMED, "Beta beta")


class Hypercalcemia(Section):
    """Hypercalcemia of malignancy."""

    probability: float = par(
        0.05,
        0,
        1,
        "probability",
        "source article; Gastanaga 2016",
        "Share of the cohort with at least one episode during their course",
    )
    relative_risk: HypercalcemiaRR = section_field(HypercalcemiaRR, "Relative risk by primary")  # type: ignore[valid-type]
    agent_relative_risk: float = par(0.8, 0, 1, "relative risk", ASSUMED, "Relative risk with any bone-targeted agent")
    onset_fraction: Beta = Field(
        default_factory=lambda: Beta(alpha=1.0, beta=1.0),
        description="Onset as a fraction of the patient's progression course (uniform over the course)",
    )
    fatal_probability: float = par(0.08, 0, 1, "probability", ASSUMED, "An episode is a fatal hypercalcemic crisis")
    recurrence_probability: float = par(0.30, 0, 1, "probability", ASSUMED, "Another episode follows (each time)")
    recurrence_median_months: float = par(1.5, 0.01, 120, "months", ASSUMED, "Median time to a recurrence")
    admission_days: float = par(5.0, 0, 60, "days", ASSUMED, "Length of stay for an episode")
    max_episodes: int = par(1000, 1, 100_000, "episodes", ASSUMED, "Safety cap on episodes per patient")


# ----------------------------------------------------------------------------- carcinosis

CarcinosisRR = keyed(
    "CarcinosisRR",
    {"prostate": 1.2, "breast": 1.0, "lung": 0.6, "renal": 0.4, "thyroid": 0.2, "other": 1.4},
    0.0,
    100.0,
    "relative risk",
    ASSUMED + " (more in prostate and breast: source article)",
    "Relative risk of carcinosis by primary",
)
CytopeniaAtOnset = keyed(
    "CytopeniaAtOnset",
    {"anemia": 0.90, "thrombocytopenia": 0.74, "leukopenia": 0.24},
    0.0,
    1.0,
    "probability",
    "retrospective series of marrow metastasis, n=54",
    "Cytopenia present at carcinosis onset",
)
GradeMix = keyed(
    "GradeMix",
    {"grade_1": 0.40, "grade_2": 0.35, "grade_3": 0.20, "grade_4": 0.05},
    0.0,
    1.0,
    "share",
    ASSUMED,
    "CTCAE grade of a cytopenia at its onset",
    mix=True,
)
CarcinosisMedianBSC = keyed(
    "CarcinosisMedianBSC",
    {"prostate": 4.0, "breast": 3.39, "lung": 0.4, "renal": 3.0, "thyroid": 3.0, "other": 0.4},
    0.01,
    600.0,
    "months",
    "Kwon 2011, Hung 2014; breast calibrated so treated patients reach Niu 2023 (7 months)",
    "Median survival after carcinosis onset with best supportive care",
)
CauseShares = keyed(
    "CauseShares",
    {"progression": 0.45, "bleeding": 0.25, "infection": 0.21, "dic": 0.04, "other": 0.05},
    0.0,
    1.0,
    "share",
    "Kwon 2011 (other = remainder)",
    "Share of the death hazard after carcinosis by cause, at reference grade",
    mix=True,
)


class Carcinosis(Section):
    """Bone marrow carcinosis: onset, cytopenias, death after onset."""

    probability: float = par(
        0.09,
        0,
        1,
        "probability",
        "source article (8-10% of patients with bone metastases)",
        "Share of the cohort who develop carcinosis during their course",
    )
    relative_risk: CarcinosisRR = section_field(CarcinosisRR, "Relative risk by primary")  # type: ignore[valid-type]
    onset_fraction: Beta = Field(
        default_factory=lambda: Beta(alpha=2.0, beta=1.0),
        description="Onset as a fraction of the patient's progression course (87% after bone metastasis: Demir 2014)",
    )
    cytopenia_at_onset: CytopeniaAtOnset = section_field(CytopeniaAtOnset, "Cytopenias present at onset")  # type: ignore[valid-type]
    initial_grade_mix: GradeMix = section_field(GradeMix, "Grade of a cytopenia at onset")  # type: ignore[valid-type]
    worsening_median_fraction: float = par(
        0.35,
        0.01,
        10,
        "fraction of median survival",
        ASSUMED,
        "Typical time for a falling count to cross one grade band, as a fraction of the primary's median survival after onset (the marrow fails at the pace of the disease; treatment slows both; labs.infiltration_rate_sd_log spreads it between patients)",
    )
    terminal_min_grade: int = par(
        4, 1, 4, "CTCAE grade", ASSUMED, "Terminal myelosuppression when every lineage is at this grade or worse (marrow failure)"
    )
    dic_probability: float = par(0.40, 0, 1, "probability", "retrospective series, n=54", "DIC in the course")
    leukoerythroblastic_probability: float = par(
        0.35, 0, 1, "probability", "retrospective series, n=54", "Leukoerythroblastic blood picture"
    )
    survival_median_months_bsc: CarcinosisMedianBSC = section_field(  # type: ignore[valid-type]
        CarcinosisMedianBSC, "Median survival after onset, best supportive care"
    )
    death_cause_shares: CauseShares = section_field(CauseShares, "Cause split of the death hazard after onset")  # type: ignore[valid-type]
    grade_hazard_ratio: tuple[float, float, float, float, float] = Field(
        (1.0, 1.0, 1.15, 1.3, 1.5),
        description="Multiplier of the bleeding (by thrombocytopenia grade) and infection (by leukopenia grade) death hazards, grades 0-4; grades 0-1 are the reference",
        json_schema_extra={"unit": "hazard ratio", "source": ASSUMED},
    )
    terminal_median_days: float = par(
        14.0, 0.1, 3650, "days", ASSUMED, "Median survival in terminal myelosuppression (best supportive care)"
    )
    remission_probability: float = par(
        0.02, 0, 1, "probability", ASSUMED + " (rare remission: source article)", "Remission after systemic treatment"
    )
    relapse_median_months: float = par(9.0, 0.01, 600, "months", ASSUMED, "Median time from remission to relapse")

    @model_validator(mode="after")
    def _grades(self) -> Carcinosis:
        if any(not (0 < g <= 100) for g in self.grade_hazard_ratio):
            raise ValueError("grade_hazard_ratio: each of the five multipliers must be in (0, 100]")
        return self


class Detection(Section):
    """How carcinosis is found: suspicion from the blood picture, scintigraphy, marrow biopsy."""

    suspicion_min_grade: int = par(2, 1, 4, "CTCAE grade", ASSUMED, "Cytopenia grade that raises suspicion")
    suspicion_median_days: float = par(14.0, 0, 3650, "days", ASSUMED, "Median time from suspicion-raising grade to work-up")
    scintigraphy_negative_probability: float = par(
        0.30, 0, 1, "probability", ASSUMED + " (scan may be negative: source article)", "Bone scan fails to point to the marrow"
    )
    delay_after_negative_scan_days: float = par(
        21.0, 0, 3650, "days", ASSUMED, "Further delay before biopsy after a negative scan"
    )
    biopsy_delay_days: float = par(7.0, 0, 3650, "days", ASSUMED, "From scan to marrow biopsy")
    biopsy_result_days: float = par(3.0, 0, 365, "days", ASSUMED, "From biopsy to diagnosis")


InfectionRate = keyed(
    "ComplicationRateByGrade",
    {"grade_0": 0.0, "grade_1": 0.05, "grade_2": 0.15, "grade_3": 0.40, "grade_4": 0.80},
    0.0,
    100.0,
    "per month",
    ASSUMED,
    "Hazard of an episode by grade of the relevant cytopenia",
)


class Complications(Section):
    """Non-fatal infections (by leukopenia grade) and bleeding (by thrombocytopenia grade)."""

    infection_rate_per_month: InfectionRate = section_field(InfectionRate, "Infection hazard by leukopenia grade")  # type: ignore[valid-type]
    bleeding_rate_per_month: InfectionRate = section_field(InfectionRate, "Bleeding hazard by thrombocytopenia grade")  # type: ignore[valid-type]
    severe_infection_probability: float = par(0.4, 0, 1, "probability", ASSUMED, "An infection needs admission")
    severe_bleeding_probability: float = par(0.3, 0, 1, "probability", ASSUMED, "A bleed needs admission and platelets")
    infection_admission_days: float = par(7.0, 0, 120, "days", ASSUMED, "Length of stay for a severe infection")
    bleeding_admission_days: float = par(4.0, 0, 120, "days", ASSUMED, "Length of stay for a severe bleed")
    max_episodes: int = par(10_000, 1, 1_000_000, "episodes", ASSUMED, "Safety cap on complication episodes per patient")


# ----------------------------------------------------------------------------- care


class Radiotherapy(Section):
    """External beam palliative radiotherapy."""

    single_fraction_share: float = par(0.5, 0, 1, "share", ASSUMED + " (policy)", "Courses given as a single 8 Gy fraction")
    multi_fraction_fractions: int = par(5, 2, 30, "fractions", ASSUMED + " (20 Gy in 5)", "Fractions in a multi-fraction course")
    routine_delay_days: float = par(7.0, 0, 365, "days", ASSUMED, "From referral to first fraction, routine")
    emergency_delay_days: float = par(1.0, 0, 30, "days", ASSUMED, "From cord compression to first fraction")
    response_probability: float = par(
        0.62, 0, 1, "probability", "Saito 2019; Chow 2012", "Pain response (single and multi-fraction alike)"
    )
    complete_response_probability: float = par(
        0.25, 0, 1, "probability", "Saito 2019; Chow 2012", "Complete pain response (part of the responses)"
    )
    response_share_by_end: float = par(
        0.67, 0, 1, "share of responders", "Truntzer 2013 (38% of 57%)", "Responders relieved by the last fraction"
    )
    response_share_by_day_8: float = par(
        0.95, 0, 1, "share of responders", "Truntzer 2013 (54% of 57%)", "Responders relieved by day 8 (the rest by day 30)"
    )
    retreatment_probability_single: float = par(
        0.20, 0, 1, "probability", "Sze (Cochrane)", "Re-treatment after a single fraction"
    )
    retreatment_probability_multi: float = par(
        0.08, 0, 1, "probability", "Sze (Cochrane)", "Re-treatment after a multi-fraction course"
    )
    retreatment_median_months: float = par(3.0, 0.01, 120, "months", ASSUMED, "Median time to re-treatment")

    @model_validator(mode="after")
    def _order(self) -> Radiotherapy:
        if self.complete_response_probability > self.response_probability:
            raise ValueError("complete_response_probability cannot exceed response_probability")
        if self.response_share_by_end > self.response_share_by_day_8:
            raise ValueError("response_share_by_end cannot exceed response_share_by_day_8")
        return self


class Radium(Section):
    """Radium-223 (prostate without visceral disease)."""

    uptake: float = par(0.5, 0, 1, "probability", ASSUMED, "Eligible patients offered radionuclides who get radium-223")
    injections: int = par(6, 1, 12, "injections", "Parker 2013 (ALSYMPCA)", "Injections per course")
    interval_days: float = par(28.0, 1, 365, "days", "Parker 2013 (ALSYMPCA)", "Interval between injections")
    death_hazard_ratio: float = par(
        0.70, 0.05, 2, "hazard ratio", "Parker 2013 (ALSYMPCA)", "Progression hazard ratio from the first injection"
    )
    grade34_thrombocytopenia_probability: float = par(
        0.07, 0, 1, "probability", "Parker 2013 (ALSYMPCA)", "Grade 3-4 thrombocytopenia per course"
    )
    grade34_neutropenia_probability: float = par(
        0.02, 0, 1, "probability", "Parker 2013 (ALSYMPCA)", "Grade 3-4 neutropenia per course"
    )


class StrontiumSamarium(Section):
    """Strontium-89 / samarium-153 (other primaries, or prostate not eligible for radium)."""

    response_probability: float = par(0.70, 0, 1, "probability", "Torre 2004 (65-80%)", "Pain relief")
    relief_months: float = par(2.5, 0.1, 24, "months", "Torre 2004 (8-12 weeks)", "Duration of relief")
    max_thrombocytopenia_grade: int = par(
        0,
        0,
        4,
        "CTCAE grade",
        "Torre 2004 (platelets > 100 x 10^9/L)",
        "Highest thrombocytopenia grade at which it is still given",
    )
    grade34_thrombocytopenia_probability: float = par(
        0.05, 0, 1, "probability", ASSUMED, "Grade 3-4 thrombocytopenia after an injection"
    )


class Radionuclide(Section):
    """Radionuclide therapy for bone pain."""

    radium223: Radium = section_field(Radium, "Radium-223")
    strontium_samarium: StrontiumSamarium = section_field(StrontiumSamarium, "Strontium-89 / samarium-153")
    nadir_recovery_days: float = par(42.0, 1, 365, "days", ASSUMED, "Time for a treatment nadir to recover")


class Chemotherapy(Section):
    """Systemic treatment at carcinosis diagnosis (chemotherapy, or endocrine therapy)."""

    uptake: float = par(
        0.6, 0, 1, "probability", "parameters brief (uptake 0.6)", "Patients diagnosed with carcinosis who start treatment"
    )
    death_hazard_ratio: float = par(
        0.3,
        0.01,
        2,
        "hazard ratio",
        "Kwon 2011 gap discounted for selection; " + ASSUMED,
        "Multiplier of the post-carcinosis death hazard on treatment",
    )
    cycles: int = par(6, 1, 24, "cycles", ASSUMED, "Planned cycles")
    interval_days: float = par(21.0, 1, 90, "days", ASSUMED, "Days between cycles")
    febrile_neutropenia_probability: float = par(
        0.10, 0, 1, "probability", "Shiota 2014 (docetaxel)", "Febrile neutropenia per line of treatment"
    )
    febrile_neutropenia_fatal_probability: float = par(0.05, 0, 1, "probability", ASSUMED, "Febrile neutropenia is fatal")
    nadir_factor: float = par(
        0.85,
        0.05,
        1,
        "fraction of the count",
        ASSUMED,
        "Blood counts at the nadir after a cycle, as a fraction of what they would be",
    )
    nadir_days: float = par(10.0, 0, 60, "days", ASSUMED, "How long the nadir after a cycle lasts")


class Transfusion(Section):
    """Red-cell and platelet transfusion, triggered by the blood counts."""

    rbc_threshold_g_dl: float = par(
        8.0,
        5.0,
        10.0,
        "g/dL",
        "liberal threshold (8 g/dL); restrictive is 7 g/dL (transfusion guidelines)",
        "Red cells when haemoglobin falls below this",
    )
    rbc_uptake: float = par(1.0, 0, 1, "probability", ASSUMED, "Patients at the trigger who are transfused")
    rbc_units_per_episode: int = par(2, 1, 10, "units", ASSUMED, "Red-cell units per episode")
    platelet_threshold_e9_l: float = par(
        25.0,
        5.0,
        100.0,
        "10^9/L",
        "CTCAE grade 4 boundary; prophylaxis at 10 is common (guidelines)",
        "Prophylactic platelets when the count falls below this",
    )
    platelet_uptake: float = par(1.0, 0, 1, "probability", ASSUMED, "Patients at the trigger who get prophylactic platelets")
    platelet_units_per_episode: int = par(1, 1, 10, "units", ASSUMED, "Platelet units per episode")


class Surgery(Section):
    """Orthopaedic or spinal surgery."""

    admission_days: float = par(10.0, 0, 120, "days", ASSUMED, "Length of stay for surgery")
    cord_compression_admission_days: float = par(10.0, 0, 120, "days", ASSUMED, "Length of stay for cord compression")


class Care(Section):
    """Palliative interventions (capacity of the services is unlimited here)."""

    radiotherapy: Radiotherapy = section_field(Radiotherapy, "External beam radiotherapy")
    radionuclide: Radionuclide = section_field(Radionuclide, "Radionuclide therapy")
    chemotherapy: Chemotherapy = section_field(Chemotherapy, "Systemic treatment at carcinosis diagnosis")
    transfusion: Transfusion = section_field(Transfusion, "Transfusion")
    surgery: Surgery = section_field(Surgery, "Surgery")


# ----------------------------------------------------------------------------- blood counts and calcium


# one grade boundary of a blood count (each list is checked against physiological ranges below)
Boundary = Annotated[float, Field(gt=0, le=1000)]


def _desc(t: tuple[float, ...]) -> bool:
    return all(a > b for a, b in zip(t, t[1:]))


class Labs(Section):
    """Haemoglobin, platelets, neutrophils and corrected calcium as trajectories (sim/kernel/labs.py)."""

    hb_baseline_mean_g_dl: float = par(13.2, 10, 17, "g/dL", ASSUMED + " (normal range)", "Mean haemoglobin at entry")
    hb_baseline_sd_g_dl: float = par(1.1, 0, 4, "g/dL", ASSUMED, "Spread of haemoglobin at entry")
    hb_baseline_min_g_dl: float = par(12.0, 5, 17, "g/dL", ASSUMED + " (lower limit of normal)", "Lowest haemoglobin at entry")
    hb_baseline_max_g_dl: float = par(16.5, 5, 20, "g/dL", ASSUMED, "Highest haemoglobin at entry")
    platelets_baseline_median_e9_l: float = par(
        250.0, 100, 600, "10^9/L", ASSUMED + " (normal range)", "Median platelet count at entry"
    )
    platelets_baseline_sd_log: float = par(0.25, 0, 2, "log scale", ASSUMED, "Spread of platelets at entry (log)")
    platelets_baseline_min_e9_l: float = par(
        150.0, 50, 600, "10^9/L", ASSUMED + " (lower limit of normal)", "Lowest platelet count at entry"
    )
    platelets_baseline_max_e9_l: float = par(450.0, 100, 1000, "10^9/L", ASSUMED, "Highest platelet count at entry")
    anc_baseline_median_e9_l: float = par(4.0, 1, 10, "10^9/L", ASSUMED + " (normal range)", "Median neutrophil count at entry")
    anc_baseline_sd_log: float = par(0.3, 0, 2, "log scale", ASSUMED, "Spread of neutrophils at entry (log)")
    anc_baseline_min_e9_l: float = par(
        2.0, 0.5, 10, "10^9/L", ASSUMED + " (lower limit of normal)", "Lowest neutrophil count at entry"
    )
    anc_baseline_max_e9_l: float = par(7.5, 1, 20, "10^9/L", ASSUMED, "Highest neutrophil count at entry")
    calcium_baseline_mean_mmol_l: float = par(
        2.35, 2.0, 2.7, "mmol/L", ASSUMED + " (normal range)", "Mean corrected calcium at entry"
    )
    calcium_baseline_sd_mmol_l: float = par(0.07, 0, 0.3, "mmol/L", ASSUMED, "Spread of corrected calcium at entry")
    calcium_baseline_min_mmol_l: float = par(2.2, 1.8, 2.7, "mmol/L", ASSUMED, "Lowest corrected calcium at entry")
    calcium_baseline_max_mmol_l: float = par(
        2.6, 2.0, 2.9, "mmol/L", ASSUMED + " (upper limit of normal)", "Highest corrected calcium at entry"
    )
    anemia_thresholds_g_dl: tuple[Boundary, Boundary, Boundary, Boundary] = Field(
        (12.0, 10.0, 8.0, 6.5),
        description="Haemoglobin below which anemia is grade 1, 2, 3, 4 (descending)",
        json_schema_extra={"unit": "g/dL", "source": "CTCAE v5 (grade 4 boundary assumed: life-threatening)"},
    )
    platelet_thresholds_e9_l: tuple[Boundary, Boundary, Boundary, Boundary] = Field(
        (150.0, 75.0, 50.0, 25.0),
        description="Platelet count below which thrombocytopenia is grade 1, 2, 3, 4 (descending)",
        json_schema_extra={"unit": "10^9/L", "source": "CTCAE v5"},
    )
    anc_thresholds_e9_l: tuple[Boundary, Boundary, Boundary, Boundary] = Field(
        (2.0, 1.5, 1.0, 0.5),
        description="Neutrophil count below which leukopenia (neutropenia) is grade 1, 2, 3, 4 (descending)",
        json_schema_extra={"unit": "10^9/L", "source": "CTCAE v5"},
    )
    calcium_threshold_mmol_l: float = par(
        2.9,
        2.6,
        3.5,
        "mmol/L",
        "CTCAE v5 grade 2 hypercalcemia",
        "Corrected calcium above which an episode of hypercalcemia is recognised",
    )
    calcium_peak_excess_mean_mmol_l: float = par(
        0.3, 0, 2, "mmol/L", ASSUMED, "Mean of how far calcium rises above the threshold (exponential)"
    )
    calcium_rise_days: float = par(
        30.0, 1, 365, "days", ASSUMED, "Days over which calcium rises to the threshold before an episode"
    )
    calcium_half_life_days: float = par(3.0, 0.5, 60, "days", ASSUMED, "Half-life of the fall of calcium with treatment")
    infiltration_rate_sd_log: float = par(
        0.5, 0, 3, "log scale", ASSUMED, "Spread between patients of how fast the marrow is infiltrated (log-normal multiplier)"
    )
    rbc_increment_g_dl: float = par(
        1.0, 0.2, 3, "g/dL per unit", "about 1 g/dL per unit (transfusion handbooks)", "Rise of haemoglobin per red-cell unit"
    )
    rbc_half_life_days: float = par(50.0, 1, 200, "days", ASSUMED, "Half-life of transfused red cells")
    platelet_increment_e9_l: float = par(
        25.0, 1, 100, "10^9/L per unit", ASSUMED + " (20-40 per adult dose)", "Rise of the platelet count per unit"
    )
    platelet_half_life_days: float = par(4.0, 0.5, 20, "days", ASSUMED, "Half-life of transfused platelets")
    monitoring_interval_days: float = par(
        30.0, 0, 365, "days", ASSUMED, "Blood tests at visits this far apart (0: the blood picture is seen as it changes)"
    )
    keep_patients: int = par(
        200,
        -1,
        10_000_000,
        "patients",
        ASSUMED,
        "Trajectories written to labs.parquet for the first this many patients (-1: all)",
    )

    @model_validator(mode="after")
    def _physiological(self) -> Labs:
        checks = [
            ("anemia_thresholds_g_dl", self.anemia_thresholds_g_dl, 3.0, 16.0),
            ("platelet_thresholds_e9_l", self.platelet_thresholds_e9_l, 1.0, 400.0),
            ("anc_thresholds_e9_l", self.anc_thresholds_e9_l, 0.05, 10.0),
        ]
        for name, t, lo, hi in checks:
            if not _desc(t) or t[-1] < lo or t[0] > hi:
                raise ValueError(f"{name} must fall from grade 1 to grade 4 within {lo}-{hi} (got {list(t)})")
        for name, lo_, hi_ in (
            ("hb", self.hb_baseline_min_g_dl, self.hb_baseline_max_g_dl),
            ("platelets", self.platelets_baseline_min_e9_l, self.platelets_baseline_max_e9_l),
            ("anc", self.anc_baseline_min_e9_l, self.anc_baseline_max_e9_l),
            ("calcium", self.calcium_baseline_min_mmol_l, self.calcium_baseline_max_mmol_l),
        ):
            if lo_ >= hi_:
                raise ValueError(f"{name}_baseline min must be below max (got {lo_} and {hi_})")
        if self.calcium_baseline_max_mmol_l >= self.calcium_threshold_mmol_l:
            raise ValueError("calcium_baseline_max_mmol_l must be below calcium_threshold_mmol_l")
        return self


# ----------------------------------------------------------------------------- services


class Service(Section):
    """One service: places (capacity), how long a use holds one, working pattern, costs."""

    capacity: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        strict=False,
        description="Places that can be in use at once (linac slots, chairs, beds ...); null = unlimited",
        json_schema_extra={"unit": "places", "source": ASSUMED},
    )
    duration_days: float = par(
        1.0, 0, 365, "days", ASSUMED, "How long one use holds a place (radiotherapy: the course's fraction days; beds: the stay)"
    )
    weekdays_only: bool = Field(
        False,
        description="Uses start on weekdays only (with finite capacity)",
        json_schema_extra={"unit": "on/off", "source": ASSUMED},
    )
    unit: str = Field(
        "uses",
        max_length=40,
        description="What the units of this service count",
        json_schema_extra={"unit": "label", "source": ASSUMED},
    )
    cost_per_use: float = par(0.0, 0, 1e7, "currency per use", ASSUMED, "Cost of one use")
    cost_per_unit: float = par(
        0.0, 0, 1e7, "currency per unit", ASSUMED, "Cost of one unit (fraction, cycle, blood unit, bed-day ...)"
    )

    @field_validator("capacity", mode="before")
    @classmethod
    def _integer_capacity(cls, c: object) -> object:
        if isinstance(c, bool) or (isinstance(c, float) and not c.is_integer()):
            raise ValueError("capacity must be a whole number of places (1 or more), or null for unlimited")
        return c


def _svc(duration: float, weekdays: bool, unit: str) -> object:
    return Field(default_factory=lambda: Service(duration_days=duration, weekdays_only=weekdays, unit=unit))


class Services(Section):
    """The services of the conceptual model; each unlimited unless a capacity is set."""

    radiotherapy: Service = _svc(1.0, True, "fractions")  # type: ignore[assignment]
    nuclear_medicine: Service = _svc(1.0, True, "injections and scans")  # type: ignore[assignment]
    chemotherapy: Service = _svc(0.5, True, "cycles")  # type: ignore[assignment]
    transfusion: Service = _svc(0.5, False, "blood units")  # type: ignore[assignment]
    beds: Service = _svc(1.0, False, "bed-days")  # type: ignore[assignment]
    theatre: Service = _svc(0.25, True, "operations")  # type: ignore[assignment]
    biopsy: Service = _svc(0.5, True, "biopsies")  # type: ignore[assignment]


class Costs(Section):
    """Costing of service use."""

    discount_rate_per_year: float = par(0.0, 0, 0.2, "per year", ASSUMED, "Discount rate for costs by year of the horizon")
    currency: str = Field(
        "EUR", max_length=10, description="Currency of the unit costs", json_schema_extra={"unit": "label", "source": ASSUMED}
    )


class Population(Section):
    """Population mode: patients arrive over years as a Poisson process."""

    horizon_years: float = par(10.0, 0.1, 100, "years", ASSUMED, "Length of the simulated period")
    warmup_years: float = par(2.0, 0, 99, "years", ASSUMED, "Initial period excluded from results")
    annual_incidence: float | None = Field(
        None,
        gt=0,
        le=10_000_000,
        description="New patients with bone metastases per year (or give population_size and incidence_per_100k)",
        json_schema_extra={"unit": "patients per year", "source": ASSUMED},
    )
    population_size: int | None = Field(
        None,
        ge=1,
        le=2_000_000_000,
        description="Population of the region",
        json_schema_extra={"unit": "people", "source": ASSUMED},
    )
    incidence_per_100k: float | None = Field(
        None,
        gt=0,
        le=100_000,
        description="New patients with bone metastases per 100,000 people per year",
        json_schema_extra={"unit": "per 100,000 per year", "source": ASSUMED},
    )
    prevalent_patients: int = par(
        0, 0, 10_000_000, "patients", ASSUMED, "Patients already in care at time 0 (they enter at time 0)"
    )

    @model_validator(mode="after")
    def _rate(self) -> Population:
        by_pop = self.population_size is not None or self.incidence_per_100k is not None
        if self.annual_incidence is not None and by_pop:
            raise ValueError("give either annual_incidence or population_size with incidence_per_100k, not both")
        if self.annual_incidence is None and not (self.population_size and self.incidence_per_100k):
            raise ValueError("set annual_incidence, or both population_size and incidence_per_100k")
        if self.warmup_years >= self.horizon_years:
            raise ValueError(f"warmup_years ({self.warmup_years}) must be shorter than horizon_years ({self.horizon_years})")
        return self

    @property
    def arrivals_per_year(self) -> float:
        if self.annual_incidence is not None:
            return self.annual_incidence
        return float(self.population_size or 0) * float(self.incidence_per_100k or 0) / 100_000


# ----------------------------------------------------------------------------- scenario


def _check_uncertainty(mapping: dict[str, Distribution]) -> dict[str, Distribution]:
    return check_uncertainty(mapping, Scenario)


# the value type is Annotated so the mapping reads as one parameter (not a section) to sim.scenario.authoring and sim.scenario.loader
UncertaintyMap = Annotated[
    dict[str, Annotated[Distribution, Field(description="A distribution with its source")]], AfterValidator(_check_uncertainty)
]


class Scenario(Section):
    """A complete, validated scenario. Parameters are illustrative, not clinically validated."""

    name: str = Field("baseline", min_length=1, max_length=100, description="Short name of the scenario")
    description: str = Field("", max_length=5000, description="What question the scenario answers")
    mode: Literal["cohort", "population"] = Field(
        "cohort",
        description="Entry: cohort (run.patients at time 0) or population (Poisson arrivals over population.horizon_years)",
    )
    run: Run = section_field(Run, "Run settings")
    cohort: Cohort = section_field(Cohort, "Entry")
    progression: Progression = section_field(Progression, "Progression to death")
    other_mortality: OtherMortality = section_field(OtherMortality, "Other-cause mortality")
    sre: Sre = section_field(Sre, "Skeletal-related events")
    pain: Pain = section_field(Pain, "Bone pain")
    hypercalcemia: Hypercalcemia = section_field(Hypercalcemia, "Hypercalcemia")
    carcinosis: Carcinosis = section_field(Carcinosis, "Bone marrow carcinosis")
    detection: Detection = section_field(Detection, "Detection of carcinosis")
    complications: Complications = section_field(Complications, "Infections and bleeding")
    care: Care = section_field(Care, "Palliative care")
    labs: Labs = section_field(Labs, "Blood counts and calcium")
    services: Services = section_field(Services, "Services and their capacity")
    costs: Costs = section_field(Costs, "Costs")
    population: Population | None = Field(None, description="Population mode settings (required when mode is population)")

    @model_validator(mode="after")
    def _mode(self) -> Scenario:
        if self.mode == "population" and self.population is None:
            raise ValueError(
                "mode is population: add a population section with annual_incidence (or population_size and incidence_per_100k)"
            )
        return self

    utilities: Utilities | None = Field(None, description=UTILITIES_DOC)
    uncertainty: UncertaintyMap = Field(
        default_factory=dict,
        description=UNCERTAINTY_DOC,
        json_schema_extra=UNCERTAINTY_EXTRA,  # type: ignore[arg-type]
        exclude=UNCERTAINTY_EXCLUDE,
    )

    @model_validator(mode="after")
    def _bounded(self) -> Scenario:
        """Refuse what would make a run run away or leave its folder: a name that
        is a path (it names the results folder), an upper bound of more than
        10,000 recurrent events per patient, more than 10,000,000 patients."""
        n = self.name
        if not n.strip(" .") or n.startswith(".") or any(c in "/\\" or ord(c) < 32 or ord(c) == 127 for c in n):
            raise ValueError(
                f"name {n!r}: use a plain name without / or \\, control characters or a leading dot (it names the results folder)"
            )
        pop = self.population if self.mode == "population" else None
        months = pop.horizon_years * 12 if pop is not None else self.run.horizon_months
        s, h, c = self.sre, self.hypercalcemia, self.complications
        first_rates = s.first_rate_per_month.model_dump().values()  # type: ignore[attr-defined]
        agent_hrs = s.agent_hazard_ratio.model_dump().values()  # type: ignore[attr-defined]
        sre_rate = max(*first_rates, s.later_rate_per_month) * max(1.0, *agent_hrs)
        hyper = 1.0 if h.recurrence_probability < 1 and h.probability == 0 else months / h.recurrence_median_months
        if h.recurrence_probability < 1:
            hyper = min(hyper, 1 / (1 - h.recurrence_probability))
        infection = c.infection_rate_per_month.model_dump().values()  # type: ignore[attr-defined]
        bleeding = c.bleeding_rate_per_month.model_dump().values()  # type: ignore[attr-defined]
        compl = (max(infection) + max(bleeding)) * months
        bound = {
            "sre": min(s.max_events, sre_rate * months),
            "pain": min(self.pain.max_episodes, self.pain.rate_per_month * months),
            "hypercalcemia": min(h.max_episodes, hyper),
            "complications": min(c.max_episodes, compl),
        }
        if sum(bound.values()) > 10_000:
            worst = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(bound.items(), key=lambda kv: -kv[1]) if v >= 1)
            raise ValueError(
                f"up to {sum(bound.values()):,.0f} recurrent events per patient over {months:,.0f} months ({worst}); "
                "lower the rates (sre.*_rate_per_month, pain.rate_per_month, complications.*), the horizon, or the safety caps "
                "(sre.max_events, pain.max_episodes, hypercalcemia.max_episodes, complications.max_episodes) so at most 10,000 remain"
            )
        if pop is not None and pop.arrivals_per_year * pop.horizon_years + pop.prevalent_patients > 10_000_000:
            raise ValueError(
                f"population: {pop.arrivals_per_year * pop.horizon_years + pop.prevalent_patients:,.0f} patients expected "
                "(population.annual_incidence x population.horizon_years + population.prevalent_patients); at most 10,000,000 per run"
            )
        return self


def has_finite_service(scenario: Scenario) -> bool:
    """Whether any service has a capacity (then requests queue on it)."""
    services = scenario.services
    return any(getattr(services, n).capacity is not None for n in type(services).model_fields)


def patients_interact(scenario: Scenario) -> bool:
    """Whether patients affect each other: population mode or a finite service.
    Then their courses share one SimPy environment; otherwise each course is
    independent (run in any chunks, or one patient alone, with the same result)."""
    return scenario.mode == "population" or has_finite_service(scenario)


__all__ = ["Scenario", "PRIMARIES", "AGENTS", "LINEAGES", "has_finite_service", "patients_interact"]
