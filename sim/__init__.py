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

from . import kernel as _kernel

_kernel.load()  # the course kernel: compiled if a current build exists, else the Python sources

from .engine import RunResult, simulate  # noqa: E402 (after the kernel is chosen)
from .loader import ScenarioError, load_scenario, with_overrides  # noqa: E402
from .params import ILLUSTRATIVE  # noqa: E402
from .scenario import Scenario  # noqa: E402

__all__ = ["__version__", "Scenario", "ScenarioError", "RunResult", "load_scenario", "with_overrides", "simulate", "ILLUSTRATIVE"]
