"""The course's rules, one at a time, against a hand calculation: a patient
draws fixed uniforms (tests.unit.stubs.FixedUniforms) and each rule's time or
value is computed here from the scenario's parameters by the formula of
docs/model.md.  Run in whichever kernel is loaded; test_both_kernels runs the
folder in the other one too."""

from __future__ import annotations

import math

import pytest

from sim import Scenario
from sim.kernel.sre import sre_rate
from sim.scenario.fields import AGENTS, PRIMARIES
from tests.conftest import QUIET

from .stubs import FixedUniforms, entered, exp_u, finished_patient

S = Scenario()  # the defaults the hand calculations read
PROSTATE = PRIMARIES.index("prostate")
# entry draws: primary, age, agent, visceral disease, ... (0.0: the first of each mix, and visceral disease)
FIRST_OF_EACH = [0.0, 0.5, 0.0, 0.0]
LAST_OF_EACH = [0.999999, 0.5, 0.999999, 0.999]
# progression draws: threshold, carcinosis yes/no, hypercalcemia yes/no, carcinosis fraction, hypercalcemia fraction
NEITHER = [0.999999, 0.999999, 0.5, 0.5]


def _weibull(primary: str) -> tuple[float, float]:
    w = getattr(S.progression.weibull, primary)
    return w.scale_months, w.shape


# ---------------------------------------------------------------- 1. entry
def test_entry_takes_the_first_and_last_of_each_mix() -> None:
    """Step 1 (entry): primary and agent by inversion of their mixes; visceral disease when u < p."""
    p = entered(QUIET, FixedUniforms(entry=FIRST_OF_EACH))
    assert (PRIMARIES[p.primary], AGENTS[p.agent], p.visceral) == (PRIMARIES[0], AGENTS[0], True)
    p = entered(QUIET, FixedUniforms(entry=LAST_OF_EACH))
    assert (PRIMARIES[p.primary], AGENTS[p.agent], p.visceral) == (PRIMARIES[-1], AGENTS[-1], False)


def test_entry_age_is_the_truncated_normal_median_at_one_half() -> None:
    """Step 1 (entry): age ~ Normal(mean, sd) truncated to [min, max]; at u = 1/2 the median of the truncated law."""
    from statistics import NormalDist

    a = S.cohort.age
    nd = NormalDist(a.mean_years, a.sd_years)
    lo, hi = nd.cdf(a.min_years), nd.cdf(a.max_years)
    want = nd.inv_cdf(lo + (hi - lo) * 0.5)
    p = entered(QUIET, FixedUniforms(entry=FIRST_OF_EACH))
    assert p.age == pytest.approx(want, abs=1e-6)


# ---------------------------------------------------------------- 2. progression
@pytest.mark.parametrize("threshold", [0.3, 1.0, 2.5])
def test_progression_death_time_is_the_weibull_inverse(threshold: float) -> None:
    """Step 2 (progression): death when (t/λ)^k reaches E ~ Exp(1): t = λ E^(1/k)."""
    lam, k = _weibull("prostate")
    p = entered(QUIET, FixedUniforms(entry=FIRST_OF_EACH, progression=[exp_u(threshold), *NEITHER]))
    assert p.primary == PROSTATE
    assert p.clocks.prog == pytest.approx(lam * threshold ** (1.0 / k), rel=1e-12)
    _, row = finished_patient(overrides=QUIET, fixed=FixedUniforms(entry=FIRST_OF_EACH, progression=[exp_u(threshold), *NEITHER]))
    assert row[6] == pytest.approx(lam * threshold ** (1.0 / k), rel=1e-12)  # death_months


def test_a_hazard_ratio_retimes_the_progression_clock_without_a_new_draw() -> None:
    """Step 2 (progression): from t0 the hazard is × f: (t0/λ)^k + f((t/λ)^k − (t0/λ)^k) = E."""
    lam, k = _weibull("prostate")
    e, t0, f = 2.0, 3.0, S.progression.hazard_ratio_after_sre
    fixed = FixedUniforms(entry=FIRST_OF_EACH, progression=[exp_u(e), *NEITHER])
    p = entered(QUIET, fixed)
    p.now = t0
    p.multiply_progression(f)
    h0 = (t0 / lam) ** k
    assert p.clocks.prog == pytest.approx(lam * (h0 + (e - h0) / f) ** (1.0 / k), rel=1e-12)
    assert fixed.drawn["progression"] == 5  # no new draw


def test_other_causes_time_is_the_gompertz_inverse() -> None:
    """Step 2 (other mortality): Gompertz hazard a0 e^(b t), a0 = r70 2^((age−70)/d), b = ln 2 / d: t = ln(1 + E b / a0) / b."""
    om = S.other_mortality
    on = {**QUIET, "other_mortality.enabled": True}
    p = entered(on, FixedUniforms(entry=FIRST_OF_EACH, progression=[exp_u(1.0), *NEITHER], other_mortality=[exp_u(0.4)]))
    b = math.log(2.0) / om.doubling_years
    a0 = om.annual_rate_at_70 * 2.0 ** ((p.age - 70.0) / om.doubling_years)
    assert p.clocks.other == pytest.approx(12.0 * math.log1p(0.4 * b / a0) / b, rel=1e-12)


# ---------------------------------------------------------------- 3. SREs
@pytest.mark.parametrize("agent_u", [0.0, 0.999999])
def test_first_sre_time_is_exponential_at_the_primary_rate_times_the_agent_ratio(agent_u: float) -> None:
    """Step 3 (SREs): first SRE at rate r(primary) × HR(agent): t = E / rate."""
    on = {k: v for k, v in QUIET.items() if not k.startswith("sre.")}
    entry = [0.0, 0.5, agent_u, 0.0]
    p = entered(on, FixedUniforms(entry=entry, progression=[exp_u(1.0), *NEITHER], sre=[exp_u(0.7)]))
    agent = AGENTS[p.agent]
    hr = 1.0 if agent == "none" else getattr(S.sre.agent_hazard_ratio, agent)
    rate = S.sre.first_rate_per_month.prostate * hr
    assert p.clocks.sre == pytest.approx(0.7 / rate, rel=1e-12)


def test_later_sres_come_at_the_later_rate() -> None:
    """Step 3 (SREs): after the first, rate = later rate × HR(agent)."""
    on = {k: v for k, v in QUIET.items() if not k.startswith("sre.")}
    p = entered(on, FixedUniforms(entry=FIRST_OF_EACH, progression=[exp_u(50.0), *NEITHER]))
    p.n_sre = 1
    assert sre_rate(p) == pytest.approx(S.sre.later_rate_per_month, rel=1e-12)


# ---------------------------------------------------------------- 4. pain
def test_pain_episode_time_is_exponential_at_the_pain_rate() -> None:
    """Step 4 (pain): episodes at a constant rate: t = E / rate."""
    on = {k: v for k, v in QUIET.items() if k != "pain.rate_per_month"}
    p = entered(on, FixedUniforms(entry=FIRST_OF_EACH, progression=[exp_u(1.0), *NEITHER], pain=[exp_u(1.5)]))
    assert p.clocks.pain == pytest.approx(1.5 / S.pain.rate_per_month, rel=1e-12)


# ---------------------------------------------------------------- 5. hypercalcemia and 6. carcinosis onset
def test_hypercalcemia_comes_at_its_fraction_of_the_death_threshold() -> None:
    """Step 5 (hypercalcemia): onset when the progression clock reaches w·E, w ~ Beta (uniform: w = u)."""
    lam, k = _weibull("prostate")
    e, w = 2.0, 0.25
    on = {**QUIET, "hypercalcemia.probability": 1.0}
    fixed = FixedUniforms(entry=FIRST_OF_EACH, progression=[exp_u(e), 0.999999, 0.0, 0.5, w])
    p = entered(on, fixed)
    assert p.progression_clock.hypercalcemia_at == pytest.approx(w * e, rel=1e-12)
    assert p.clocks.prog == pytest.approx(lam * (w * e) ** (1.0 / k), rel=1e-12)
    _, row = finished_patient(
        overrides=on, fixed=FixedUniforms(entry=FIRST_OF_EACH, progression=[exp_u(e), 0.999999, 0.0, 0.5, w])
    )
    assert row[11] == pytest.approx(lam * (w * e) ** (1.0 / k), rel=1e-12)  # hypercalcemia_months


def test_carcinosis_onset_comes_at_its_beta_fraction_of_the_death_threshold() -> None:
    """Step 6 (carcinosis onset): when the progression clock reaches v·E, v ~ Beta(2, 1) (v = √u)."""
    lam, k = _weibull("prostate")
    e, u = 2.0, 0.25
    on = {**QUIET, "carcinosis.probability": 1.0}
    p = entered(on, FixedUniforms(entry=FIRST_OF_EACH, progression=[exp_u(e), 0.0, 0.999999, u, 0.5]))
    a, b = S.carcinosis.onset_fraction.alpha, S.carcinosis.onset_fraction.beta
    assert (a, b) == (2.0, 1.0)
    v = u ** (1.0 / a)
    assert p.progression_clock.carcinosis_at == pytest.approx(v * e, rel=1e-12)
    assert p.clocks.prog == pytest.approx(lam * (v * e) ** (1.0 / k), rel=1e-12)


def test_the_progression_clock_accumulates_and_retimes_by_hand() -> None:
    """Step 2 (progression clock, sim.kernel.state): C grows by m((t/λ)^k − (s/λ)^k); the next target is met at
    λ((s/λ)^k + (target − C)/m)^(1/k)."""
    from sim.kernel.state import ProgressionClock

    c = ProgressionClock(1.5, 20.0, 2.0)
    c.carcinosis_at = c.hypercalcemia_at = math.inf
    assert c.next_time() == pytest.approx(20.0 * 2.0 ** (1 / 1.5), rel=1e-12)
    c.advance(5.0)
    assert c.accumulated == pytest.approx((5.0 / 20.0) ** 1.5, rel=1e-12)
    c.multiplier = 2.0
    h = (5.0 / 20.0) ** 1.5 + (2.0 - (5.0 / 20.0) ** 1.5) / 2.0
    assert c.next_time() == pytest.approx(20.0 * h ** (1 / 1.5), rel=1e-12)
    c.advance(8.0)
    assert c.accumulated == pytest.approx((5.0 / 20.0) ** 1.5 + 2.0 * ((8.0 / 20.0) ** 1.5 - (5.0 / 20.0) ** 1.5), rel=1e-12)
    c.hypercalcemia_at = 1.0  # an earlier target
    assert c.next_time() < 20.0 * h ** (1 / 1.5)
    c.running = False
    assert c.next_time() == math.inf


def test_the_cause_of_death_clocks_after_onset_by_hand() -> None:
    """Step 6 (death after onset, sim.kernel.state): A_c += r_c dt at the old rates; death at
    min_c now + (E_c − A_c)/r_c, the cause the one whose threshold is met."""
    from sim.kernel.state import CauseOfDeathClocks

    d = CauseOfDeathClocks([1.0, 0.5, 2.0, 3.0, 4.0], 1.0)
    r1 = [0.2, 0.1, 0.0, 0.0, 0.05]
    assert d.retime(1.0, r1) == pytest.approx(1.0 + min(1.0 / 0.2, 0.5 / 0.1, 4.0 / 0.05), rel=1e-12)
    r2 = [0.2, 0.4, 0.3, 0.0, 0.05]  # the bleeding hazard rises at month 3
    acc = [0.2 * 2.0, 0.1 * 2.0, 0.0, 0.0, 0.05 * 2.0]
    want = min(3.0 + (e - a) / r for e, a, r in zip([1.0, 0.5, 2.0, 3.0, 4.0], acc, r2, strict=True) if r > 0)
    t = d.retime(3.0, r2)
    assert t == pytest.approx(want, rel=1e-12)
    assert d.accumulated == pytest.approx(acc, rel=1e-12)
    assert d.cause_now(t) == 1  # bleeding: (0.5 − 0.2) / 0.4 = 0.75 months, the least
