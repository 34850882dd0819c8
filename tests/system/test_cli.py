"""The batch command line: outputs, exit codes, nothing written on bad input."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim.cli.main import main

from ..conftest import ROOT, SCENARIOS

BASE = str(SCENARIOS / "baseline.yaml")
PATIENT_COLS = {
    "patient_id",
    "primary",
    "entry_months",
    "death_months",
    "death_cause",
    "followup_months",
    "censored",
    "carcinosis_onset_months",
    "carcinosis_diagnosis_months",
    "hypercalcemia_months",
    "first_sre_months",
    "cord_compression_months",
    "n_sre",
    "worst_anemia_grade",
    "worst_thrombocytopenia_grade",
    "worst_leukopenia_grade",
    "chemotherapy",
    "n_radiotherapy_courses",
    "n_radionuclide",
    "n_chemo_cycles",
    "n_rbc_units",
    "n_platelet_units",
    "n_surgery",
    "n_admissions",
}


def digest(folder: Path, name: str) -> str:
    return hashlib.sha256((folder / name).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("r") / "base"
    assert main(["run", BASE, "--patients", "800", "--seed", "5", "--out", str(out), "--quiet"]) == 0
    return out


def test_run_writes_the_tables(results: Path):
    names = {p.name for p in results.iterdir()}
    assert {"patients.parquet", "events.parquet", "summary.json", "scenario.resolved.yaml", "timing.json"} <= names
    from sim import kernel

    assert json.loads((results / "timing.json").read_text())["kernel"] == kernel.status()["kernel"]  # which kernel ran
    df = pd.read_parquet(results / "patients.parquet")
    assert PATIENT_COLS <= set(df.columns) and len(df) == 800
    ev = pd.read_parquet(results / "events.parquet")
    assert list(ev.columns) == ["patient_id", "time_months", "event", "detail"]
    assert set(ev["patient_id"]) == set(range(800))


def test_summary_keys(results: Path):
    doc = json.loads((results / "summary.json").read_text())
    for k in ("scenario", "seed", "patients", "model_version", "scenario_sha256"):
        assert k in doc
    o = doc["outcomes"]
    for key in ("carcinosis", "hypercalcemia"):
        p = o[key]["proportion"]
        assert 0 <= p["ci95"][0] <= p["estimate"] <= p["ci95"][1] <= 1
    assert o["survival"]["median_months"]["estimate"] > 0
    assert set(o["survival"]["at_12_months"]["by_primary"]) == {"prostate", "breast", "lung", "renal", "thyroid", "other"}
    df = pd.read_parquet(results / "patients.parquet")
    for cause, v in o["deaths"]["by_cause"].items():
        assert v["count"] == int((df["death_cause"] == cause).sum())
    assert "illustrative" in doc["notice"]


def test_resolved_scenario_reproduces_the_run(results: Path, tmp_path: Path):
    out = tmp_path / "again"
    assert main(["run", str(results / "scenario.resolved.yaml"), "--out", str(out), "--quiet"]) == 0
    for name in ("patients.parquet", "events.parquet"):
        assert digest(out, name) == digest(results, name)
    a, b = (json.loads((d / "summary.json").read_text()) for d in (results, out))
    assert a["outcomes"] == b["outcomes"] and a["scenario_sha256"] == b["scenario_sha256"]


def test_same_seed_identical_files_different_seed_different(tmp_path: Path):
    outs = []
    for i, seed in enumerate(("3", "3", "4")):
        out = tmp_path / f"o{i}"
        assert main(["run", BASE, "--patients", "300", "--seed", seed, "--out", str(out), "--quiet"]) == 0
        outs.append(out)
    for name in ("patients.parquet", "events.parquet", "summary.json", "scenario.resolved.yaml"):
        assert digest(outs[0], name) == digest(outs[1], name)
    assert digest(outs[0], "patients.parquet") != digest(outs[2], "patients.parquet")


def test_csv_format(tmp_path: Path):
    out = tmp_path / "csv"
    assert main(["run", BASE, "--patients", "200", "--format", "csv", "--out", str(out), "--quiet"]) == 0
    assert len(pd.read_csv(out / "patients.csv")) == 200
    assert set(pd.read_csv(out / "events.csv").columns) == {"patient_id", "time_months", "event", "detail"}


def test_existing_results_never_overwritten_without_force(tmp_path: Path, capsys):
    out = tmp_path / "keep"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    assert main(["run", BASE, "--patients", "100", "--out", str(out), "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "precious.txt").read_text() == "keep me"
    # --force replaces only this program's results: a folder of other files is refused, nothing removed
    assert main(["run", BASE, "--patients", "100", "--out", str(out), "--quiet", "--force"]) == 2
    assert "nothing was removed" in capsys.readouterr().err
    assert (out / "precious.txt").read_text() == "keep me" and not (out / "summary.json").exists()
    res = tmp_path / "res"
    assert main(["run", BASE, "--patients", "100", "--out", str(res), "--quiet"]) == 0
    assert main(["run", BASE, "--patients", "120", "--out", str(res), "--quiet", "--force"]) == 0
    assert json.loads((res / "summary.json").read_text())["patients"] == 120


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "missing.yaml"], "file not found"),
        (["run", BASE, "--set", "carcinosis.probabilty=0.1"], "did you mean 'probability'"),
        (["run", BASE, "--set", "carcinosis.probability=abc"], "carcinosis.probability"),
        (["run", BASE, "--set", "carcinosis.probability=2"], "carcinosis.probability"),
        (["run", BASE, "--set", "nodots"], "dotted.path=value"),
        (["run", BASE, "--patients", "0"], "argument --patients: 0 is out of range"),
        (["run", BASE, "--patients", "ten"], "argument --patients: 'ten' is not a whole number"),
        (["validate", "missing.yaml"], "file not found"),
    ],
)
def test_bad_input_exit_2_nothing_written(tmp_path: Path, capsys, args, needle):
    out = tmp_path / "never"
    extra = ["--out", str(out)] if args[0] == "run" else []
    with pytest.raises(SystemExit) if "--patients" in args else _nullcontext() as ctx:  # refused by argparse
        rc = main(args + extra)
    if ctx is not None and hasattr(ctx, "value"):
        rc = ctx.value.code
    assert rc == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not out.exists()
    assert not any(p.name.startswith(".never") for p in tmp_path.iterdir())


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


def test_validate(tmp_path: Path, capsys):
    assert main(["validate", BASE]) == 0
    assert "valid" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("carcinosis:\n  probability: 3\nhypercalcemia:\n  probabilty: 0.1\n")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "carcinosis.probability" in err and "did you mean 'probability'" in err and "2 problems" in err


def test_subprocess_has_no_traceback_and_version(tmp_path: Path):
    r = subprocess.run(
        [sys.executable, str(ROOT / "run_sim.py"), "run", str(tmp_path / "nope.yaml")], capture_output=True, text=True
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, str(ROOT / "run_sim.py"), "--version"], capture_output=True, text=True)
    from sim import __version__

    assert r.returncode == 0 and __version__ in r.stdout
