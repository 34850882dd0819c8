"""Parameter uncertainty in scenario files, and utility weights for QALYs.

A scenario's top-level ``uncertainty:`` mapping gives, for any real-valued
parameter (by its dotted path), a distribution with its source::

    uncertainty:
      carcinosis.probability: {distribution: beta, mean: 0.09, sd: 0.005, source: "8-10% (source article)"}
      progression.hazard_ratio_after_sre: {distribution: lognormal, low: 1.2, high: 1.63, source: "Norgaard 2010"}
      cohort.primary_mix: {distribution: dirichlet, concentration: 200, source: "Svensson 2017 (n about 200 assumed)"}

Distributions and their parameters (one form per line):

- ``beta``: ``alpha`` and ``beta``; or ``mean`` and ``sd`` (probabilities and
  shares only: parameters bounded in [0, 1]);
- ``gamma``: ``shape`` and ``scale``; or ``mean`` and ``sd`` (rates, times, costs);
- ``lognormal``: ``median`` and ``sd_log``; or ``low`` and ``high``, its 2.5th
  and 97.5th percentiles (hazard ratios, relative risks);
- ``uniform``: ``low`` and ``high``; ``triangular``: ``low``, ``mode`` and ``high``;
- ``dirichlet`` (the path of a mix section, e.g. ``cohort.primary_mix``):
  ``alpha`` (one positive number per share) or ``concentration`` (alpha =
  concentration x the scenario's shares).

An ``sd`` of 0 (or ``low`` equal to ``high``) is a point mass: the value does
not vary.  The loader checks that the path names a parameter, that the
distribution fits it (beta only where the range is within [0, 1]; uniform and
triangular within the range; for gamma and lognormal the 2.5th and 97.5th
percentiles within the range), and that its parameters are valid.  Draws are
taken by the inverse distribution function from uniforms and truncated to the
parameter's range (``sample``); the one-way analysis uses the 2.5th and 97.5th
percentiles (``low_high``).

Parameters are illustrative, not clinically validated.
"""

from __future__ import annotations

from typing import Any

from sim.scenario.distributions import (
    DISTRIBUTIONS,
    FORMS,
    HIGH_Q,
    LOW_Q,
    UNCERTAINTY_DOC,
    UNCERTAINTY_EXCLUDE,
    UNCERTAINTY_EXTRA,
    UTILITIES_DOC,
    Z975,
    Distribution,
    Utilities,
    keep_uncertainty,
    spread_mix,
    uncertainty_dump,
)
from sim.scenario.distributions import path_problem as _path_problem
from sim.scenario.distributions import resolve as _resolve
from sim.scenario.distributions import unknown_path_problem as _unknown_path_problem
from sim.scenario.fields import bounds, is_mix
from sim.scenario.loader import resolved_yaml
from sim.scenario.model import Scenario

__all__ = [
    "DISTRIBUTIONS",
    "FORMS",
    "HIGH_Q",
    "LOW_Q",
    "UNCERTAINTY_DOC",
    "UNCERTAINTY_EXCLUDE",
    "UNCERTAINTY_EXTRA",
    "UTILITIES_DOC",
    "Z975",
    "Distribution",
    "Utilities",
    "bounds",
    "full_yaml",
    "is_mix",
    "keep_uncertainty",
    "path_problem",
    "resolve",
    "spread_mix",
    "uncertainty_dump",
    "unknown_path_problem",
]


def resolve(path: str) -> tuple[Any, Any, Any]:
    """(parent model, field info, section model or None) of a dotted path of the scenario; KeyError if unknown."""
    return _resolve(path, Scenario)


def unknown_path_problem(path: str) -> str | None:
    """Why ``path`` names no parameter of the scenario (None if it names one)."""
    return _unknown_path_problem(path, Scenario)


def path_problem(path: str, spec: Distribution) -> str | None:
    """Why a distribution cannot apply to the parameter at ``path`` (None if it can)."""
    return _path_problem(path, spec, Scenario)


def full_yaml(scenario: Any) -> str:
    """The resolved scenario as YAML with its uncertainty mapping (reproduces a PSA on its own)."""
    import yaml

    text = resolved_yaml(scenario)
    if scenario.uncertainty:
        text += yaml.safe_dump({"uncertainty": uncertainty_dump(scenario)}, sort_keys=False, allow_unicode=True)
    return text
