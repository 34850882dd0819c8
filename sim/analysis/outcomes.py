"""The outcome catalogue: every headline outcome once, with its label, unit,
format and where it is read in a run's summary, and the lists of outcomes
that the report, the dashboard, the replications, compare and the PSA show.

A run's summary (:func:`sim.analysis.summary.outcomes`) is a nested document;
``Outcome.key`` is the dotted path of the outcome in it.  An outcome with an
interval (``interval=True``) is a node ``{"estimate", "ci95", ...}`` there and
its flattened name (a column of the replications table,
:func:`sim.experiments.replications.flatten`) is ``key + ".estimate"``; the
others are plain numbers.  ``psa`` is the column of the outcome in a PSA table
(:func:`sim.experiments.psa_draws.outcomes_of`), where it is computed without
intervals; an outcome only the PSA has (life-years, costs, QALYs) has no key.

Standard library only: importing it loads nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "CATALOGUE",
    "COMPARE",
    "HEADLINE",
    "PRECISION",
    "PSA",
    "REPLICATIONS_TABLE",
    "REPORT_HEADLINE",
    "Outcome",
    "flat_labels",
    "psa_labels",
]


@dataclass(frozen=True)
class Outcome:
    """One outcome: its name, where it is read, how it is labelled and shown."""

    name: str  # short identifier, used by the lists below
    key: str | None  # dotted path in a run's summary outcomes (None: the PSA alone computes it)
    label: str  # the short label of tables, figures and the PSA's results
    title: str  # the report's line for it
    unit: str  # "proportion", "months", "per patient", "QALYs per patient", ...
    fmt: str  # "pct" (shown as a percentage) or "num"
    interval: bool = False  # a node with an estimate and a 95% interval (else a plain number)
    psa: str | None = None  # its column in a PSA table

    @property
    def flat(self) -> str:
        """Its flattened name in a replications table (``key.estimate`` for a node with an interval)."""
        if self.key is None:
            raise ValueError(f"{self.name} is not in a run's summary (the PSA computes it)")
        return f"{self.key}.estimate" if self.interval else self.key

    def read(self, outcomes: dict[str, Any]) -> Any:
        """Its node (or number) in a run's summary outcomes; None where absent."""
        if self.key is None:
            return None
        node: Any = outcomes
        for part in self.key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    def value(self, outcomes: dict[str, Any]) -> float | None:
        """Its estimate in a run's summary outcomes (None where absent or not estimable)."""
        node = self.read(outcomes)
        if isinstance(node, dict):
            node = node.get("estimate")
        return None if node is None else float(node)


_P, _N = "pct", "num"

CATALOGUE: dict[str, Outcome] = {
    o.name: o
    for o in (
        Outcome(
            "carcinosis",
            "carcinosis.proportion",
            "carcinosis (proportion)",
            "Bone marrow carcinosis during the course",
            "proportion",
            _P,
            True,
            "carcinosis_proportion",
        ),
        Outcome(
            "carcinosis_diagnosed",
            "carcinosis.diagnosed_proportion_of_carcinosis",
            "carcinosis diagnosed (share)",
            "… of which diagnosed",
            "proportion",
            _P,
            True,
        ),
        Outcome(
            "carcinosis_chemotherapy",
            "carcinosis.chemotherapy_proportion_of_diagnosed",
            "diagnosed carcinosis given chemotherapy (share)",
            "… of the diagnosed, given chemotherapy",
            "proportion",
            _P,
            True,
        ),
        Outcome(
            "hypercalcemia",
            "hypercalcemia.proportion",
            "hypercalcemia (proportion)",
            "Hypercalcemia (at least one episode)",
            "proportion",
            _P,
            True,
            "hypercalcemia_proportion",
        ),
        Outcome(
            "sre_any",
            "sre.proportion_with_any",
            "any SRE (proportion)",
            "Any skeletal-related event",
            "proportion",
            _P,
            True,
            "sre_any_proportion",
        ),
        Outcome(
            "cord_compression",
            "sre.cord_compression_proportion",
            "cord compression (proportion)",
            "Spinal cord compression",
            "proportion",
            _P,
            True,
        ),
        Outcome(
            "sre_per_patient",
            "sre.mean_per_patient",
            "SREs per patient",
            "Skeletal-related events per patient (mean)",
            "per patient",
            _N,
            False,
            "sre_per_patient",
        ),
        Outcome(
            "median_survival",
            "survival.median_months",
            "median survival (months)",
            "Median survival (months)",
            "months",
            _N,
            True,
            "median_survival_months",
        ),
        Outcome(
            "alive_12",
            "survival.at_12_months.overall",
            "alive at 12 months (proportion)",
            "Alive at 12 months",
            "proportion",
            _P,
            True,
            "alive_12_months",
        ),
        Outcome(
            "alive_60",
            "survival.at_60_months.overall",
            "alive at 60 months (proportion)",
            "Alive at 60 months",
            "proportion",
            _P,
            True,
        ),
        Outcome(
            "life_years",
            None,
            "life-years per patient (within the horizon)",
            "Life-years per patient (within the horizon)",
            "years per patient",
            _N,
            False,
            "life_years",
        ),
        Outcome(
            "radiotherapy",
            "care.radiotherapy_courses.per_patient",
            "radiotherapy courses per patient",
            "Radiotherapy courses per patient",
            "per patient",
            _N,
            False,
            "radiotherapy_courses_per_patient",
        ),
        Outcome(
            "rbc_units",
            "care.rbc_units.per_patient",
            "red-cell units per patient",
            "Red-cell units per patient",
            "per patient",
            _N,
            False,
            "rbc_units_per_patient",
        ),
        Outcome(
            "bed_days",
            "care.bed_days.per_patient",
            "bed-days per patient",
            "Bed-days per patient",
            "per patient",
            _N,
            False,
            "bed_days_per_patient",
        ),
        Outcome(
            "cost",
            None,
            "discounted cost per patient",
            "Discounted cost per patient",
            "cost per patient",
            _N,
            False,
            "cost_per_patient",
        ),
        Outcome(
            "qalys",
            None,
            "discounted QALYs per patient",
            "Discounted QALYs per patient",
            "QALYs per patient",
            _N,
            False,
            "qalys_per_patient",
        ),
    )
}

# the headline outcomes of a run (the dashboard's table); --replications auto watches their precision
HEADLINE = ("carcinosis", "hypercalcemia", "sre_any", "median_survival", "alive_12")
PRECISION = HEADLINE
# the report's headline table, in its order
REPORT_HEADLINE = (
    "carcinosis",
    "carcinosis_diagnosed",
    "carcinosis_chemotherapy",
    "hypercalcemia",
    "sre_any",
    "cord_compression",
    "median_survival",
    "alive_12",
    "alive_60",
)
# the report's table across replications
REPLICATIONS_TABLE = (*PRECISION, "carcinosis_diagnosed", "cord_compression", "alive_60", "sre_per_patient", "bed_days")
# compare's paired differences
COMPARE = (
    "carcinosis",
    "hypercalcemia",
    "median_survival",
    "alive_12",
    "sre_per_patient",
    "radiotherapy",
    "rbc_units",
    "bed_days",
)
# the PSA's outcome columns, in its order
PSA = (
    "carcinosis",
    "hypercalcemia",
    "sre_any",
    "sre_per_patient",
    "median_survival",
    "alive_12",
    "life_years",
    "radiotherapy",
    "rbc_units",
    "bed_days",
    "cost",
    "qalys",
)


def flat_labels(names: tuple[str, ...]) -> dict[str, str]:
    """Flattened name -> label of the outcomes ``names`` (a replications table's columns)."""
    return {CATALOGUE[n].flat: CATALOGUE[n].label for n in names}


def psa_labels(names: tuple[str, ...] = PSA) -> dict[str, str]:
    """PSA column -> label of the outcomes ``names``."""
    out: dict[str, str] = {}
    for n in names:
        col = CATALOGUE[n].psa
        if col is None:
            raise ValueError(f"{n} is not a PSA outcome")
        out[col] = CATALOGUE[n].label
    return out
