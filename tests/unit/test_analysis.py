"""Known answers for the estimators in sim.analysis.survival, computed by hand on
small fixtures, and the estimators on a simulated cohort."""

import math

import numpy as np
import pandas as pd
import pytest

from sim.analysis import survival as an

from ..conftest import run


def curve_at(c, t, col="estimate"):
    return float(an.step_at(c, t, col)[0])


# ------------------------------------------------------------------ Kaplan-Meier


def test_km_known_answer():
    # times 1,2,2,3,4; deaths at 1, 2, 3; censored at 2 and 4
    c = an.km_curve([1, 2, 2, 3, 4], [1, 1, 0, 1, 0])
    assert list(c["time"]) == [0, 1, 2, 3, 4]
    assert np.allclose(c["estimate"], [1, 0.8, 0.6, 0.3, 0.3])
    # log-log interval at t=1 by hand: var(log S) = 1/(5*4); se of log(-log S) = sqrt(0.05)/|log 0.8|
    se = math.sqrt(1 / 20) / abs(math.log(0.8))
    z = 1.959963984540054
    lo, hi = 0.8 ** math.exp(z * se), 0.8 ** math.exp(-z * se)
    assert curve_at(c, 1.5, "lower") == pytest.approx(lo, rel=1e-6)
    assert curve_at(c, 1.5, "upper") == pytest.approx(hi, rel=1e-6)
    assert (c["lower"] <= c["estimate"]).all() and (c["estimate"] <= c["upper"]).all()


def test_step_lookup_is_right_continuous():
    c = an.km_curve([1, 2, 2, 3, 4], [1, 1, 0, 1, 0])
    assert curve_at(c, 0.999) == 1.0
    assert curve_at(c, 1.0) == pytest.approx(0.8)
    assert curve_at(c, 2.5) == pytest.approx(0.6)
    assert curve_at(c, 100) == pytest.approx(0.3)


def test_curve_median():
    c = an.km_curve([1, 2, 2, 3, 4], [1, 1, 0, 1, 0])
    assert an.curve_median(c)["estimate"] == 3.0  # first time S <= 0.5
    never = an.km_curve([1, 2, 3], [0, 0, 0])
    assert an.curve_median(never)["estimate"] is None


# ------------------------------------------------------------------ Aalen-Johansen


def test_aalen_johansen_known_answer_with_tied_event_types():
    # n=6. t=1 event of interest; t=2 one of each type (tie); t=3 censored; t=4 event; t=5 competing
    t = [1, 2, 2, 3, 4, 5]
    codes = [1, 2, 1, 0, 1, 2]
    cif1 = an.aalen_johansen(t, codes, 1)
    cif2 = an.aalen_johansen(t, codes, 2)
    # by hand: CIF1 = 1/6; + (5/6)(1/5) = 1/3; S(2) = 1/2; at 4: + (1/2)(1/2) = 7/12
    assert curve_at(cif1, 1) == pytest.approx(1 / 6)
    assert curve_at(cif1, 2) == pytest.approx(1 / 3)
    assert curve_at(cif1, 3.5) == pytest.approx(1 / 3)
    assert curve_at(cif1, 4) == pytest.approx(7 / 12)
    assert curve_at(cif1, 10) == pytest.approx(7 / 12)
    # competing: (5/6)(1/5) at 2 and (1/4)(1/1) at 5
    assert curve_at(cif2, 2) == pytest.approx(1 / 6)
    assert curve_at(cif2, 5) == pytest.approx(5 / 12)
    # the curves sit on the original times only (no jittered times)
    assert set(cif1["time"]) <= {0, 1, 2, 3, 4, 5}
    # CIF1 + CIF2 + overall survival = 1 at every time
    km = an.km_curve(t, np.asarray(codes) > 0)
    for x in (0.5, 1, 2, 3, 4, 5):
        assert curve_at(cif1, x) + curve_at(cif2, x) + curve_at(km, x) == pytest.approx(1.0)


def test_aalen_johansen_censored_at_an_event_time_stays_at_risk():
    # event and censoring at t=1: the censored patient is at risk at 1, so CIF(1) = 1/3
    # (random jitter could move the event past the censoring and give 1/2)
    c = an.aalen_johansen([1, 1, 2], [1, 0, 2], 1)
    assert curve_at(c, 1) == pytest.approx(1 / 3)
    assert curve_at(c, 2) == pytest.approx(1 / 3)


def test_aalen_johansen_counts_events_at_time_zero():
    c = an.aalen_johansen([0, 0, 1], [1, 0, 2], 1)
    assert curve_at(c, 0) == pytest.approx(1 / 3)
    assert curve_at(c, 5) == pytest.approx(1 / 3)


def test_aalen_johansen_is_deterministic_and_leaves_global_random_state_alone():
    rng = np.random.default_rng(3)
    t = np.round(rng.exponential(10, 400), 0)  # many ties of every kind
    codes = rng.integers(0, 3, 400)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = an.aalen_johansen(t, codes, 1)
    b = an.aalen_johansen(t, codes, 1)
    assert np.array_equal(np.random.get_state()[1], before)
    pd.testing.assert_frame_equal(a, b)
    # the estimate at each distinct time equals the textbook discrete-time formula
    s, cif = 1.0, 0.0
    expect = {}
    for x in np.unique(t):
        at_risk = (t >= x).sum()
        d1 = ((t == x) & (codes == 1)).sum()
        d = ((t == x) & (codes > 0)).sum()
        cif += s * d1 / at_risk
        s *= 1 - d / at_risk
        expect[x] = cif
    for x, v in expect.items():
        assert curve_at(a, x) == pytest.approx(v, abs=1e-12)
    assert (a["lower"] <= a["estimate"] + 1e-12).all() and (a["estimate"] <= a["upper"] + 1e-12).all()


def test_aalen_johansen_without_the_event():
    c = an.aalen_johansen([1, 2, 3], [2, 0, 2], 1)
    assert (c["estimate"] == 0).all()


# ------------------------------------------------------------------ from a patients table


def fixture_patients():
    nan = float("nan")
    return pd.DataFrame(
        {
            "patient_id": [0, 1, 2, 3],
            "primary": pd.Categorical(["prostate", "breast", "prostate", "lung"]),
            "entry_months": [0.0, 0.0, 0.0, 0.0],
            "followup_months": [10.0, 8.0, 12.0, 6.0],
            "censored": [False, False, True, True],
            "carcinosis_onset_months": [nan, 2.0, 3.0, nan],
            "carcinosis_diagnosis_months": [nan, 5.0, nan, nan],
            "first_sre_months": [1.0, nan, nan, 3.0],
            "hypercalcemia_months": [nan, nan, nan, nan],
            "cord_compression_months": [nan, nan, nan, nan],
            "chemotherapy": [False, True, False, False],
            "bed_days": [0.0, 10.0, 4.0, 0.0],
        }
    )


def test_state_occupancy_known_answer():
    occ = an.state_occupancy(fixture_patients(), [0, 4, 7, 9, 11]).set_index("time")
    free, und, diag, dead = an.STATES
    assert occ.loc[0, free] == 1.0
    # t=4: everyone followed; patients 1 and 2 have carcinosis, neither diagnosed
    assert occ.loc[4, [free, und, diag, dead]].tolist() == [0.5, 0.5, 0.0, 0.0]
    # t=7: patient 3 left follow-up at 6 -> 3 followed: 0 free, 1 diagnosed, 2 undiagnosed
    assert occ.loc[7, "n"] == 3
    assert occ.loc[7, [free, und, diag, dead]].tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0])
    # t=9: patient 1 died at 8
    assert occ.loc[9, [free, und, diag, dead]].tolist() == pytest.approx([1 / 3, 1 / 3, 0, 1 / 3])
    # t=11: patients 0 and 1 dead, 2 undiagnosed
    assert occ.loc[11, [free, und, diag, dead]].tolist() == pytest.approx([0, 1 / 3, 0, 2 / 3])
    assert np.allclose(occ[[free, und, diag, dead]].sum(axis=1), 1.0)


def test_competing_codes_and_sre_free_survival():
    df = fixture_patients()
    t, codes = an.competing_codes(df, "first_sre_months")
    assert t.tolist() == [1.0, 8.0, 12.0, 3.0]
    assert codes.tolist() == [1, 2, 0, 1]
    # SRE-free: SRE at 1 (of 4), SRE at 3 (of 3; patient 3), death at 8 (of 2), censored at 12
    c = an.sre_free_survival(df)
    assert curve_at(c, 1) == pytest.approx(0.75)
    assert curve_at(c, 3) == pytest.approx(0.5)
    assert curve_at(c, 8) == pytest.approx(0.25)
    assert curve_at(c, 12) == pytest.approx(0.25)


def test_survival_from_diagnosis_and_hospital_days():
    df = fixture_patients()
    d = an.survival_from_diagnosis(df)
    assert list(d) == ["chemotherapy"]
    assert curve_at(d["chemotherapy"], 2.9) == 1.0 and curve_at(d["chemotherapy"], 3.0) == 0.0
    h = an.hospital_days(df).set_index("group")
    assert h.loc["all patients", "mean_days"] == pytest.approx(3.5)
    assert h.loc["all patients", "share_admitted"] == pytest.approx(0.5)
    assert h.loc["prostate", "mean_days"] == pytest.approx(2.0)
    assert h.loc["all patients", "days_per_patient_year"] == pytest.approx(14 / (36 / 12))


# ------------------------------------------------------------------ on a simulated cohort


@pytest.fixture(scope="module")
def cohort():
    return run(patients=1500, seed=11, keep_events=False).patients


def test_incidence_at_horizon_equals_the_proportion_without_early_censoring(cohort):
    # in a cohort everybody is followed to death or the horizon, so Aalen-Johansen
    # at the horizon is exactly the share of patients with the event
    inc = an.cumulative_incidence(cohort)
    for name, col in an.INCIDENCE_EVENTS.items():
        assert curve_at(inc[name], 120.0) == pytest.approx(cohort[col].notna().mean(), abs=1e-12)


def test_analysis_matches_the_summary(cohort):
    from sim.analysis.summary import outcomes

    a = an.analyse(cohort, 120.0)
    o = outcomes(cohort)
    assert a.tables["survival"].set_index("group").loc["all patients", "median_months"] == pytest.approx(
        o["survival"]["median_months"]["estimate"]
    )
    assert curve_at(a.overall, 12.0) == pytest.approx(o["survival"]["at_12_months"]["overall"]["estimate"])
    occ = a.occupancy
    assert np.allclose(occ[list(an.STATES)].sum(axis=1), 1.0)
    # dead share from occupancy = 1 - KM (no censoring before the horizon)
    assert np.allclose(occ["dead"].iloc[:-1], 1 - an.step_at(a.overall, occ["time"].iloc[:-1]))
    assert set(a.by_primary) <= {"prostate", "breast", "lung", "renal", "thyroid", "other"}
    assert a.sre_free["estimate"].iloc[-1] <= a.overall["estimate"].iloc[-1] + 1e-12


def test_plots_return_figures(cohort):
    from matplotlib.figure import Figure

    from sim.present import cohort_figures as plots

    a = an.analyse(cohort, 120.0)
    figs = plots.report_figures(a)
    assert len(figs) >= 7
    for _, fig in figs.values():
        assert isinstance(fig, Figure)
    png = plots.png_bytes(figs["overall_survival"][1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
