"""Replications: t-based intervals, independence, reproducibility, the
replications algorithm and its cap, the results folder."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from sim import simulate
from sim.cli.main import main
from sim.experiments.replications import (
    INITIAL,
    K_LIMIT,
    flatten,
    look_ahead,
    running_ci,
    t_ci,
)
from sim.experiments.runner import replications_to_folder, run_replications
from sim.outputs.results import read_results

from ..conftest import make

KEY = "survival.at_12_months.overall.estimate"


def test_t_ci_known_answer():
    c = t_ci([1, 2, 3, 4, 5])
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5)  # t(0.975, 4) * sd / sqrt(n)
    assert c["mean"] == 3.0
    assert c["half_width"] == pytest.approx(half)
    assert c["ci95"] == pytest.approx([3 - half, 3 + half])
    assert c["relative_half_width"] == pytest.approx(half / 3)
    assert t_ci([2.0])["half_width"] is None
    assert t_ci([float("nan"), 1.0, 3.0])["n"] == 2


def test_look_ahead_follows_hoad_et_al():
    assert look_ahead(3) == K_LIMIT
    assert look_ahead(100) == K_LIMIT
    assert look_ahead(200) == 10
    assert look_ahead(250) == 12


def test_flatten():
    assert flatten({"a": {"b": 1, "c": None, "d": [1, 2]}, "e": True}) == {
        "a.b": 1.0,
        "a.c": pytest.approx(float("nan"), nan_ok=True),
        "e": 1.0,
    }


@pytest.fixture(scope="module")
def twelve():
    return run_replications(make(patients=400, seed=5), 12)


def test_ci_half_width_shrinks_as_replications_grow(twelve):
    rc = running_ci(twelve.table[KEY].to_numpy())
    half = (rc["upper"] - rc["lower"]) / 2
    assert half.iloc[11] < half.iloc[2]
    assert half.iloc[11] < 0.6 * half.iloc[2]


def test_first_replication_is_the_single_run_and_replications_differ(twelve):
    single = simulate(make(patients=400, seed=5), keep_events=False)
    pd.testing.assert_frame_equal(twelve.first.patients, single.patients)
    assert list(twelve.table["replication"]) == list(range(12))
    assert twelve.table[KEY].nunique() > 6  # independent streams: different cohorts


def test_replications_are_reproducible():
    a = run_replications(make(patients=200, seed=9), 3).table
    b = run_replications(make(patients=200, seed=9), 3).table
    pd.testing.assert_frame_equal(a, b)


def test_auto_stops_at_its_cap_when_precision_is_out_of_reach():
    r = run_replications(make(patients=150, seed=2), "auto", precision=0.001, cap=5)
    assert r.count == 5
    assert r.n_solution is None and r.notes["converged"] is False


def test_auto_stops_after_the_look_ahead_when_precision_is_met():
    r = run_replications(make(patients=300, seed=2), "auto", precision=0.5, cap=30)
    assert r.n_solution is not None and r.n_solution >= INITIAL
    assert r.count == r.n_solution + look_ahead(r.n_solution) <= 30
    # every replication from N_sol on meets the precision
    hist = r.notes["max_relative_half_width"]
    assert all(h <= 0.5 for h in hist[r.n_solution - INITIAL :])


def test_replications_folder(tmp_path):
    out = tmp_path / "reps"
    reps, doc = replications_to_folder(make(patients=300, seed=4), out, 4)
    folder = read_results(out)
    table = pd.read_parquet(out / "replications.parquet")
    assert len(table) == 4 and KEY in table
    carc = folder.summary["outcomes"]["carcinosis"]["proportion"]
    assert "t across 4 replications" in carc["ci_method"]
    c = t_ci(table["carcinosis.proportion.estimate"])
    assert carc["estimate"] == pytest.approx(c["mean"])
    assert carc["ci95"] == pytest.approx(c["ci95"])
    assert folder.summary["replications"]["count"] == 4
    assert len(folder.patients) == 300  # the first replication's tables
    assert all("model_ci95" in row for row in folder.summary["calibration"])
    json.dumps(folder.summary, allow_nan=False)


def test_cli_replications(tmp_path, capsys):
    y = tmp_path / "s.yaml"
    y.write_text("name: reps_cli\n", encoding="utf-8")
    out = tmp_path / "o"
    assert main(["run", str(y), "--patients", "200", "--replications", "3", "--out", str(out), "--quiet"]) == 0
    assert (out / "replications.parquet").is_file()
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err == ""  # --quiet, and no progress bar off a terminal
    assert (
        main(
            [
                "run",
                str(y),
                "--patients",
                "200",
                "--replications",
                "auto",
                "--max-replications",
                "4",
                "--precision",
                "0.0001",
                "--out",
                str(tmp_path / "a"),
            ]
        )
        == 0
    )
    assert "NOT reached within the cap of 4" in capsys.readouterr().out
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["replications"]["count"] == 4
    for bad in (
        ["--replications", "0"],
        ["--replications", "many"],
        ["--replications", "auto", "--max-replications", "1"],
        ["--replications", "auto", "--precision", "2"],
    ):
        assert main(["run", str(y), "--patients", "50", "--out", str(tmp_path / "x"), *bad]) == 2
    assert not (tmp_path / "x").exists()
    assert np.isfinite(pd.read_parquet(out / "replications.parquet")["carcinosis.proportion.estimate"]).all()
