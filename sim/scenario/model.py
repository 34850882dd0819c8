"""The scenario: every section of the model, in the order of the conceptual
model (docs/model.md), gathered in one validated :class:`Scenario`, with the
helpers that read it as a whole (:func:`patients_interact`).

The sections are declared in :mod:`sim.scenario.course` (the course of a
patient) and :mod:`sim.scenario.care` (care, labs, services, costs,
population).  Parameters are illustrative, not clinically validated.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from sim.scenario.care import Care, Costs, Labs, Population, Services
from sim.scenario.course import (
    Carcinosis,
    Cohort,
    Complications,
    Detection,
    Hypercalcemia,
    OtherMortality,
    Pain,
    Progression,
    Run,
    Sre,
)
from sim.scenario.distributions import (
    UNCERTAINTY_DOC,
    UNCERTAINTY_EXCLUDE,
    UNCERTAINTY_EXTRA,
    UTILITIES_DOC,
    Distribution,
    Utilities,
    check_uncertainty,
)
from sim.scenario.fields import AGENTS, LINEAGES, PRIMARIES, Section, section_field

# ----------------------------------------------------------------------------- scenario


def _check_uncertainty(mapping: dict[str, Distribution]) -> dict[str, Distribution]:
    return check_uncertainty(mapping, Scenario)


# the value type is Annotated so the mapping reads as one parameter (not a section) to sim.scenario.reference and sim.scenario.loader
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
