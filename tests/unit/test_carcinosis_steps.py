"""Step 6's rules (docs/model.md) against a hand calculation, with fixed
uniforms: cytopenia grades, complications, detection, the treatment effect
and remission.  Run in whichever kernel is loaded; test_both_kernels runs the
folder in the other one too."""

from __future__ import annotations

import math

import pytest

from sim import Scenario
from sim.kernel.codes import A_BIOPSY, A_RELAPSE, ANEMIA, LEUKO, THROMBO
from sim.kernel.complications import time_complications
from sim.kernel.constants import DAYS_PER_MONTH
from sim.kernel.detection import scan_result
from tests.conftest import QUIET

from .stubs import FixedUniforms, entered, exp_u

S = Scenario()
FIRST_OF_EACH = [0.0, 0.5, 0.0, 0.0]
NEITHER = [0.999999, 0.999999, 0.5, 0.5]
NO_TRANSFUSION = {**QUIET, "care.transfusion.rbc_uptake": 0.0, "care.transfusion.platelet_uptake": 0.0}


def _agenda(p: object, kind: int) -> list[float]:
    return sorted(t for t, _, k, _ in p.agenda if k == kind)  # type: ignore[attr-defined]


def _thresholds() -> tuple[list[float], list[float], list[float]]:
    lab = S.labs
    return list(lab.anemia_thresholds_g_dl), list(lab.platelet_thresholds_e9_l), list(lab.anc_thresholds_e9_l)


@pytest.mark.parametrize("grade", [0, 1, 2, 3, 4])
def test_a_cytopenia_grade_counts_the_boundaries_above_the_count(grade: int) -> None:
    """Step 6 (cytopenias): grade = number of grade boundaries (descending) the count is below (no transfusions)."""
    thr = _thresholds()
    p = entered(NO_TRANSFUSION, FixedUniforms(entry=FIRST_OF_EACH, progression=[exp_u(5.0), *NEITHER]))
    p.now = 1.0
    for lin in (ANEMIA, THROMBO, LEUKO):
        b = thr[lin]
        value = b[0] * 1.01 if grade == 0 else b[grade - 1] * 0.99
        if grade < 4:
            value = max(value, b[grade] * 1.01) if grade > 0 else value
        p.blood.trajectories[lin].set_native(p.now, value, 0.0)
    p.counts_changed()
    assert p.blood.grade == [grade, grade, grade]
    assert p.blood.worst == [grade, grade, grade]
    assert p.blood.counts == [pytest.approx(p.blood.trajectories[lin].value(1.0)) for lin in range(3)]


@pytest.mark.parametrize(("g_plt", "g_anc"), [(0, 0), (3, 4), (4, 2)])
def test_complications_come_after_exponential_waits_at_the_rates_of_the_grades(g_plt: int, g_anc: int) -> None:
    """Step 6 (complications): infection at now + E1 / rate(ANC grade), bleeding at now + E2 / rate(platelet grade)."""
    comp = S.complications
    fixed = FixedUniforms(entry=FIRST_OF_EACH, progression=[exp_u(5.0), *NEITHER], complications=[exp_u(0.4), exp_u(1.3)])
    p = entered(QUIET, fixed)
    p.now = 2.0
    time_complications(p, [0, g_plt, g_anc])
    ri = getattr(comp.infection_rate_per_month, f"grade_{g_anc}")
    rb = getattr(comp.bleeding_rate_per_month, f"grade_{g_plt}")
    assert p.clocks.infect == (pytest.approx(2.0 + 0.4 / ri, rel=1e-12) if ri > 0 else math.inf)
    assert p.clocks.bleed == (pytest.approx(2.0 + 1.3 / rb, rel=1e-12) if rb > 0 else math.inf)


@pytest.mark.parametrize("negative", [True, False])
def test_the_biopsy_follows_the_scan_after_its_delay(negative: bool) -> None:
    """Step 6 (detection): negative scan when u < p(negative); biopsy after biopsy delay (+ the delay after a negative scan)."""
    d = S.detection
    u = 0.0 if negative else 0.999999
    fixed = FixedUniforms(entry=FIRST_OF_EACH, progression=[exp_u(5.0), *NEITHER], detection=[u])
    p = entered(QUIET, fixed)
    p.now = 3.0
    scan_result(p)
    delay = d.biopsy_delay_days + (d.delay_after_negative_scan_days if negative else 0.0)
    assert _agenda(p, A_BIOPSY) == [pytest.approx(3.0 + delay / DAYS_PER_MONTH, rel=1e-12)]


def test_treatment_slows_the_fall_of_the_counts_by_its_hazard_ratio() -> None:
    """Step 6 (treatment): from its start each count falls at rate × death_hazard_ratio; the patient counts as treated."""
    hr = S.care.chemotherapy.death_hazard_ratio
    p = entered(QUIET, FixedUniforms(entry=FIRST_OF_EACH, progression=[exp_u(5.0), *NEITHER]))
    p.now = 1.0
    rates = (0.3, 0.2, 0.1)
    for lin, r in enumerate(rates):
        p.blood.trajectories[lin].set_native(1.0, None, r)
    p.start_treatment_effect()
    assert (p.carcinosis.on_chemo, p.carcinosis.chemo) == (True, True)
    assert [t.seg_g[-1] for t in p.blood.trajectories] == [pytest.approx(r * hr, rel=1e-12) for r in rates]
    p.start_treatment_effect()  # once only
    assert [t.seg_g[-1] for t in p.blood.trajectories] == [pytest.approx(r * hr, rel=1e-12) for r in rates]


@pytest.mark.parametrize("remits", [True, False])
def test_remission_after_treatment_and_the_relapse_after_an_exponential_delay(remits: bool) -> None:
    """Step 6 (remission): remission when u < remission_probability; counts recover; relapse at now + median × E / ln 2."""
    c = S.carcinosis
    u = 0.0 if remits else 0.999999
    fixed = FixedUniforms(entry=FIRST_OF_EACH, progression=[exp_u(5.0), *NEITHER], chemotherapy=[u, exp_u(0.6)])
    p = entered(QUIET, fixed)
    p.now = 4.0
    p.has_carcinosis = True
    baseline = [t.seg_v[0] for t in p.blood.trajectories]
    for t in p.blood.trajectories:
        t.set_native(4.0, None, 0.2)
    p.end_treatment()
    assert p.remission is remits
    if remits:
        assert _agenda(p, A_RELAPSE) == [pytest.approx(4.0 + 0.6 * c.relapse_median_months / math.log(2.0), rel=1e-12)]
        assert [t.seg_g[-1] for t in p.blood.trajectories] == [0.0, 0.0, 0.0]
        assert [t.value(4.0) for t in p.blood.trajectories] == [pytest.approx(v) for v in baseline]
        assert (p.clocks.cdeath, p.clocks.infect, p.clocks.bleed) == (math.inf, math.inf, math.inf)
        assert p.progression_running()
    else:
        assert _agenda(p, A_RELAPSE) == []
        assert [t.seg_g[-1] for t in p.blood.trajectories] == [0.2, 0.2, 0.2]
