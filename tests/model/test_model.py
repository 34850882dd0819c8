"""The model: extreme values, analytic back-tests, sampled means, common
random numbers, reproducibility and chunk independence."""

import math

import numpy as np
import pandas as pd

from sim.analysis.targets import km_median
from sim.kernel.constants import individual_probabilities
from sim.scenario.fields import PRIMARIES

from ..conftest import QUIET, run

ONLY_PROSTATE = {f"cohort.primary_mix.{p}": float(p == "prostate") for p in PRIMARIES}


def carc_events(res):
    ev = res.events.to_pandas()
    return ev[ev["event"].astype(str).isin(["carcinosis_onset", "cytopenia"])]


# ------------------------------------------------------------------ extreme values


def test_carcinosis_probability_zero():
    res = run({"carcinosis.probability": 0.0}, patients=3000)
    df = res.patients
    assert df["carcinosis_onset_months"].isna().all()
    # no carcinosis cytopenias (treatment nadirs are labelled with their cause)
    cyt = carc_events(res)
    assert not cyt["detail"].astype(str).str.match(r"^\w+ grade \d$").any()
    assert not df["death_cause"].isin(["terminal_myelosuppression"]).any()


def test_carcinosis_probability_one_reaches_everyone():
    res = run({"carcinosis.probability": 1.0, "hypercalcemia.probability": 0.0, "run.horizon_months": 1200}, patients=2000)
    assert res.patients["carcinosis_onset_months"].notna().all()


def test_carcinosis_probability_one_with_all_causes():
    df = run({"carcinosis.probability": 1.0, "run.horizon_months": 1200}, patients=2000, keep_events=False).patients
    missing = df[df["carcinosis_onset_months"].isna()]
    # only a fatal hypercalcemic crisis before onset can pre-empt it
    assert (missing["death_cause"] == "hypercalcemic_crisis").all()
    assert len(missing) < 0.01 * len(df)


def test_hypercalcemia_probability_zero_and_one():
    assert run({"hypercalcemia.probability": 0.0}, keep_events=False).patients["hypercalcemia_months"].isna().all()
    df = run(
        {"hypercalcemia.probability": 1.0, "carcinosis.probability": 0.0, "run.horizon_months": 1200}, keep_events=False
    ).patients
    assert df["hypercalcemia_months"].notna().all()


def test_proportions_follow_the_knobs():
    for p in (0.03, 0.2):
        df = run(
            {"carcinosis.probability": p, "hypercalcemia.probability": p, "run.horizon_months": 600},
            patients=6000,
            keep_events=False,
        ).patients
        tol = 4 * math.sqrt(p * (1 - p) / len(df)) + 0.01 * p
        assert abs(df["carcinosis_onset_months"].notna().mean() - p) < tol + 0.02 * p
        assert abs(df["hypercalcemia_months"].notna().mean() - p) < tol + 0.05 * p


def test_tiny_horizon_censors_everyone():
    # Weibull shapes below 1 have an unbounded hazard at time 0, so a few
    # deaths before any horizon are possible; with shapes of 1 there are none
    over = {"run.horizon_months": 0.01, **{f"progression.weibull.{p}.shape": 1.0 for p in PRIMARIES}}
    res = run(over, patients=500)
    df = res.patients
    assert df["censored"].all() and df["death_months"].isna().all()
    assert np.allclose(df["followup_months"], 0.01)
    ev = res.events.to_pandas()
    assert (ev["event"].astype(str) == "censored").sum() == 500
    # with the default shapes: every patient either died before the horizon or is censored at it
    df = run({"run.horizon_months": 0.01}, patients=500, keep_events=False).patients
    assert df["censored"].mean() > 0.99
    assert (df.loc[~df["censored"], "death_months"] < 0.01).all()


def test_no_patient_dropped():
    res = run(patients=2000)
    df = res.patients
    assert len(df) == 2000 and df["patient_id"].tolist() == list(range(2000))
    assert (df["censored"] ^ df["death_months"].notna()).all()
    assert df.loc[~df["censored"], "death_cause"].notna().all()
    ev = res.events.to_pandas()
    ends = ev[ev["event"].astype(str).isin(["death", "censored"])]
    assert ends["patient_id"].value_counts().eq(1).all() and len(ends) == 2000


def test_events_are_in_time_order_within_each_course():
    ev = run(patients=1000).events.to_pandas()
    assert (ev.groupby("patient_id")["time_months"].diff().dropna() >= 0).all()


def test_no_sre_without_sre_hazard():
    df = run({**{f"sre.first_rate_per_month.{p}": 0.0 for p in PRIMARIES}}, keep_events=False).patients
    assert (df["n_sre"] == 0).all() and df["cord_compression_months"].isna().all()


def test_no_chemotherapy_when_uptake_zero_and_all_when_one():
    over = {"carcinosis.probability": 0.5}
    df0 = run({**over, "care.chemotherapy.uptake": 0.0}, keep_events=False).patients
    assert not df0["chemotherapy"].any() and (df0["n_chemo_cycles"] == 0).all()
    df1 = run({**over, "care.chemotherapy.uptake": 1.0}, keep_events=False).patients
    diagnosed = df1["carcinosis_diagnosis_months"].notna()
    assert df1.loc[diagnosed, "chemotherapy"].all() and not df1.loc[~diagnosed, "chemotherapy"].any()


def test_all_single_fraction_policy():
    df = run({"care.radiotherapy.single_fraction_share": 1.0}, keep_events=False).patients
    assert (df["n_radiotherapy_fractions"] == df["n_radiotherapy_courses"]).all()
    df = run({"care.radiotherapy.single_fraction_share": 0.0}, keep_events=False).patients
    assert (df["n_radiotherapy_fractions"] == 5 * df["n_radiotherapy_courses"]).all()


def test_radium_only_for_eligible_prostate():
    res = run(
        {"pain.radiotherapy_probability": 0.0, "pain.radionuclide_probability": 1.0, "care.radionuclide.radium223.uptake": 1.0},
        patients=2000,
    )
    ev = res.events.to_pandas()
    ra = ev[ev["detail"].astype(str).str.startswith("radium-223")]
    pats = res.patients.set_index("patient_id").loc[ra["patient_id"].unique()]
    assert len(pats) > 0
    assert (pats["primary"] == "prostate").all() and not pats["visceral_disease"].any()


# ------------------------------------------------------------------ analytic back-tests


def test_exponential_survival_back_test():
    """Only exponential death: the KM median is ln2 x scale within 4 SE."""
    scale = 10.0
    over = {
        **QUIET,
        **{f"progression.weibull.{p}.shape": 1.0 for p in PRIMARIES},
        **{f"progression.weibull.{p}.scale_months": scale for p in PRIMARIES},
        "run.horizon_months": 1000,
    }
    df = run(over, patients=20_000, keep_events=False).patients
    med = km_median(df["followup_months"].to_numpy(), (~df["censored"]).to_numpy())
    se = scale * math.log(2) / math.sqrt(len(df))  # SE of the median of an exponential: 1/(rate sqrt(n))
    assert abs(med - scale * math.log(2)) < 4 * se
    assert abs(df["followup_months"].mean() - scale) < 4 * scale / math.sqrt(len(df))
    assert (df["death_cause"] == "progression").all()


def test_weibull_survival_back_test():
    k, lam = 0.7, 20.0
    over = {
        **QUIET,
        **ONLY_PROSTATE,
        "progression.weibull.prostate.shape": k,
        "progression.weibull.prostate.scale_months": lam,
        "run.horizon_months": 1200,
    }
    t = run(over, patients=20_000, keep_events=False).patients["followup_months"].to_numpy()
    for q in (12.0, 24.0, 60.0):
        expected = math.exp(-((q / lam) ** k))
        assert abs((t > q).mean() - expected) < 4 * math.sqrt(expected * (1 - expected) / len(t))


def test_hazard_ratio_after_sre_back_test():
    """Exponential death, one SRE at an exponential time, HR after it: the
    mean survival has a closed form."""
    a, b, hr = 0.1, 0.2, 3.0  # death rate, first-SRE rate (per month)
    over = {
        **QUIET,
        **ONLY_PROSTATE,
        "progression.weibull.prostate.shape": 1.0,
        "progression.weibull.prostate.scale_months": 1 / a,
        "sre.first_rate_per_month.prostate": b,
        "sre.later_rate_per_month": 0.0,
        "progression.hazard_ratio_after_sre": hr,
        "sre.type_mix.radiation_to_bone": 1.0,
        "sre.type_mix.pathological_fracture": 0.0,
        "sre.type_mix.spinal_cord_compression": 0.0,
        "sre.type_mix.surgery_to_bone": 0.0,
        "cohort.bone_targeted_agent_mix.none": 1.0,
        "cohort.bone_targeted_agent_mix.zoledronic_acid": 0.0,
        "cohort.bone_targeted_agent_mix.denosumab": 0.0,
        "run.horizon_months": 1200,
    }
    t = run(over, patients=20_000, keep_events=False).patients["followup_months"].to_numpy()
    # E[T] = 1/(a+b) + b/(a+b) * 1/(hr a)
    expected = 1 / (a + b) + b / (a + b) / (hr * a)
    assert abs(t.mean() - expected) < 4 * t.std() / math.sqrt(len(t))


def test_sre_rate_sampled_mean():
    """Time to first SRE without competing death is exponential with the set rate x agent HR."""
    rate = 0.2
    over = {
        **ONLY_PROSTATE,
        "sre.first_rate_per_month.prostate": rate,
        "sre.later_rate_per_month": 0.0,
        "progression.weibull.prostate.scale_months": 1e4,
        "progression.weibull.prostate.shape": 1.0,
        "other_mortality.enabled": False,
        "carcinosis.probability": 0.0,
        "hypercalcemia.probability": 0.0,
        "cohort.bone_targeted_agent_mix.none": 0.0,
        "cohort.bone_targeted_agent_mix.zoledronic_acid": 1.0,
        "cohort.bone_targeted_agent_mix.denosumab": 0.0,
        "run.horizon_months": 1200,
    }
    t = run(over, patients=10_000, keep_events=False).patients["first_sre_months"].to_numpy()
    mean = 1 / (rate * 0.73)
    assert abs(np.nanmean(t) - mean) < 4 * mean / math.sqrt(len(t))


def test_mixes_sampled_within_tolerance():
    df = run(patients=20_000, keep_events=False).patients
    share = df["primary"].value_counts(normalize=True)
    for p, expected in {"prostate": 0.34, "breast": 0.22, "lung": 0.20, "other": 0.17}.items():
        assert abs(share[p] - expected) < 4 * math.sqrt(expected * (1 - expected) / len(df))
    assert abs(df["age_years"].mean() - 68.0) < 0.3
    assert df["age_years"].between(30, 95).all()


def test_individual_probabilities_average_to_the_knob():
    w, rr = [0.5, 0.3, 0.2], [1.2, 0.6, 0.2]
    for p in (0.01, 0.09, 0.5, 0.99):
        pi = individual_probabilities(p, rr, w)
        assert abs(sum(a * b for a, b in zip(w, pi)) - p) < 1e-9
        assert pi[0] > pi[1] > pi[2]
    assert individual_probabilities(1.0, rr, w) == [1.0, 1.0, 1.0]
    assert individual_probabilities(0.0, rr, w) == [0.0, 0.0, 0.0]


# ------------------------------------------------------------------ randomness


def _frame(res):
    return res.events.to_pandas().astype({"event": str, "detail": str})


def test_same_seed_same_results_different_seed_different():
    a, b, c = run(seed=1), run(seed=1), run(seed=2)
    pd.testing.assert_frame_equal(a.patients, b.patients)
    pd.testing.assert_frame_equal(_frame(a), _frame(b))
    assert not a.patients["followup_months"].equals(c.patients["followup_months"])


def test_chunk_independence():
    small = run(patients=1000, seed=3)
    big = run(patients=5000, seed=3, chunk_size=1700)
    pd.testing.assert_frame_equal(small.patients, big.patients.iloc[:1000].reset_index(drop=True))
    ev = _frame(big)
    pd.testing.assert_frame_equal(_frame(small), ev[ev["patient_id"] < 1000].reset_index(drop=True))


def test_common_random_numbers_chemotherapy_uptake():
    """Raising chemotherapy uptake leaves the courses of patients without
    carcinosis identical, event for event."""
    a = run({"care.chemotherapy.uptake": 0.2}, patients=3000, seed=11)
    b = run({"care.chemotherapy.uptake": 0.9}, patients=3000, seed=11)
    no_carc = a.patients.loc[a.patients["carcinosis_onset_months"].isna(), "patient_id"]
    ea, eb = _frame(a), _frame(b)
    sa = ea[ea["patient_id"].isin(no_carc)].reset_index(drop=True)
    sb = eb[eb["patient_id"].isin(no_carc)].reset_index(drop=True)
    pd.testing.assert_frame_equal(sa, sb)
    assert b.patients["chemotherapy"].sum() > a.patients["chemotherapy"].sum()
    # and the carcinosis patients differ somewhere
    assert (
        not ea[~ea["patient_id"].isin(no_carc)]
        .reset_index(drop=True)
        .equals(eb[~eb["patient_id"].isin(no_carc)].reset_index(drop=True))
    )


def test_common_random_numbers_unrelated_intervention():
    """Switching radionuclides off changes nothing for patients who never had one."""
    a = run(patients=3000, seed=5)
    b = run({"pain.radionuclide_probability": 0.0}, patients=3000, seed=5)
    had = a.patients.loc[a.patients["n_radionuclide"] > 0, "patient_id"]
    pa_, pb_ = (x.patients[~x.patients["patient_id"].isin(had)].reset_index(drop=True) for x in (a, b))
    pd.testing.assert_frame_equal(pa_, pb_)
    assert (b.patients["n_radionuclide"] == 0).all()
