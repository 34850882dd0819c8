"""Parameter uncertainty: validation of the uncertainty section, draws, PSA,
checkpoints and resume, OWSA and its tornado order, bad input."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from sim import ScenarioError, load_scenario, simulate, with_overrides
from sim.cli.main import main
from sim.experiments.owsa import run_owsa, tornado_table
from sim.experiments.psa import run_psa
from sim.experiments.psa_draws import draws_table, outcomes_of, qalys, uniforms
from sim.scenario.loader import validate

from ..conftest import ROOT, SCENARIOS

PSA = SCENARIOS / "baseline_psa.yaml"


def spec(dist: str, **kw: Any) -> dict[str, Any]:
    return {"distribution": dist, "source": "test", **kw}


def scenario_file(tmp: Path, name: str, data: dict[str, Any]) -> Path:
    """A scenario beside a copy of baseline.yaml (extends resolves there)."""
    (tmp / "baseline.yaml").write_text((SCENARIOS / "baseline.yaml").read_text())
    f = tmp / name
    f.write_text(yaml.safe_dump({"extends": "baseline.yaml", "name": name.removesuffix(".yaml"), **data}, sort_keys=False))
    return f


def folder_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()
    }


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "entry,words",
    [
        (
            {"carcinosis.probabilty": spec("beta", mean=0.09, sd=0.01)},
            ["not a parameter", "did you mean 'carcinosis.probability'"],
        ),
        ({"sre.later_rate_per_month": spec("beta", mean=0.2, sd=0.01)}, ["beta is for probabilities", "use gamma or lognormal"]),
        ({"sre.later_rate_per_month": spec("gamma", shape=-2, scale=0.1)}, ["gamma shape must be positive", "-2"]),
        ({"sre.later_rate_per_month": spec("gamma", shape=2)}, ["needs shape and scale; or mean and sd"]),
        ({"sre.later_rate_per_month": spec("gama", shape=2, scale=1)}, ["did you mean 'gamma'"]),
        ({"sre.later_rate_per_month": spec("gamma", shape=2, scal=1)}, ["'scal' is not a parameter of a gamma"]),
        ({"progression.hazard_ratio_after_sre": spec("lognormal", median=1.4, sd_log=0.4)}, ["outside the range", "1 to 100"]),
        ({"carcinosis.probability": spec("uniform", low=0.5, high=1.5)}, ["outside the range"]),
        ({"cohort.primary_mix": spec("beta", mean=0.3, sd=0.1)}, ["use distribution dirichlet"]),
        ({"carcinosis.probability": spec("dirichlet", concentration=10)}, ["dirichlet is for mix sections"]),
        ({"cohort.primary_mix": spec("dirichlet", alpha={"prostat": 1})}, ["did you mean 'prostate'"]),
        ({"care.chemotherapy.cycles": spec("uniform", low=2, high=3)}, ["whole number"]),
        ({"run.horizon_months": spec("uniform", low=2, high=3)}, ["run setting"]),
        ({"carcinosis.probability": {"distribution": "beta", "mean": 0.09, "sd": 0.01}}, ["needs a source"]),
        ({"carcinosis.probability": spec("beta", mean=0.5, sd=0.6)}, ["too large"]),
    ],
)
def test_bad_uncertainty_names_the_field_and_the_fix(entry: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ScenarioError) as exc:
        validate({"uncertainty": entry})
    text = str(exc.value)
    assert f"uncertainty.{next(iter(entry))}" in text
    for w in words:
        assert w in text, (w, text)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ScenarioError) as exc:
        validate(
            {
                "uncertainty": {
                    "sre.later_rate_per_month": spec("beta", mean=0.2, sd=0.01),
                    "pain.rate_per_month": spec("gamma", shape=-1, scale=1),
                },
                "carcinosis": {"probability": 2},
            }
        )
    paths = {p.path for p in exc.value.problems}
    assert {"carcinosis.probability", "uncertainty.pain.rate_per_month"} <= paths  # path checks follow once every entry is valid


def test_shipped_psa_scenario_is_valid_and_keeps_its_uncertainty_through_overrides() -> None:
    s = load_scenario(PSA)
    assert {"carcinosis.probability", "cohort.primary_mix", "utilities.bone_metastasis"} <= set(s.uncertainty)
    assert all(d.source for d in s.uncertainty.values())
    assert s.utilities is not None and s.costs.discount_rate_per_year > 0
    assert "uncertainty" not in s.model_dump()  # not part of a run's resolved scenario or hash


# ----------------------------------------------------------------------------- draws


def test_draws_are_reproducible_and_independent_of_the_cohort_and_of_other_parameters() -> None:
    s = load_scenario(PSA)
    a = draws_table(s, 20)
    pd.testing.assert_frame_equal(a, draws_table(s, 20))
    pd.testing.assert_frame_equal(a.iloc[5:].reset_index(drop=True), draws_table(s, 15, first=5))
    assert not a.equals(draws_table(s, 20, seed=1))
    fewer = s.model_copy(update={"uncertainty": {k: v for k, v in s.uncertainty.items() if k != "hypercalcemia.probability"}})
    b = draws_table(fewer, 20)
    pd.testing.assert_frame_equal(a[b.columns], b)
    np.testing.assert_array_equal(uniforms(7, 3, "x", 4), uniforms(7, 3, "x", 4))
    t100 = run_psa(s, draws=3, patients=60).table
    t200 = run_psa(s, draws=3, patients=120).table
    params = [c for c in t100.columns if c.startswith("param.")]
    pd.testing.assert_frame_equal(t100[params], t200[params])
    assert np.allclose(t100[params].to_numpy(), a.iloc[:3][[c[6:] for c in params]].to_numpy())


def test_sampled_means_match_the_distributions() -> None:
    unc = {
        "carcinosis.probability": spec("beta", alpha=9, beta=91),
        "sre.later_rate_per_month": spec("gamma", mean=0.25, sd=0.05),
        "progression.hazard_ratio_after_sre": spec("lognormal", low=1.2, high=1.63),
        "pain.rate_per_month": spec("uniform", low=0.05, high=0.15),
        "hypercalcemia.probability": spec("triangular", low=0.02, mode=0.05, high=0.1),
        "cohort.primary_mix": spec("dirichlet", concentration=100),
    }
    s = validate({"uncertainty": unc})
    n = 4000
    t = draws_table(s, n)
    for path, d in s.uncertainty.items():
        if d.distribution == "dirichlet":
            for k, v in s.cohort.primary_mix.model_dump().items():
                x = t[f"{path}.{k}"]
                assert abs(x.mean() - v) < 4 * np.sqrt(v * (1 - v) / 101 / n) + 1e-9, k
            assert np.allclose(t[[c for c in t.columns if c.startswith(path)]].sum(axis=1), 1.0)
            continue
        f = d.frozen()
        x = t[path].to_numpy()
        assert abs(x.mean() - f.mean()) < 4 * f.std() / np.sqrt(n), path
        assert abs(x.std() - f.std()) < 0.1 * f.std(), path


def test_zero_width_distributions_give_the_deterministic_run() -> None:
    base = load_scenario(PSA)
    point = {
        "carcinosis.probability": spec("uniform", low=0.12, high=0.12),
        "hypercalcemia.probability": spec("beta", mean=base.hypercalcemia.probability, sd=0),
        "services.beds.cost_per_unit": spec("gamma", mean=600.0, sd=0),
        "progression.hazard_ratio_after_sre": spec("lognormal", low=1.4, high=1.4),
    }
    s = base.model_copy(update={"uncertainty": validate({"uncertainty": point}).uncertainty})
    t = run_psa(s, draws=3, patients=200).table
    fixed = with_overrides(base, {"carcinosis.probability": 0.12, "run.patients": 200})
    res = simulate(fixed, keep_events=False)
    expected = outcomes_of(res.patients, res.services, fixed)
    for _, row in t.iterrows():
        for k, v in expected.items():
            assert row[k] == pytest.approx(v, rel=1e-12, abs=1e-12) or (np.isnan(v) and np.isnan(row[k])), k
    assert (t["param.carcinosis.probability"] == 0.12).all()


def test_qalys_follow_the_utility_weights() -> None:
    s = load_scenario(PSA, ["run.patients=300"])
    res = simulate(s, keep_events=False)
    u = s.utilities
    assert u is not None
    flat = u.model_copy(
        update={
            "bone_metastasis": 1.0,
            "after_sre": 1.0,
            "carcinosis": 1.0,
            "paralysis": 1.0,
            "sre_loss_qalys": 0.0,
            "hypercalcemia_loss_qalys": 0.0,
            "discount_rate_per_year": 0.0,
        }
    )
    np.testing.assert_allclose(qalys(res.patients, flat), res.patients["followup_months"] / 12.0)
    q = qalys(res.patients, u)
    assert (q <= res.patients["followup_months"].to_numpy() / 12.0 + 1e-12).all()


# ----------------------------------------------------------------------------- the psa command


def test_psa_command_writes_table_summary_and_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p"
    assert main(["psa", str(PSA), "--draws", "6", "--patients", "150", "--out", str(out), "--workers", "1"]) == 0
    text = capsys.readouterr().out
    assert "illustrative, not clinically validated" in text and "95% uncertainty interval" in text
    t = pd.read_parquet(out / "psa.parquet")
    assert list(t["draw"]) == list(range(6)) and "param.carcinosis.probability" in t and "qalys_per_patient" in t
    doc = json.loads((out / "summary.json").read_text())
    o = doc["outcomes"]["baseline_psa"]["cost_per_patient"]
    assert o["ui95"][0] <= o["mean"] <= o["ui95"][1] and doc["notice"].startswith("Parameters are illustrative")
    assert (out / "outcomes.png").stat().st_size > 0
    assert "uncertainty:" in (out / "scenario.resolved.yaml").read_text()


def test_paired_psa_uses_the_same_draws_and_gives_the_ce_plane(tmp_path: Path) -> None:
    b = tmp_path / "more_chemo.yaml"
    b.write_text(
        yaml.safe_dump(
            {
                "extends": str(PSA.name),
                "name": "more_chemo",
                "care": {"chemotherapy": {"uptake": 0.9}},
                "services": {"theatre": {"cost_per_use": 9000.0}},
            }
        )
    )  # dearer operations: a positive incremental cost
    (tmp_path / PSA.name).write_text(PSA.read_text())
    out = tmp_path / "ab"
    assert (
        main(["psa", str(PSA), str(b), "--draws", "5", "--patients", "120", "--out", str(out), "--quiet", "--workers", "1"]) == 0
    )
    t = pd.read_parquet(out / "psa.parquet")
    a_rows, b_rows = (
        t[t["scenario"] == "baseline_psa"].reset_index(drop=True),
        t[t["scenario"] == "more_chemo"].reset_index(drop=True),
    )
    params = [c for c in t.columns if c.startswith("param.")]
    pd.testing.assert_frame_equal(a_rows[params], b_rows[params])
    doc = json.loads((out / "summary.json").read_text())
    ce = doc["cost_effectiveness"]
    assert ce["incremental_cost_mean"] > 0 and len(ce["ceac"]["wtp"]) == 101
    assert all(0 <= p <= 1 for p in ce["ceac"]["probability_cost_effective"])
    assert (out / "ce_plane.png").is_file() and (out / "ceac.png").is_file()


def test_interrupted_psa_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    """Kill a real psa run after a few checkpoints, resume it, compare with a run never interrupted."""
    args = ["psa", str(PSA), "--draws", "24", "--patients", "250", "--workers", "1", "--quiet"]
    whole = tmp_path / "whole"
    assert main(args + ["--out", str(whole)]) == 0
    cut = tmp_path / "cut"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run_sim.py"), *args, "--out", str(cut)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while len(list((cut / ".checkpoint").glob("draw-*.parquet"))) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        still_running = proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    k = len(list((cut / ".checkpoint").glob("draw-*.parquet")))
    assert still_running and 3 <= k < 24
    assert not (cut / "summary.json").exists() and not (cut / "psa.parquet").exists()
    assert main(args + ["--out", str(cut), "--resume"]) == 0
    doc = json.loads((cut / "summary.json").read_text())
    assert doc["resumed_draws"] >= k
    a, b = pd.read_parquet(whole / "psa.parquet"), pd.read_parquet(cut / "psa.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert (whole / "psa.parquet").read_bytes() == (cut / "psa.parquet").read_bytes()
    # resuming a complete folder recomputes nothing and duplicates nothing
    assert main(args + ["--out", str(cut), "--resume"]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(cut / "psa.parquet"), a)
    assert json.loads((cut / "summary.json").read_text())["resumed_draws"] == 24


def test_resume_on_another_scenarios_folder_is_refused_and_nothing_is_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p"
    assert main(["psa", str(PSA), "--draws", "3", "--patients", "80", "--out", str(out), "--quiet", "--workers", "1"]) == 0
    before = folder_digest(out)
    capsys.readouterr()
    assert (
        main(
            [
                "psa",
                str(PSA),
                "--set",
                "carcinosis.dic_probability=0.5",
                "--draws",
                "3",
                "--patients",
                "80",
                "--out",
                str(out),
                "--resume",
                "--quiet",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "another set-up" in err and "nothing was changed" in err
    assert main(["psa", str(PSA), "--draws", "3", "--patients", "90", "--out", str(out), "--resume", "--quiet"]) == 2
    assert (
        main(["psa", str(PSA), "--draws", "3", "--patients", "80", "--out", str(out), "--quiet"]) == 2
    )  # exists: needs --resume or --force
    assert main(["psa", str(PSA), "--draws", "0", "--patients", "80", "--out", str(out), "--resume", "--quiet"]) == 2
    assert folder_digest(out) == before
    run = tmp_path / "run"
    run.mkdir()
    (run / "patients.parquet").write_bytes(b"x")
    assert main(["psa", str(PSA), "--draws", "2", "--patients", "50", "--out", str(run), "--resume", "--quiet"]) == 2
    assert (run / "patients.parquet").read_bytes() == b"x"


@pytest.mark.parametrize(
    "unc",
    [
        {"sre.later_rate_per_month": spec("beta", mean=0.2, sd=0.01)},
        {"sre.later_rate_per_month": spec("gamma", shape=-2, scale=0.1)},
    ],
    ids=["beta on a rate", "negative gamma shape"],
)
def test_bad_distributions_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], unc: dict[str, Any]) -> None:
    f = scenario_file(tmp_path, "bad.yaml", {"uncertainty": unc})
    out = tmp_path / "p"
    for cmd in (["psa", str(f), "--draws", "2"], ["owsa", str(f)]):
        assert main([*cmd, "--patients", "20", "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "uncertainty.sre.later_rate_per_month" in err and "Traceback" not in err
        assert not out.exists()


def test_bad_counts_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p"
    for extra in (["--draws", "0"], ["--draws", "-3"]):
        assert main(["psa", str(PSA), *extra, "--out", str(out), "--quiet"]) == 2
    with pytest.raises(SystemExit) as exit_:  # refused by argparse, naming the flag
        main(["psa", str(PSA), "--patients", "0", "--out", str(out), "--quiet"])
    assert exit_.value.code == 2 and "argument --patients" in capsys.readouterr().err
    assert main(["psa", str(SCENARIOS / "baseline.yaml"), "--draws", "2", "--out", str(out), "--quiet"]) == 2
    assert "no uncertainty" in capsys.readouterr().err
    assert main(["owsa", str(PSA), "--outcome", "qaly", "--out", str(out), "--quiet"]) == 2
    assert "did you mean 'qalys_per_patient'" in capsys.readouterr().err
    assert not out.exists()


# ----------------------------------------------------------------------------- one-way


def test_tornado_order_of_a_known_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unc = {
        "carcinosis.probability": spec("uniform", low=0.03, high=0.3),  # drives carcinosis
        "hypercalcemia.probability": spec("uniform", low=0.045, high=0.055),  # barely touches it
        "services.beds.cost_per_unit": spec("uniform", low=100, high=1000),  # cannot touch it
    }
    f = scenario_file(tmp_path, "known.yaml", {"uncertainty": unc})
    out = tmp_path / "o"
    assert (
        main(["owsa", str(f), "--outcome", "carcinosis_proportion", "--patients", "400", "--out", str(out), "--workers", "1"])
        == 0
    )
    doc = json.loads((out / "summary.json").read_text())
    order = [r["parameter"] for r in doc["tornado"]]
    assert order == ["carcinosis.probability", "hypercalcemia.probability", "services.beds.cost_per_unit"]
    top = doc["tornado"][0]
    assert top["outcome_at_high"] > doc["base"] > top["outcome_at_low"]
    assert doc["tornado"][2]["swing"] == 0
    assert top["low_value"] == pytest.approx(0.03 + 0.025 * 0.27) and top["high_value"] == pytest.approx(0.03 + 0.975 * 0.27)
    assert (out / "tornado.png").stat().st_size > 0 and (out / "owsa.parquet").is_file()
    t = pd.read_parquet(out / "owsa.parquet")
    assert len(t) == 1 + 2 * 3 and "life_years" in t


def test_tornado_table_ranks_by_swing() -> None:
    t = pd.DataFrame(
        {
            "parameter": ["(base case)", "a", "a", "b", "b", "c", "c"],
            "side": ["base", "low", "high", "low", "high", "low", "high"],
            "value": [np.nan, 1, 2, 1, 2, 1, 2],
            "y": [10.0, 9.5, 10.5, 4.0, 16.0, 10.0, 10.0],
        }
    )
    r = tornado_table(t, "y")
    assert list(r["parameter"]) == ["b", "a", "c"] and list(r["swing"]) == [12.0, 1.0, 0.0]


def test_owsa_mix_shares_keep_their_sum() -> None:
    s = load_scenario(PSA)
    t = run_owsa(s.model_copy(update={"uncertainty": {"cohort.primary_mix": s.uncertainty["cohort.primary_mix"]}}), patients=50)
    assert set(t["parameter"]) - {"(base case)"} == {f"cohort.primary_mix.{k}" for k in s.cohort.primary_mix.model_dump()}


def test_force_replaces_only_a_psa_folder_and_never_the_working_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--force starts a PSA folder again, but a folder that holds no PSA (a
    run's results, a project) is refused with nothing removed, and so are the
    current folder and its parents."""
    other = tmp_path / "results"
    other.mkdir()
    (other / "patients.parquet").write_bytes(b"x")
    assert main(["psa", str(PSA), "--draws", "2", "--patients", "50", "--out", str(other), "--force", "--quiet"]) == 2
    assert "does not hold a PSA" in capsys.readouterr().err and (other / "patients.parquet").read_bytes() == b"x"
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("x")
    (work / ".checkpoint").mkdir()
    (work / ".checkpoint" / "manifest.json").write_text("{}")  # even one that looks like a PSA folder
    monkeypatch.chdir(work)
    for target in (".", str(work), str(tmp_path)):
        assert main(["psa", str(PSA), "--draws", "2", "--patients", "50", "--out", target, "--force", "--quiet"]) == 2
        assert "current folder" in capsys.readouterr().err
    assert (work / "keep.txt").read_text() == "x"
    psa = tmp_path / "p"
    assert main(["psa", str(PSA), "--draws", "2", "--patients", "50", "--out", str(psa), "--quiet", "--workers", "1"]) == 0
    (psa / "notes.txt").write_text("mine")  # a file the program did not write: --force removes nothing
    assert (
        main(["psa", str(PSA), "--draws", "2", "--patients", "60", "--out", str(psa), "--force", "--quiet", "--workers", "1"])
        == 2
    )
    assert "notes.txt" in capsys.readouterr().err and (psa / "notes.txt").read_text() == "mine"
    (psa / "notes.txt").unlink()
    assert (
        main(["psa", str(PSA), "--draws", "2", "--patients", "60", "--out", str(psa), "--force", "--quiet", "--workers", "1"])
        == 0
    )
    assert json.loads((psa / "summary.json").read_text())["patients_per_draw"] == 60


def test_psa_folder_is_on_disk_before_its_marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """psa.parquet and the resolved scenario are flushed (fsync) before
    summary.json, the marker of a complete folder, is written; the marker and
    the folder's entries are flushed after it."""
    import sim.outputs.folder as output

    out = tmp_path / "psa"
    synced: list[tuple[str, bool]] = []  # (file flushed, was the marker already there)
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append((os.path.realpath(f"/proc/self/fd/{fd}"), (out / "summary.json").exists()))
        real_fsync(fd)

    monkeypatch.setattr(output.os, "fsync", fsync)
    run_psa(load_scenario(PSA), draws=2, patients=40, out=out, figures=False)
    # each file is flushed under its temporary name (.STEM.partial-PID-XXXXXXXX.SUFFIX), before it takes its own
    order = [re.sub(r"/\.([^/]*)\.partial-\d+-[0-9a-f]{8}(\.[^./]*)?$", r"/\1\2", p) for p, _ in synced]
    before = {os.path.basename(p) for p, (_, marked) in zip(order, synced) if not marked}
    assert {"psa.parquet", "scenario.resolved.yaml"} <= before, synced
    marker = order.index(str((out / "summary.json").resolve()))
    assert str(out.resolve()) in order[marker + 1 :], synced  # the folder's entries, after the marker
