"""Bone marrow carcinosis course simulator: a discrete-event simulation
(SimPy) of patients with bone metastases.

Parameters are illustrative, not clinically validated.

Public API::

    from sim import load_scenario, simulate
    scenario = load_scenario("scenarios/baseline.yaml", ["run.patients=1000"])
    result = simulate(scenario)          # result.patients, result.events
"""

from __future__ import annotations

__version__ = "0.1.0"

from .engine import RunResult, simulate
from .loader import ScenarioError, load_scenario, with_overrides
from .params import ILLUSTRATIVE
from .scenario import Scenario

__all__ = ["__version__", "Scenario", "ScenarioError", "RunResult", "load_scenario", "with_overrides", "simulate", "ILLUSTRATIVE"]
