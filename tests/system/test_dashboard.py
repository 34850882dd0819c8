"""The Streamlit dashboard, page by page, with streamlit.testing.v1.AppTest:
widgets set, runs made, figures and tables checked for what they show.

Runs are small (a few hundred patients); results are cached across tests in
the same process, as in the app."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from sim import load_scenario  # noqa: E402
from sim.scenario.loader import MAX_SCENARIO_BYTES  # noqa: E402
from sim.scenario.reference import parameters  # noqa: E402

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
TIMEOUT = 300
BASE = "file:baseline.yaml"


def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    return at


def page(at: AppTest, name: str) -> AppTest:
    at.switch_page(f"views/{name}.py").run()
    assert not at.exception, at.exception
    return at


def widget(at: AppTest, path: str, token: str = BASE):
    return at.number_input(key=f"w|{token}|{path}")


def errors(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in at.error)


def run_scenario(at: AppTest, file: str = "baseline.yaml", patients: int = 400, replications: int = 1) -> AppTest:
    page(at, "scenario")
    at.selectbox(key="scenario_file").set_value(file).run()
    token = f"file:{file}"
    if not at.number_input(key=f"patients|{token}").disabled:
        at.number_input(key=f"patients|{token}").set_value(patients).run()
    at.number_input(key=f"reps|{token}").set_value(replications).run()
    assert not at.button(key="run").disabled, errors(at)
    at.button(key="run").click().run()
    assert not at.exception, at.exception
    assert not at.error, errors(at)
    assert at.success and "finished" in at.success[0].value
    return at


def images(at: AppTest) -> list:
    return list(at.get("image"))


def no_traceback(at: AppTest) -> None:
    assert not at.exception
    for el in list(at.markdown) + list(at.error) + list(at.code):
        assert "Traceback" not in str(el.value)


# ----------------------------------------------------------------------------- About


def test_about_states_purpose_and_illustrative_parameters():
    at = app()
    body = "\n".join(m.value for m in at.markdown)
    assert "What the model is for" in body and "How to cite" in body and "Sources" in body
    assert any("illustrative, not clinically validated" in w.value for w in at.warning)
    assert any("CITATION" in e.label for e in at.expander)
    no_traceback(at)


# ----------------------------------------------------------------------------- Scenario


def test_scenario_widgets_take_defaults_ranges_and_help_from_the_schema():
    at = page(app(), "scenario")
    p = parameters()["carcinosis.probability"]
    w = widget(at, "carcinosis.probability")
    assert p.description in w.label
    assert w.value == pytest.approx(load_scenario(SCENARIOS / "baseline.yaml").carcinosis.probability)  # the file's value
    assert p.range_text in w.help and (p.source or "") in w.help
    cap = widget(at, "services.radiotherapy.capacity")
    assert cap.value is None  # unlimited in the baseline
    assert "Radiotherapy" in cap.label
    assert at.button(key="run").disabled is False
    assert at.get("download_button")
    no_traceback(at)


def test_run_baseline_and_outcomes_page_shows_sane_figures():
    at = run_scenario(app(), patients=600)
    head = at.dataframe[0].value
    assert list(head["outcome"])[:2] == ["carcinosis (proportion)", "hypercalcemia (proportion)"]
    page(at, "outcomes")
    assert len(at.metric) == 5
    head = at.dataframe[0].value.set_index("outcome")
    carc = head.loc["carcinosis (proportion)"]
    assert 0 <= carc["lower 95%"] <= carc["estimate"] <= carc["upper 95%"] <= 1
    med = head.loc["median survival (months)"]
    assert med["estimate"] > 0 and med["lower 95%"] <= med["estimate"] <= med["upper 95%"]
    deaths = at.dataframe[1].value
    assert deaths["deaths"].sum() == 600  # every patient died of a cause or was censored
    surv = at.dataframe[2].value
    assert "all patients" in set(surv["group"])
    assert ((surv["at_12_months"] >= 0) & (surv["at_12_months"] <= 1)).all()
    inc = at.dataframe[3].value.set_index("event")
    assert 0 <= inc.loc["carcinosis", "at_60_months"] <= 1
    assert len(images(at)) >= 3  # survival by primary, cumulative incidence, state occupancy
    no_traceback(at)


def test_replications_give_t_intervals():
    at = run_scenario(app(), patients=300, replications=3)
    page(at, "outcomes")
    head = at.dataframe[0].value
    assert (head["method"].str.contains("t across 3 replications")).all()
    assert (head["lower 95%"] <= head["estimate"]).all()
    no_traceback(at)


def test_invalid_value_is_shown_beside_its_field_and_disables_run():
    at = page(app(), "scenario")
    widget(at, "carcinosis.probability").set_value(1.5).run()
    assert at.button(key="run").disabled
    text = errors(at)
    assert "less than or equal to 1" in text and "use a value from 0 to 1" in text
    # the message sits in the expander of the field, right after it
    disease = next(e for e in at.expander if e.label == "Disease course")
    assert any("use a value from 0 to 1" in str(e.value) for e in disease.error)
    widget(at, "carcinosis.probability").set_value(0.1).run()
    assert not at.button(key="run").disabled
    assert not at.error
    no_traceback(at)


def test_limits_of_a_run_have_clear_messages():
    at = page(app(), "scenario")
    at.number_input(key=f"patients|{BASE}").set_value(300_000).run()
    assert at.button(key="run").disabled
    assert "200,000 patients" in errors(at)
    at.number_input(key=f"patients|{BASE}").set_value(500).run()
    at.number_input(key=f"reps|{BASE}").set_value(25).run()
    assert at.button(key="run").disabled
    assert "20 replications" in errors(at)
    no_traceback(at)


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    page(at, "scenario")
    at.radio(key="source").set_value("Upload a scenario file").run()
    at.file_uploader[0].set_value((name, data, "application/x-yaml")).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"carcinosis:\n  probability: 2\n", "carcinosis.probability"),
        (b"carcinosis: [unclosed\n", "YAML syntax error"),
        (b"- just\n- a list\n", "must be a mapping"),
        (b"carcinosis:\n  probabilty: 0.1\n", "did you mean 'probability'"),
        (b"!!python/object/apply:os.system ['echo hi']\n", "YAML"),
        (b"x" * (MAX_SCENARIO_BYTES + 1), "limit"),
    ],
)
def test_invalid_upload_shows_the_error_and_no_results(data, expected):
    at = _upload(app(), "bad.yaml", data)
    assert expected in errors(at)
    assert at.button(key="run_disabled").disabled
    assert not at.success and not at.dataframe and not images(at)
    page(at, "outcomes")
    assert not at.dataframe and not images(at)
    assert any("No results yet" in i.value for i in at.info)
    no_traceback(at)


def test_valid_upload_extending_baseline_runs():
    data = b"extends: baseline.yaml\nname: uploaded\ncarcinosis:\n  probability: 0.3\nrun:\n  patients: 300\n"
    at = _upload(app(), "mine.yaml", data)
    assert not at.error
    token = next(k for k in at.session_state if k.startswith("patients|upload:")).split("|", 1)[1]
    assert widget(at, "carcinosis.probability", token).value == pytest.approx(0.3)
    assert at.number_input(key=f"patients|{token}").value == 300
    at.button(key="run").click().run()
    assert at.success and "uploaded" in at.success[0].value
    carc = at.dataframe[0].value.set_index("outcome").loc["carcinosis (proportion)", "estimate"]
    assert 0.15 < carc < 0.45
    no_traceback(at)


# ----------------------------------------------------------------------------- Journeys


def test_journeys_swimmer_plot_story_and_second_scenario():
    at = run_scenario(app(), patients=400)
    page(at, "journeys")
    assert len(images(at)) == 2  # the swimmer plot and the patient's blood picture
    pid = at.selectbox[0].value
    story = at.code[0].value
    assert story.startswith(f"Patient {pid}, scenario 'baseline'")
    assert "month 0.0: bone metastases diagnosed" in story
    assert "illustrative, not clinically validated" in story
    at.selectbox[-1].set_value("scenarios/high_carcinosis.yaml").run()
    assert not at.exception
    pair = at.code[-1].value
    assert "beside 'high_carcinosis'" in pair and "same random numbers" in pair
    no_traceback(at)


# ----------------------------------------------------------------------------- Services


def test_services_of_a_population_run():
    at = app()
    page(at, "scenario")
    at.selectbox(key="scenario_file").set_value("regional_baseline.yaml").run()
    assert at.number_input(key="patients|file:regional_baseline.yaml").disabled  # population mode
    assert any(e.label.startswith("Population") for e in at.expander)
    run_scenario(at, "regional_baseline.yaml")
    page(at, "services")
    totals = at.dataframe[0].value.set_index("service")
    assert set(totals.index) >= {"radiotherapy", "beds", "transfusion"}
    util = pd.to_numeric(totals["mean utilisation"], errors="coerce").dropna()
    assert len(util) and ((util >= 0) & (util <= 1)).all()
    assert (totals["uses"] <= totals["requests"] + totals["uses"]).all()
    assert totals.loc["radiotherapy", "uses"] > 0
    assert len(images(at)) == 3  # counts, utilisation, waits
    assert not any("cohort" in i.value for i in at.info)
    no_traceback(at)


def test_services_of_a_cohort_run_explain_population_mode():
    at = run_scenario(app(), patients=300)
    page(at, "services")
    assert any("population-mode" in i.value for i in at.info)
    assert len(images(at)) == 3
    no_traceback(at)


# ----------------------------------------------------------------------------- Compare


def test_compare_keeps_runs_and_makes_a_paired_comparison():
    at = run_scenario(app(), "baseline.yaml", patients=300)
    run_scenario(at, "high_carcinosis.yaml", patients=300)
    page(at, "compare")
    side = at.dataframe[0].value
    assert [c for c in side.columns if c != "outcome"] == ["#1 baseline", "#2 high_carcinosis"]
    assert len(images(at)) == 1
    at.multiselect(key="cmp_choice").set_value(["#1 baseline", "#2 high_carcinosis"]).run()
    at.number_input(key="cmp_patients").set_value(300).run()
    at.number_input(key="cmp_reps").set_value(2).run()
    at.button(key="cmp_run").click().run()
    assert not at.exception and not at.error, errors(at)
    table = at.dataframe[-1].value.set_index("outcome")
    carc = table.loc["carcinosis (proportion)"]
    assert 0 <= carc["reference_mean"] <= 1 and 0 <= carc["scenario_mean"] <= 1
    assert carc["difference"] > 0  # twice the carcinosis probability, same patients
    assert len(images(at)) == 2
    no_traceback(at)


def test_compare_needs_two_scenarios():
    at = page(app(), "compare")
    at.multiselect(key="cmp_choice").set_value(["scenarios/baseline.yaml"]).run()
    assert at.button(key="cmp_run").disabled
    assert "at least two" in errors(at)


# ----------------------------------------------------------------------------- Uncertainty


def test_uncertainty_explains_until_psa_exists():
    if "sim.experiments.psa" in sys.modules or importlib.util.find_spec("sim.experiments.psa") is not None:
        pytest.skip("sim.experiments.psa exists: the page shows its results (tested below)")
    at = page(app(), "uncertainty")
    body = "\n".join(m.value for m in at.markdown)
    assert "not available yet" in body and "sim/experiments/psa.py" in body
    assert not at.error
    no_traceback(at)


@pytest.fixture
def fake_psa(monkeypatch):
    mod = types.ModuleType("sim.experiments.psa")
    mod.__doc__ = "Sensitivity analysis (test stand-in)."
    mod.__spec__ = importlib.machinery.ModuleSpec("sim.experiments.psa", None)

    def one_way(scenario):
        return pd.DataFrame({"parameter": ["carcinosis.probability"], "low": [0.05], "high": [0.2], "scenario": [scenario.name]})

    def probabilistic(scenario):
        if scenario.name == "baseline":
            raise ValueError("scenario 'baseline' has no uncertainty: section")
        raise RuntimeError("boom")

    mod.one_way = one_way
    mod.probabilistic = probabilistic
    monkeypatch.setitem(sys.modules, "sim.experiments.psa", mod)
    return mod


def test_uncertainty_shows_psa_results_when_the_module_exists(fake_psa):
    at = run_scenario(app(), patients=300)
    page(at, "uncertainty")
    assert any("test stand-in" in m.value for m in at.markdown)
    at.button(key="psa|One-way sensitivity analysis").click().run()
    table = at.dataframe[0].value
    assert list(table["parameter"]) == ["carcinosis.probability"] and table["scenario"][0] == "baseline"
    at.button(key="psa|Probabilistic sensitivity analysis").click().run()
    assert any("has no uncertainty: section" in w.value for w in at.warning)  # refused, and why
    run_scenario(at, "high_carcinosis.yaml", patients=300)
    page(at, "uncertainty")
    at.button(key="psa|Probabilistic sensitivity analysis").click().run()
    assert "did not work (RuntimeError)" in errors(at)  # a failing analysis: a message, not a traceback
    no_traceback(at)


def test_uncertainty_runs_the_models_one_way_analysis():
    """With the model's own sim.experiments.psa and a scenario with an uncertainty: section."""
    if importlib.util.find_spec("sim.experiments.psa") is None or not (SCENARIOS / "baseline_psa.yaml").exists():
        pytest.skip("sim.experiments.psa or scenarios/baseline_psa.yaml is not there yet")
    at = run_scenario(app(), "baseline_psa.yaml", patients=200)
    page(at, "uncertainty")
    at.button(key="psa|One-way sensitivity analysis").click().run()
    assert not at.error, errors(at)
    assert not at.warning, [w.value for w in at.warning]
    assert len(images(at)) == 1 and len(at.dataframe) == 1  # the tornado diagram and its table
    no_traceback(at)
