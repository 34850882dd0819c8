"""Episodes of the course (steps 3 and 5) against a hand calculation, with
fixed uniforms: what an SRE and a hypercalcemia episode change, and when
what they schedule comes."""

from __future__ import annotations

import math

import pytest

from sim import Scenario
from sim.kernel.codes import A_HYPER_CRISIS, A_HYPER_RECUR
from sim.kernel.constants import DAYS_PER_MONTH
from sim.kernel.hypercalcemia import on_hypercalcemia
from sim.kernel.sre import on_sre
from sim.scenario.fields import PRIMARIES
from tests.conftest import QUIET

from .stubs import FixedUniforms, entered, exp_u

S = Scenario()
FIRST_OF_EACH = [0.0, 0.5, 0.0, 0.0]  # prostate, median age, no bone agent, visceral disease
NEITHER = [0.999999, 0.999999, 0.5, 0.5]  # progression: neither carcinosis nor hypercalcemia


def _agenda(p: object, kind: int) -> list[float]:
    return sorted(t for t, _, k, _ in p.agenda if k == kind)  # type: ignore[attr-defined]


def test_first_sre_raises_the_progression_hazard_and_times_the_next_at_the_later_rate() -> None:
    """Step 3 (SREs): the first SRE multiplies the progression hazard by 1.4; the next comes at E / (later rate × HR)."""
    on = {k: v for k, v in QUIET.items() if not k.startswith("sre.")}
    fixed = FixedUniforms(entry=FIRST_OF_EACH, progression=[exp_u(5.0), *NEITHER], sre=[exp_u(0.7), 0.0, exp_u(0.9)])
    p = entered(on, fixed)
    p.now = p.clocks.sre
    t_first = p.now
    on_sre(p)  # type 0.0: radiation to bone (the first of the type mix)
    assert (p.n_sre, p.first_sre) == (1, t_first)
    assert p.progression_clock.multiplier == pytest.approx(S.progression.hazard_ratio_after_sre, rel=1e-12)
    assert p.clocks.sre == pytest.approx(t_first + 0.9 / S.sre.later_rate_per_month, rel=1e-12)
    assert fixed.drawn["sre"] == 3


@pytest.mark.parametrize("excess", [0.2, 1.0])
def test_hypercalcemia_episode_peak_admission_and_crisis(excess: float) -> None:
    """Step 5 (hypercalcemia): peak = threshold + mean excess × E; an admission of its days; a fatal crisis (u < 0.08)
    during the stay, at u × stay."""
    h, lab = S.hypercalcemia, S.labs
    fixed = FixedUniforms(entry=FIRST_OF_EACH, progression=[exp_u(5.0), *NEITHER], hypercalcemia=[exp_u(excess), 0.01, 0.5])
    p = entered(QUIET, fixed)
    p.now = 2.0
    on_hypercalcemia(p)
    assert p.blood.calcium_peaks[-1] == (
        2.0,
        pytest.approx(lab.calcium_threshold_mmol_l + lab.calcium_peak_excess_mean_mmol_l * excess),
    )
    assert (p.received.admissions, p.received.bed_days) == (1, h.admission_days)
    assert p.first_hyper == 2.0
    hr = getattr(S.progression.hazard_ratio_after_hypercalcemia, PRIMARIES[p.primary])
    assert p.progression_clock.multiplier == pytest.approx(hr, rel=1e-12)
    assert _agenda(p, A_HYPER_CRISIS) == [pytest.approx(2.0 + 0.5 * h.admission_days / DAYS_PER_MONTH)]
    assert _agenda(p, A_HYPER_RECUR) == []


def test_hypercalcemia_recurs_after_an_exponential_delay_with_its_median() -> None:
    """Step 5 (hypercalcemia): no crisis (u ≥ 0.08); recurrence when u < 0.3, after median × E / ln 2."""
    h = S.hypercalcemia
    fixed = FixedUniforms(entry=FIRST_OF_EACH, progression=[exp_u(5.0), *NEITHER], hypercalcemia=[0.5, 0.5, 0.1, exp_u(0.8)])
    p = entered(QUIET, fixed)
    p.now = 1.0
    on_hypercalcemia(p)
    assert _agenda(p, A_HYPER_CRISIS) == []
    assert _agenda(p, A_HYPER_RECUR) == [pytest.approx(1.0 + 0.8 * h.recurrence_median_months / math.log(2.0), rel=1e-12)]
