"""The sections of the course of a patient: run settings, entry (cohort),
progression, other-cause mortality, skeletal-related events, pain,
hypercalcemia, bone marrow carcinosis, its detection and complications, in
the order of the conceptual model (docs/model.md).

Parameters are illustrative, not clinically validated.  Sources abbreviate
the references listed in docs/model.md; ``assumed`` marks a value chosen by
the modellers, ``calibrated`` one fitted so the whole model meets a
published figure (docs/calibration.md says how).  :class:`sim.scenario.model.Scenario`
gathers them with the sections of :mod:`sim.scenario.care`.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from sim.scenario.fields import ASSUMED, PRIMARIES, Section, keyed, par, section_field

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
