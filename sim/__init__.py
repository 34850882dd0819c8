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

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for type checkers; at run time they are imported on first use
    from sim.engine.simulate import RunResult, simulate
    from sim.scenario.fields import ILLUSTRATIVE
    from sim.scenario.loader import ScenarioError, load_scenario, with_overrides
    from sim.scenario.model import Scenario

# The names below are imported on first use (PEP 562), so ``import sim`` (or
# ``import sim.scenario.fields``) loads neither pandas, pyarrow nor SimPy.
# Importing any module of :mod:`sim.kernel` chooses the kernel first
# (compiled if a current build exists, else the Python sources).
_LAZY = {
    "RunResult": "sim.engine.simulate",
    "simulate": "sim.engine.simulate",
    "ScenarioError": "sim.scenario.loader",
    "load_scenario": "sim.scenario.loader",
    "with_overrides": "sim.scenario.loader",
    "ILLUSTRATIVE": "sim.scenario.fields",
    "Scenario": "sim.scenario.model",
}

__all__ = ["__version__", "Scenario", "ScenarioError", "RunResult", "load_scenario", "with_overrides", "simulate", "ILLUSTRATIVE"]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
