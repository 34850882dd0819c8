"""The sections of care and its resources: palliative care, blood counts and
calcium (labs), services and their capacity, costs and population mode, in
the order of the conceptual model (docs/model.md).

Parameters are illustrative, not clinically validated.  Sources abbreviate
the references listed in docs/model.md; ``assumed`` marks a value chosen by
the modellers.  :class:`sim.scenario.model.Scenario` gathers them with the
sections of :mod:`sim.scenario.course`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from sim.scenario.fields import ASSUMED, Section, par, section_field

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
