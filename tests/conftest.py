"""Shared fixtures: small scenarios built from the defaults with overrides."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim import Scenario, simulate, with_overrides  # noqa: E402
from sim.scenario.fields import PRIMARIES  # noqa: E402

SCENARIOS = ROOT / "scenarios"

# every process except progression switched off
QUIET: dict[str, Any] = {
    **{f"sre.first_rate_per_month.{p}": 0.0 for p in PRIMARIES},
    "sre.later_rate_per_month": 0.0,
    "pain.rate_per_month": 0.0,
    "hypercalcemia.probability": 0.0,
    "carcinosis.probability": 0.0,
    "other_mortality.enabled": False,
}


def make(overrides: dict[str, Any] | None = None, patients: int = 1000, seed: int = 7) -> Scenario:
    return with_overrides(Scenario(), {"run.patients": patients, "run.seed": seed, **(overrides or {})})


def run(overrides: dict[str, Any] | None = None, patients: int = 1000, seed: int = 7, **kw: Any):
    return simulate(make(overrides, patients, seed), **kw)


@pytest.fixture(scope="session")
def baseline_20k():
    """The default scenario at 20,000 patients (shared by the calibration tests)."""
    return run(patients=20_000, seed=20261125, keep_events=False)


# ----------------------------------------------------------------------------- fuzzing figures

FUZZ_COUNTS: dict[str, int] = {}


def fuzz_count(kind: str) -> None:
    """Count one generated input (tests/system/test_fuzz.py); the totals are printed at the end."""
    FUZZ_COUNTS[kind] = FUZZ_COUNTS.get(kind, 0) + 1


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    if not FUZZ_COUNTS:
        return
    terminalreporter.section("fuzzed inputs")
    for kind, n in sorted(FUZZ_COUNTS.items()):
        terminalreporter.write_line(f"{n:6d}  {kind}")
    terminalreporter.write_line(f"{sum(FUZZ_COUNTS.values()):6d}  inputs tried in total")


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Child processes of a test; whatever is still running is killed afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            for child in _children(p.pid):
                child.kill()
            p.kill()
        p.wait(timeout=30)


def _children(pid: int) -> list[Any]:
    """Every descendant process of ``pid`` (none if it has gone)."""
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
