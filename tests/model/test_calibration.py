"""The default scenario against its calibration targets, as a whole model.

20,000 patients (seed 20261125). Tolerance: each published figure's range
in sim/analysis/targets.py, which is at least 4 standard errors of the model's
estimate at this size for the cohort-level figures (carcinosis: SE 0.002 vs
range +-0.01; hypercalcemia: SE 0.0015 vs +-0.01; prostate 1-year survival,
n ~ 6,800: SE 0.006 vs +-0.03).
"""

import math

import pytest

from sim.analysis.targets import TARGETS, model_values

# held out and known not to be met (docs/calibration.md explains why)
KNOWN_MISSES = {"os12_thyroid"}
# too few such patients in the baseline (about 120) for its range: tested on a dedicated cohort below
DEDICATED = {"breast_carc_median_treated"}


@pytest.fixture(scope="module")
def values(baseline_20k):
    return model_values(baseline_20k.patients)


@pytest.mark.parametrize("target", [t for t in TARGETS if t.key not in KNOWN_MISSES | DEDICATED], ids=lambda t: t.key)
def test_target_within_published_range(values, target):
    v = values[target.key]
    assert math.isfinite(v)
    assert target.low <= v <= target.high, f"{target.label}: model {v:.3g}, published {target.value} ({target.low}-{target.high})"


def test_headline_proportions(baseline_20k):
    df = baseline_20k.patients
    assert 0.08 <= df["carcinosis_onset_months"].notna().mean() <= 0.10
    assert 0.04 <= df["hypercalcemia_months"].notna().mean() <= 0.06


def test_breast_treated_median_on_a_dedicated_cohort():
    """Breast patients with carcinosis (5,000, all develop it), treated at
    diagnosis with the default uptake: median survival from diagnosis
    within Niu 2023 / Demir 2014 (6.4-7.6 months); about 2,100 treated."""
    from sim.analysis.targets import after, km_median
    from sim.experiments.calibrate import _cohort
    from sim.scenario.loader import with_overrides
    from sim.scenario.model import Scenario

    df = _cohort(with_overrides(Scenario(), {"carcinosis.probability": 1.0}), "breast", 5000, 20261125)
    treated = df[df["chemotherapy"]]
    assert len(treated) > 1500
    assert 6.4 <= km_median(*after(treated, "carcinosis_diagnosis_months")) <= 7.6
