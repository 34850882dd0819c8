"""Values the program shows and writes: survival beyond follow-up is not
estimable (never the last Kaplan-Meier value carried forward), runs with no
reported patients give a summary and a report, scenario text never becomes a
spreadsheet formula, and confidence intervals hold their estimate."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.analysis.summary import wilson

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"


# ----------------------------------------------------------------------------- Wilson intervals


@pytest.mark.parametrize("n", [1, 2, 3, 6, 7, 10, 12, 97, 1000, 123457])
def test_wilson_at_none_and_all_holds_the_estimate_exactly(n):
    none, every = wilson(0, n), wilson(n, n)
    assert none["estimate"] == 0.0 and none["ci95"][0] == 0.0 and none["ci95"][1] > 0.0
    assert every["estimate"] == 1.0 and every["ci95"][1] == 1.0 and every["ci95"][0] < 1.0


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=1, max_value=10**7).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_always_holds_its_estimate(kn):
    k, n = kn
    w = wilson(k, n)
    lo, hi = w["ci95"]
    assert 0.0 <= lo <= w["estimate"] <= hi <= 1.0
    assert w["estimate"] == k / n


def test_wilson_of_nobody_is_not_estimable():
    assert wilson(0, 0) == {"estimate": None, "ci95": [None, None], "n": 0, "reason": "not estimable (no patients)"}


def test_outcome_bars_accept_a_bound_a_rounding_error_past_the_estimate():
    import pandas as pd

    from sim.present.course_figures import outcome_bars, paired_differences

    table = pd.DataFrame(
        {
            "run": ["#1", "#2", "#3"],
            "outcome": ["carcinosis (proportion)"] * 3,
            "estimate": [0.0, 1.0, None],
            "lower": [5.551115123125783e-17, 0.7, None],
            "upper": [0.3, 0.9999999999999999, None],
        }
    )
    fig = outcome_bars(table, ["carcinosis (proportion)"])
    fig.canvas.draw()
    diffs = pd.DataFrame({"metric": ["m"], "scenario": ["b"], "difference": [0.0], "ci95_low": [1e-17], "ci95_high": [-1e-17]})
    paired_differences(diffs, {"m": "m"}).canvas.draw()


def _dashboard_run(scenario_file: str, values: dict[str, float], patients: int | None = None) -> Any:
    """The dashboard after a run of a shipped scenario with some widgets set (skipped without Streamlit)."""
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("views/scenario.py").run()
    at.selectbox(key="scenario_file").set_value(scenario_file).run()
    token = f"file:{scenario_file}"
    for path, value in values.items():
        at.number_input(key=f"w|{token}|{path}").set_value(value).run()
    if patients is not None:
        at.number_input(key=f"patients|{token}").set_value(patients).run()
    at.button(key="run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at


def test_dashboard_compare_page_after_a_run_with_a_zero_outcome():
    at = _dashboard_run("baseline.yaml", {"carcinosis.probability": 0.0}, patients=300)
    at.switch_page("views/compare.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    side = at.dataframe[0].value.set_index("outcome")
    assert side.loc["carcinosis (proportion)"].iloc[0] == 0.0
    assert len(list(at.get("image"))) == 1


# ----------------------------------------------------------------------------- survival beyond the follow-up


def _exponential(scale: float, horizon: float, patients: int = 4000, seed: int = 3):
    """A cohort whose only death is exponential (mean ``scale`` months), followed ``horizon`` months."""
    from sim import simulate
    from sim.scenario.fields import PRIMARIES

    from ..conftest import QUIET, make

    over = {
        **QUIET,
        **{f"progression.weibull.{p}.shape": 1.0 for p in PRIMARIES},
        **{f"progression.weibull.{p}.scale_months": scale for p in PRIMARIES},
        "run.horizon_months": horizon,
    }
    return simulate(make(over, patients, seed), keep_events=False)


def _summary(res):
    from sim.analysis.summary import summary_document

    return summary_document(res, "test", "0" * 64)


def test_km_known_until_separates_censoring_from_everyone_dead():
    from sim.analysis.summary import km_known_until, km_summary

    t, e = np.array([1.0, 2.0, 3.0]), np.array([True, False, True])
    assert km_known_until(t, e) == math.inf  # the last one followed died: survival 0 from then on
    s = km_summary(t, e, at=(2.0, 3.0, 60.0))
    assert s["at_60_months"] == {"estimate": 0.0, "ci95": [0.0, 0.0]}
    t, e = np.array([1.0, 3.0]), np.array([True, False])
    assert km_known_until(t, e) == 3.0
    s = km_summary(t, e, at=(3.0, 3.5))
    assert s["at_3_months"]["estimate"] == 0.5  # at the last follow-up time itself: known
    assert s["at_3.5_months"] == {"estimate": None, "ci95": [None, None], "reason": "not estimable (follow-up 3 months)"}
    # a death and a censoring at the last time: someone is still alive and unobserved after it
    assert km_known_until(np.array([1.0, 3.0, 3.0]), np.array([True, True, False])) == 3.0
    assert km_known_until(np.array([]), np.array([], dtype=bool)) == -math.inf


def test_exponential_cohort_survival_is_estimated_to_the_horizon_and_not_beyond():
    scale, horizon = 10.0, 24.0
    doc = _summary(_exponential(scale, horizon))
    surv = doc["outcomes"]["survival"]
    at12 = surv["at_12_months"]["overall"]
    expected = math.exp(-12.0 / scale)
    assert abs(at12["estimate"] - expected) < 4 * math.sqrt(expected * (1 - expected) / 4000)
    assert at12["ci95"][0] <= at12["estimate"] <= at12["ci95"][1]
    at60 = surv["at_60_months"]["overall"]
    assert at60 == {"estimate": None, "ci95": [None, None], "reason": "not estimable (follow-up 24 months)"}
    for p, node in surv["at_60_months"]["by_primary"].items():
        assert node["estimate"] is None and "follow-up 24 months" in node["reason"], p
    # the calibration targets read the same survival: not estimable at 60 months either
    cal = {row["target"]: row for row in doc["calibration"]}
    os60 = [row for label, row in cal.items() if "5-year" in label.lower() or "60" in label]
    assert os60 and all(row["model"] is None and row["within_range"] is False for row in os60)


def test_horizon_shorter_than_twelve_months_gives_no_survival_at_twelve():
    doc = _summary(_exponential(10.0, 6.0))
    surv = doc["outcomes"]["survival"]
    for key in ("at_12_months", "at_60_months"):
        assert surv[key]["overall"]["estimate"] is None
        assert surv[key]["overall"]["reason"] == "not estimable (follow-up 6 months)"
    assert surv["median_months"]["estimate"] is None  # ln2 x 10 = 6.9 months: not reached in 6
    assert surv["median_months"]["reason"] == "not reached (follow-up 6 months)"


def test_everyone_dead_before_the_time_gives_survival_zero_not_unknown():
    res = _exponential(1.0, 200.0, patients=2000)
    assert not res.patients["censored"].any()
    surv = _summary(res)["outcomes"]["survival"]
    assert surv["at_60_months"]["overall"] == {"estimate": 0.0, "ci95": [0.0, 0.0]}


def test_analysis_tables_leave_times_beyond_follow_up_empty_with_a_note():
    from sim.analysis.survival import analyse

    res = _exponential(10.0, 18.0)
    a = analyse(res.patients, horizon_months=18.0)
    surv = a.tables["survival"].set_index("group")
    row = surv.loc["all patients"]
    assert 0 < row["at_12_months"] < 1 and row["at_12_lower"] <= row["at_12_months"] <= row["at_12_upper"]
    for col in ("at_24_months", "at_24_lower", "at_24_upper", "at_60_months", "at_60_lower", "at_60_upper"):
        assert math.isnan(row[col]), col
    assert row["note"] == "not estimable (follow-up 18 months)"
    inc = a.tables["incidence"].set_index("event")
    assert inc["at_60_months"].isna().all() and inc["at_12_months"].notna().all()
    assert (inc["note"] == "not estimable (follow-up 18 months)").all()


def test_psa_survival_at_twelve_months_is_not_estimable_with_six_months_of_follow_up():
    from sim import load_scenario, with_overrides
    from sim.analysis.kaplan_meier import product_limit as km
    from sim.analysis.kaplan_meier import steps_at as km_at
    from sim.experiments.psa import run_psa
    from sim.experiments.psa_draws import outcomes_of

    res = _exponential(10.0, 6.0, patients=500)
    s = res.scenario
    out = outcomes_of(res.patients, res.services, s)
    assert math.isnan(out["alive_12_months"])
    t = res.patients["followup_months"].to_numpy()
    e = ~res.patients["censored"].to_numpy()
    kt, ks = km(t, e)
    assert km_at(kt, ks, 6.0, 6.0) == pytest.approx((t >= 6.0).mean())
    psa = load_scenario(SCENARIOS / "baseline_psa.yaml")
    psa = with_overrides(psa, {"run.horizon_months": 6.0})
    r = run_psa(psa, draws=3, patients=100, figures=False)
    node = r.summary["outcomes"][psa.name]["alive_12_months"]
    assert node["mean"] is None and node["ui95"] == [None, None]
    assert node["reason"] == "not estimable in 3 of 3 draws (follow-up shorter than 12 months)"
    assert r.table["alive_12_months"].isna().all()


def test_owsa_refuses_survival_at_twelve_months_with_shorter_follow_up():
    from sim import load_scenario, with_overrides
    from sim.experiments.owsa import choose_outcome
    from sim.experiments.psa_draws import PsaError

    s = with_overrides(load_scenario(SCENARIOS / "baseline_psa.yaml"), {"run.horizon_months": 6.0})
    with pytest.raises(PsaError, match="run.horizon_months is 6.*alive_12_months|alive_12_months.*run.horizon_months is 6"):
        choose_outcome("alive_12_months", s)


def test_replications_report_not_estimable_rather_than_a_mean_of_some():
    from sim.experiments.replications import replicated_summary
    from sim.experiments.runner import run_replications

    from ..conftest import QUIET, make

    s = make({**QUIET, "run.horizon_months": 6.0}, patients=300)
    reps = run_replications(s, 3)
    doc = replicated_summary(_summary(reps.first), reps)
    node = doc["outcomes"]["survival"]["at_12_months"]["overall"]
    assert node["estimate"] is None and node["reason"] == "not estimable (follow-up 6 months)"
    assert doc["outcomes"]["carcinosis"]["proportion"]["estimate"] == 0.0
    # auto does not wait for the precision of an outcome no replication can estimate
    auto = run_replications(s, "auto", cap=12)
    assert auto.n_solution is not None and auto.count < 12


def test_run_command_prints_not_estimable_beyond_the_horizon(tmp_path, capsys):
    import json

    from sim.cli.main import main

    out = tmp_path / "r"
    code = main(["run", str(SCENARIOS / "baseline.yaml"), "--patients", "400", "--horizon-months", "6", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "alive at 12 months   not estimable (follow-up 6 months)" in text
    doc = json.loads((out / "summary.json").read_text())
    for key in ("at_12_months", "at_60_months"):
        node = doc["outcomes"]["survival"][key]["overall"]
        assert node["estimate"] is None and node["reason"] == "not estimable (follow-up 6 months)"
    assert main(["report", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "Alive at 60 months</td><td>not estimable (follow-up 6 months)" in html
    from openpyxl import load_workbook

    ws = load_workbook(out / "report.xlsx")["Summary"]
    values = {r[0]: r[1] for r in ws.iter_rows(values_only=True) if r[0]}
    assert values["Alive at 12 months"] == "not estimable (follow-up 6 months)"


# ----------------------------------------------------------------------------- runs with no reported patients

NOBODY = [
    "--set",
    "population.population_size=1000",
    "--set",
    "population.incidence_per_100k=1",
    "--set",
    "population.prevalent_patients=0",
]


@pytest.mark.parametrize("extra", [["--quiet"], [], ["--replications", "2"]])
def test_population_run_with_nobody_reported_gives_a_summary_and_a_report(tmp_path, capsys, extra):
    import json

    from openpyxl import load_workbook

    from sim.cli.main import main

    out = tmp_path / "pop"
    code = main(["run", str(SCENARIOS / "regional_baseline.yaml"), *NOBODY, "--out", str(out), *extra])
    text = capsys.readouterr()
    assert code == 0, text.err
    assert "Traceback" not in text.err
    doc = json.loads((out / "summary.json").read_text())
    assert doc["reported_patients"] == 0
    o = doc["outcomes"]
    assert o["carcinosis"]["proportion"]["estimate"] is None
    assert o["carcinosis"]["proportion"]["reason"] == "not estimable (no patients)"
    assert o["survival"]["at_12_months"]["overall"]["reason"] == "not estimable (no patients)"
    assert o["survival"]["median_months"]["estimate"] is None
    if "--quiet" not in extra:
        assert "reported patients    0" in text.out and "alive at 12 months   not estimable (no patients)" in text.out
        assert "patients/s" not in text.out  # no cohort size to divide by in population mode
    assert main(["report", str(out)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Warning" not in err
    html = (out / "report.html").read_text()
    assert "No patients were reported" in html and "the outcomes are not estimable" in html
    values = {r[0]: r[1] for r in load_workbook(out / "report.xlsx")["Summary"].iter_rows(values_only=True) if r[0]}
    assert values["Alive at 12 months"] == "not estimable (no patients)"
    assert values["Bone marrow carcinosis during the course"] == "not estimable (no patients)"


def test_summary_of_an_empty_patients_table():
    import pandas as pd

    from sim.analysis.summary import outcomes

    from ..conftest import run

    df = run(patients=50).patients.iloc[:0]
    o = outcomes(pd.DataFrame(df))
    assert o["survival"]["at_60_months"]["overall"]["estimate"] is None
    assert o["deaths"]["total"] == 0 and o["care"]["bed_days"]["per_patient"] is None


def test_dashboard_outcomes_of_a_population_run_with_nobody_reported():
    at = _dashboard_run("regional_baseline.yaml", {"population.incidence_per_100k": 0.001})
    at.switch_page("views/outcomes.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("0 patients reported" in c.value for c in at.caption)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["alive at 12 months (proportion)"] == "not estimable"
    at.switch_page("views/compare.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]


# ----------------------------------------------------------------------------- formula injection

INJECTION = """\
extends: {base}
name: '=HYPERLINK("http:evil","click")'
description: '+cmd|'' /C calc''!A0'
services:
  radiotherapy:
    unit: '=1+2'
    cost_per_unit: 10
  beds:
    unit: "@SUM(1,2)"
  theatre:
    unit: "\\tx"
costs:
  currency: '-2+3'
"""
RISKY = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_scenario_text_never_becomes_a_formula_in_csv_or_xlsx(tmp_path):
    import csv

    from openpyxl import load_workbook

    from sim.cli.main import main

    scen = tmp_path / "inj.yaml"
    scen.write_text(INJECTION.format(base=SCENARIOS / "baseline.yaml"), encoding="utf-8")
    out = tmp_path / "r"
    assert main(["run", str(scen), "--patients", "200", "--format", "csv", "--out", str(out), "--report", "--quiet"]) == 0
    csvs = sorted(out.glob("*.csv"))
    assert {p.name for p in csvs} >= {"patients.csv", "events.csv", "services.csv"}
    for p in csvs:
        with p.open(newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                for cell in row:
                    if cell.startswith(RISKY):
                        assert _is_number(cell), (p.name, cell)  # a negative number, not text
    with (out / "services.csv").open(newline="", encoding="utf-8") as f:
        units = {r["service"]: r["unit"] for r in csv.DictReader(f)}
    assert units["radiotherapy"] == "'=1+2" and units["beds"] == "'@SUM(1,2)" and units["theatre"] == "'\tx"
    assert units["chemotherapy"] == "cycles"
    wb = load_workbook(out / "report.xlsx")
    seen = set()
    for ws in wb:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and cell.value.startswith(RISKY):
                    assert cell.data_type == "s" and cell.quotePrefix, (ws.title, cell.coordinate)
                    seen.add(cell.value)
    # the text is kept exactly as written, only stored as text
    assert {'=HYPERLINK("http:evil","click")', "+cmd|' /C calc'!A0", "=1+2", "@SUM(1,2)", "-2+3"} <= seen
    summary = {r[0].value: r[1] for r in wb["Summary"].iter_rows() if r[0].value}
    assert summary["Patients per replication"].data_type == "n" and summary["Patients per replication"].value == 200
    assert summary["Scenario"].value == '=HYPERLINK("http:evil","click")'


def test_csv_safe_frame_changes_text_only():
    import pandas as pd

    from sim.outputs.results import csv_safe_frame

    df = pd.DataFrame(
        {
            "n": [-3.5, 2.0, float("nan")],
            "k": [-1, 2, 3],
            "t": ["=A1", "plain", None],
            "c": pd.Categorical(["@x", "y", "@x"]),
            "b": [True, False, True],
        }
    )
    out = csv_safe_frame(df)
    assert out["n"].equals(df["n"]) and out["k"].equals(df["k"]) and out["b"].equals(df["b"])
    assert list(out["t"][:2]) == ["'=A1", "plain"] and out["t"][2] is None
    assert list(out["c"].astype(str)) == ["'@x", "y", "'@x"]
    assert list(df["t"][:1]) == ["=A1"]  # the input is not changed
    plain = pd.DataFrame({"a": ["x", "y"], "v": [1.0, -2.0]})
    assert csv_safe_frame(plain) is plain


# ----------------------------------------------------------------------------- the same seed, the same files


@pytest.mark.parametrize("extra", [["--replications", "3"], ["--format", "csv"]], ids=["replications", "csv"])
def test_two_runs_with_the_same_seed_differ_only_in_timing(tmp_path, extra):
    import json

    import pandas as pd

    from sim.cli.main import main

    folders = [tmp_path / "a", tmp_path / "b"]
    for f in folders:
        args = ["run", str(SCENARIOS / "baseline.yaml"), "--patients", "300", "--out", str(f), "--quiet", *extra]
        assert main(args) == 0
    names = sorted(p.name for p in folders[0].iterdir())
    assert names == sorted(p.name for p in folders[1].iterdir())
    differ = [n for n in names if (folders[0] / n).read_bytes() != (folders[1] / n).read_bytes()]
    assert differ in ([], ["timing.json"])
    timing = json.loads((folders[0] / "timing.json").read_text())
    assert timing["wall_seconds"] >= 0 and timing["simulate_seconds"] >= 0
    if "--replications" in extra:
        assert "replications.parquet" in names
        table = pd.read_parquet(folders[0] / "replications.parquet")
        assert "wall_seconds" not in table.columns and len(table) == 3
        assert len(timing["replication_seconds"]) == 3
        assert timing["simulate_seconds"] == pytest.approx(sum(timing["replication_seconds"]), abs=0.01)
