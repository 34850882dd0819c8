"""Blood counts and calcium as trajectories."""

import math

import numpy as np
import pandas as pd
import pytest

from sim import simulate
from sim.cli.main import main
from sim.kernel.labs import Trajectory, calcium, grade_of

from ..conftest import SCENARIOS, make


def test_no_carcinosis_no_treatment_keeps_baseline_values():
    over = {"carcinosis.probability": 0.0, "pain.radionuclide_probability": 0.0, "labs.keep_patients": 50}
    res = simulate(make(over, patients=300), keep_events=False)
    df = res.patients
    assert (df["worst_anemia_grade"] == 0).all() and (df["worst_thrombocytopenia_grade"] == 0).all()
    assert np.allclose(df["hb_min_g_dl"], df["hb_baseline_g_dl"])
    labs = res.labs.to_pandas()
    for (pid, analyte), d in labs[labs["analyte"] != "calcium_mmol_l"].groupby(["patient_id", "analyte"], observed=True):
        assert d["value"].nunique() == 1, (pid, analyte)
    assert (df["n_rbc_units"] == 0).all() and (df["days_hb_below_8"] == 0).all()


def test_crossing_times_match_the_analytic_solution():
    tr = Trajectory(12.0)
    tr.set_native(2.0, 11.0, 0.3)  # falls from 11 at month 2 at 0.3 per month
    for thr in (10.0, 8.0, 6.5):
        expected = 2.0 + math.log(11.0 / thr) / 0.3
        assert tr.crossing(2.0, thr) == pytest.approx(expected, rel=1e-12)
        assert tr.value(expected) == pytest.approx(thr)
    # with a transfusion the value is a sum of exponentials: the computed time solves it
    tr.add_boost(4.0, 2.0, 50 / 30.4375)
    t = tr.crossing(4.0, 8.0)
    assert t > 2.0 + math.log(11.0 / 8.0) / 0.3  # later than without the transfusion
    assert tr.value(t) == pytest.approx(8.0, abs=1e-9)
    assert tr.value(t - 1e-6) > 8.0
    # a nadir: the caller re-asks at its edges; within it the closed form holds
    tr2 = Trajectory(200.0)
    tr2.add_dip(1.0, 2.0, 0.5)
    assert tr2.value(1.5) == 100.0 and tr2.next_change(0.5) == 1.0 and tr2.crossing(1.0, 120.0) == 1.0
    assert grade_of(7.9, (12.0, 10.0, 8.0, 6.5)) == 3


def test_calcium_crosses_the_threshold_at_the_episode():
    peaks = [(10.0, 3.3)]
    assert calcium(2.35, peaks, 9.0, 2.9, 1.0, 0.1) == pytest.approx(2.35)
    assert calcium(2.35, peaks, 10.0 - 1e-9, 2.9, 1.0, 0.1) == pytest.approx(2.9, abs=1e-6)
    assert calcium(2.35, peaks, 10.0 + 1 / 30.4375, 2.9, 1.0, 0.1) == pytest.approx(3.3)
    assert calcium(2.35, peaks, 12.0, 2.9, 1.0, 0.1) < 2.4


def test_hypercalcemia_share_still_follows_the_knob():
    df = simulate(make({"hypercalcemia.probability": 0.2, "run.horizon_months": 600}, patients=3000), keep_events=False).patients
    assert abs(df["hypercalcemia_months"].notna().mean() - 0.2) < 0.03
    assert (df.loc[df["hypercalcemia_months"].notna(), "calcium_max_mmol_l"] > 2.9).all()
    assert (df.loc[df["hypercalcemia_months"].isna(), "calcium_max_mmol_l"] < 2.9).all()


def test_lower_transfusion_threshold_never_uses_more_units():
    """Paired runs: red cells change nothing else in a course, so each patient's units can only fall."""
    over = {"carcinosis.probability": 0.5}
    liberal = simulate(make({**over, "care.transfusion.rbc_threshold_g_dl": 8.0}, patients=1500), keep_events=False).patients
    restrictive = simulate(make({**over, "care.transfusion.rbc_threshold_g_dl": 7.0}, patients=1500), keep_events=False).patients
    assert (restrictive["n_rbc_units"] <= liberal["n_rbc_units"]).all()
    assert restrictive["n_rbc_units"].sum() < liberal["n_rbc_units"].sum()
    pd.testing.assert_series_equal(restrictive["followup_months"], liberal["followup_months"])


def test_monitoring_interval_zero_gives_immediate_detection():
    over = {"carcinosis.probability": 1.0, "labs.monitoring_interval_days": 0.0}
    res = simulate(make(over, patients=400))
    ev = res.events.to_pandas().astype({"event": str, "detail": str})
    sus = ev[ev["event"] == "suspicion"].groupby("patient_id")["time_months"].first()
    cyt = (
        ev[(ev["event"] == "cytopenia") & ev["detail"].str.match(r"^\w+ grade [234]$")]
        .groupby("patient_id")["time_months"]
        .first()
    )
    both = sus.index.intersection(cyt.index)
    assert len(both) > 100
    assert np.allclose(sus.loc[both], cyt.loc[both])
    # with monthly visits detection waits for a blood test
    res2 = simulate(make({**over, "labs.monitoring_interval_days": 30.0}, patients=400))
    ev2 = res2.events.to_pandas().astype({"event": str})
    sus2 = ev2[ev2["event"] == "suspicion"].groupby("patient_id")["time_months"].first()
    shared = sus.index.intersection(sus2.index)
    assert (sus2.loc[shared] >= sus.loc[shared] - 1e-9).all() and (sus2.loc[shared] > sus.loc[shared]).mean() > 0.5


def test_labs_file_written_for_kept_patients(tmp_path):
    out = tmp_path / "r"
    assert (
        main(
            [
                "run",
                str(SCENARIOS / "baseline.yaml"),
                "--patients",
                "300",
                "--set",
                "labs.keep_patients=20",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    labs = pd.read_parquet(out / "labs.parquet")
    assert set(labs["patient_id"]) == set(range(20))
    assert set(labs["analyte"].astype(str)) == {"hb_g_dl", "platelets_e9_l", "anc_e9_l", "calcium_mmol_l"}


@pytest.mark.parametrize(
    "setting, needle",
    [
        ("labs.anemia_thresholds_g_dl=[8,10,12,6]", "anemia_thresholds_g_dl"),
        ("labs.platelet_thresholds_e9_l=[900,75,50,25]", "platelet_thresholds_e9_l"),
        ("care.transfusion.rbc_threshold_g_dl=2", "rbc_threshold_g_dl"),
        ("labs.calcium_baseline_max_mmol_l=2.95", "calcium_baseline_max_mmol_l"),
        ("labs.hb_baseline_min_g_dl=16.8", "hb_baseline"),
    ],
)
def test_impossible_labs_refused(capsys, setting, needle):
    assert main(["validate", str(SCENARIOS / "baseline.yaml"), "--set", setting]) == 2
    assert needle in capsys.readouterr().err


def _random_trajectory(rng: np.random.Generator) -> Trajectory:
    """Segments of decline, nadirs and transfusions at random, as a course builds them."""
    tr = Trajectory(float(rng.uniform(5, 15)))
    t = 0.0
    for _ in range(int(rng.integers(0, 4))):
        t += float(rng.exponential(2.0))
        tr.set_native(t, None, float(rng.uniform(0, 1.5)))
        if rng.random() < 0.5:
            tr.add_dip(t, t + float(rng.uniform(0.1, 1.0)), float(rng.uniform(0.3, 0.9)))
        for _ in range(int(rng.integers(0, 3))):
            t += float(rng.exponential(0.5))
            tr.add_boost(t, float(rng.uniform(0.5, 2.0)), float(rng.uniform(0.1, 2.0)))
    return tr


def test_time_below_counts_the_grid_as_the_array_evaluation_does():
    """time_below (point by point in the compiled kernel) agrees with Trajectory.values on the same grid."""
    from sim.kernel.labs import time_below

    rng = np.random.default_rng(5)
    checked = 0
    for _ in range(400):
        tr = _random_trajectory(rng)
        t0, t1 = float(rng.uniform(0, 3)), float(rng.uniform(0, 15))
        step = float(rng.choice([1 / 30.4375, 0.2]))
        thr = float(rng.uniform(2, 12))
        got = time_below(tr, thr, t0, t1, step)
        if t1 <= t0:
            assert got == 0.0
            continue
        n = min(200, max(1, int(np.ceil((t1 - t0) / step))))
        h = (t1 - t0) / n
        ts = t0 + (np.arange(n) + 0.5) * h
        assert got == h * int(np.count_nonzero(tr.values(ts) < thr))
        checked += 0 < got < (t1 - t0)  # partly below: the count is really tested
    assert checked > 50


def test_grid_search_counts_the_points_each_evaluation_counts():
    """The compiled kernel's time below a threshold searches each stretch between
    changes instead of evaluating every grid point; on random trajectories
    (declines, nadirs, one or several transfusions), grids whose points fall
    exactly on change times, and thresholds at the trajectory's own values,
    the counts are those of evaluating every point."""
    from sim.kernel.labs import _grid_below_points, _grid_below_searched

    rng = np.random.default_rng(11)
    partial = 0
    for trial in range(600):
        tr = _random_trajectory(rng)
        changes = [*tr.seg_t[1:], *(d[0] for d in tr.dip), *(d[1] for d in tr.dip), *(b[0] for b in tr.boosts)]
        n = int(rng.integers(1, 201))
        if changes and rng.random() < 0.4:  # a grid point exactly at a change time
            c = float(rng.choice(changes))
            h = float(rng.uniform(0.01, 0.2))
            j = int(rng.integers(0, n))
            t0 = c - (j + 0.5) * h
        else:
            t0, h = float(rng.uniform(0, 3)), float(rng.uniform(0.01, 0.2))
        ts = t0 + (np.arange(n) + 0.5) * h
        values = tr.values(ts)
        thr = float(rng.choice(values)) if rng.random() < 0.3 else float(rng.uniform(1, 14))
        want = _grid_below_points(tr, thr, t0, h, n)
        assert _grid_below_searched(tr, thr, t0, h, n) == want, f"trial {trial}"
        assert want == int(np.count_nonzero(values < thr))
        partial += 0 < want < n
    assert partial > 150
