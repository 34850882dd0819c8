"""Input that used to be taken in silently as something else, or refused
with a message naming the wrong thing: NaN and infinities written as text,
true/false where a number goes, numeric flags given 0, YAML merge keys, a
missing ``extends:`` target, keys an uncertainty entry inherits from its base,
and the dashboard's scenario download and uploads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sim.cli.main import main
from sim.scenario.loader import ScenarioError, load_scenario, parse_yaml, validate

from ..conftest import SCENARIOS

BASE = str(SCENARIOS / "baseline.yaml")
PSA_BASE = str(SCENARIOS / "baseline_psa.yaml")


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit status and stderr of one command, run in this process."""
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own refusals
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def write(folder: Path, name: str, text: str) -> Path:
    f = folder / name
    f.write_text(text, encoding="utf-8")
    return f


def problems(exc: pytest.ExceptionInfo[ScenarioError]) -> str:
    return "\n".join(str(p) for p in exc.value.problems)


# ----------------------------------------------------------------------------- NaN and infinities inside uncertainty:

NON_FINITE_UNCERTAINTY = [
    ('{distribution: beta, mean: 0.09, sd: "nan", source: x}', "carcinosis.probability", "sd"),
    ('{distribution: beta, mean: "NaN", sd: 0.005, source: x}', "carcinosis.probability", "mean"),
    ("{distribution: uniform, low: 0.01, high: 1e999, source: x}", "carcinosis.probability", "high"),
    ('{distribution: dirichlet, concentration: "inf", source: x}', "cohort.primary_mix", "concentration"),
    ('{distribution: gamma, shape: "-Infinity", scale: 1, source: x}', "progression.hazard_ratio_after_sre", "shape"),
    ('{distribution: lognormal, median: 1.4, sd_log: " nan ", source: x}', "progression.hazard_ratio_after_sre", "sd_log"),
]


@pytest.mark.parametrize(("spec", "entry", "key"), NON_FINITE_UNCERTAINTY)
def test_non_finite_text_in_uncertainty_is_refused_with_its_path(tmp_path: Path, spec: str, entry: str, key: str) -> None:
    """YAML reads "nan", "inf" and 1e999 as text, which the model would turn into NaN or infinity."""
    f = write(tmp_path, "s.yaml", f"extends: baseline_psa.yaml\nuncertainty:\n  {entry}: {spec}\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(f)
    paths = [p.path for p in err.value.problems]
    assert paths == [f"uncertainty.{entry}.{key}"], problems(err)
    assert "not a number" in problems(err) or "not a finite number" in problems(err)


def test_psa_refused_before_any_draw_leaves_no_folder_and_the_corrected_rerun_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "psa"
    bad = write(
        tmp_path,
        "s.yaml",
        f'extends: {PSA_BASE}\nuncertainty:\n  carcinosis.probability: {{distribution: beta, mean: 0.09, sd: "nan", source: x}}\n',
    )
    code, err = cli(["psa", str(bad), "--draws", "2", "--patients", "30", "--out", str(out), "--quiet"], capsys)
    assert code == 2
    assert "uncertainty.carcinosis.probability.sd" in err
    assert not out.exists()
    bad.write_text(bad.read_text().replace('"nan"', "0.005"), encoding="utf-8")
    code, err = cli(["psa", str(bad), "--draws", "2", "--patients", "30", "--out", str(out), "--quiet"], capsys)
    assert code == 0, err
    assert (out / "summary.json").is_file()


def test_psa_whose_draw_breaks_a_cross_field_rule_leaves_no_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """complete_response_probability drawn above response_probability: refused before the folder is made."""
    out = tmp_path / "psa"
    f = write(
        tmp_path,
        "s.yaml",
        f"extends: {PSA_BASE}\nuncertainty:\n"
        "  care.radiotherapy.complete_response_probability: {distribution: uniform, low: 0.9, high: 1.0, source: x}\n",
    )
    code, err = cli(["psa", str(f), "--draws", "3", "--patients", "30", "--out", str(out), "--quiet"], capsys)
    assert code == 2
    assert "complete_response_probability cannot exceed response_probability" in err
    assert err.count("complete_response_probability cannot exceed") == 1  # said once
    assert not out.exists()


# ----------------------------------------------------------------------------- values the model would take in silently


@pytest.mark.parametrize(
    ("override", "path", "said"),
    [
        ("run.horizon_months=nan", "run.horizon_months", "'nan' is not a number"),
        ("run.horizon_months=1e999", "run.horizon_months", "'1e999' is not a finite number"),
        ("carcinosis.probability=-inf", "carcinosis.probability", "'-inf' is not a finite number"),
        ("carcinosis.probability=.nan", "carcinosis.probability", "nan is not a finite number"),
        ("carcinosis.probability=true", "carcinosis.probability", "true is a yes/no value, not a number"),
        ("run.patients=yes", "run.patients", "true is a yes/no value, not a number"),
        ("carcinosis.grade_hazard_ratio=[1, 1, false, 1, 1]", "carcinosis.grade_hazard_ratio.2", "false is a yes/no value"),
    ],
)
def test_a_value_that_is_not_a_number_says_so(override: str, path: str, said: str) -> None:
    """Not 'should be <= 1200' for a NaN, and true is not taken as 1."""
    with pytest.raises(ScenarioError) as err:
        load_scenario(BASE, [override])
    assert [p.path for p in err.value.problems] == [path], problems(err)
    msg = err.value.problems[0].message
    assert said in msg
    assert "less than or equal" not in msg and "greater than or equal" not in msg
    if path in ("run.horizon_months", "carcinosis.probability", "run.patients"):
        assert "use a value from" in msg  # the range to use instead


def test_text_nan_is_still_a_valid_name_or_source() -> None:
    """Only where a number goes is "nan" refused."""
    s = validate(
        {
            "name": "nan",
            "uncertainty": {"carcinosis.probability": {"distribution": "beta", "mean": 0.09, "sd": 0.005, "source": "inf"}},
        }
    )
    assert s.name == "nan" and s.uncertainty["carcinosis.probability"].source == "inf"


def test_the_models_refuse_non_finite_numbers_given_directly() -> None:
    """Scenarios built in code (not through the loader) refuse NaN too."""
    from pydantic import ValidationError

    from sim.scenario.course import Run
    from sim.scenario.uncertainty import Distribution

    with pytest.raises(ValidationError):
        Run(horizon_months=float("nan"))
    with pytest.raises(ValidationError):
        Distribution(distribution="gamma", mean=1.0, sd=float("inf"), source="x")


# ----------------------------------------------------------------------------- numeric flags


def test_compare_patients_zero_is_refused_not_replaced(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "c"
    code, err = cli(["compare", BASE, BASE, "--patients", "0", "--replications", "1", "--out", str(out), "--quiet"], capsys)
    assert code == 2
    assert "--patients" in err and "0" in err
    assert not out.exists()


def test_compare_uses_the_patients_and_seed_it_is_given(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "c"
    code, err = cli(
        ["compare", BASE, BASE, "--patients", "7", "--seed", "0", "--replications", "1", "--out", str(out), "--quiet"], capsys
    )
    assert code == 0, err
    doc = json.loads((out / "comparison.json").read_text())
    assert doc["seed"] == 0
    import pandas as pd

    values = pd.read_parquet(out / "comparison_replications.parquet")
    assert set(values.loc[values["metric"] == "sre.proportion_with_any.n", "value"]) == {7}  # patients counted


FLAG_CASES = [
    (["validate", BASE], "--patients", "0"),
    (["validate", BASE], "--seed", "-1"),
    (["validate", BASE], "--horizon-months", "0"),
    (["validate", BASE], "--horizon-months", "nan"),
    (["validate", BASE], "--horizon-months", "inf"),
    (["compare", BASE, BASE], "--patients", "0"),
    (["compare", BASE, BASE], "--seed", "-1"),
    (["psa", PSA_BASE, "--draws", "1"], "--wtp-max", "inf"),
    (["psa", PSA_BASE, "--draws", "1"], "--wtp-max", "0"),
    (["psa", PSA_BASE, "--draws", "1"], "--wtp-max", "1e999"),
    (["psa", PSA_BASE, "--draws", "1"], "--seed", "-1"),
    (["psa", PSA_BASE, "--draws", "1"], "--patients", "100000000"),
    (["owsa", PSA_BASE], "--seed", "-1"),
    (["owsa", PSA_BASE], "--patients", "100000000"),
    (["journey", BASE, "--patient", "0"], "--replication", "-1"),
    (["journey", BASE, "--patient", "0"], "--horizon-months", "nan"),
]


@pytest.mark.parametrize(("command", "flag", "value"), FLAG_CASES)
def test_a_bad_numeric_flag_is_refused_naming_the_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str], flag: str, value: str
) -> None:
    out = tmp_path / "out"
    extra = ["--out", str(out)] if command[0] in ("psa", "owsa", "compare") else []
    code, err = cli([*command, flag, value, *extra], capsys)
    assert code == 2
    assert f"argument {flag}: " in err, err
    assert err.strip().splitlines()[-1].startswith("error: ")
    assert not out.exists()


def test_run_psa_refuses_an_infinite_willingness_to_pay() -> None:
    from sim.experiments.psa import run_psa
    from sim.experiments.psa_draws import PsaError

    s = load_scenario(PSA_BASE)
    for bad in (float("inf"), float("nan"), 0.0, -1.0):
        with pytest.raises(PsaError, match="wtp-max"):
            run_psa(s, draws=1, patients=10, wtp_max=bad, figures=False)


# ----------------------------------------------------------------------------- YAML merge keys


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("base: &b {probability: 0.1}\ncarcinosis:\n  <<: *b\n", 3),
        ("carcinosis:\n  <<: {probability: 0.1}\n", 2),
        ("carcinosis:\n  <<: [{probability: 0.1}]\n", 2),
        ("<<: {name: x}\n", 1),
    ],
)
def test_a_merge_key_is_refused_as_unsupported_not_as_a_syntax_error(text: str, line: int) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_yaml(text, "s.yaml")
    msg = problems(err)
    assert "merge keys (<<) are not supported" in msg
    assert f"line {line}," in msg
    assert "syntax error" not in msg and "constructor" not in msg


def test_a_quoted_merge_key_is_an_ordinary_unknown_key() -> None:
    with pytest.raises(ScenarioError) as err:
        validate(parse_yaml('carcinosis:\n  "<<": 1\n', "s.yaml"))
    assert "unknown key '<<'" in problems(err)


# ----------------------------------------------------------------------------- extends:


def test_a_missing_extends_target_names_extends_and_the_file_that_names_it(tmp_path: Path) -> None:
    f = write(tmp_path, "mine.yaml", "extends: nope.yaml\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(f)
    assert err.value.source == str(f)
    [p] = err.value.problems
    assert p.path == "extends"
    assert "'nope.yaml' not found beside" in p.message and "mine.yaml" in p.message and "scenarios/" in p.message


def test_a_missing_extends_target_further_down_the_chain_names_its_own_file(tmp_path: Path) -> None:
    write(tmp_path, "middle.yaml", "extends: baselin.yaml\n")
    f = write(tmp_path, "top.yaml", "extends: middle.yaml\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(f)
    assert err.value.source.endswith("middle.yaml")
    [p] = err.value.problems
    assert p.path == "extends" and "'baselin.yaml' not found" in p.message
    assert "did you mean 'baseline.yaml'" in p.message


def test_extends_naming_a_folder_says_so(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").mkdir()
    f = write(tmp_path, "s.yaml", "extends: d.yaml\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(f)
    assert "'d.yaml' is a folder, not a scenario file" in problems(err)


def test_an_upload_is_named_by_its_own_name_not_a_temporary_path() -> None:
    core = pytest.importorskip("dashboard.core")
    with pytest.raises(ScenarioError) as err:
        core.read_upload("mine.yaml", b"extends: nope.yaml\n")
    assert err.value.source == "mine.yaml"
    text = str(err.value)
    assert "/tmp" not in text and "uploaded" not in text.split("(")[0]
    assert "extends: 'nope.yaml' not found in scenarios/" in text
    raw = core.read_upload("baseline.yaml", b"extends: baseline.yaml\nname: mine\n")  # an upload may share a shipped name
    assert core.build(raw, {}, "baseline.yaml").name == "mine"


# ----------------------------------------------------------------------------- keys inherited from the base


def test_a_key_inherited_from_the_base_is_named_as_such_with_the_fix(tmp_path: Path) -> None:
    f = write(
        tmp_path,
        "s.yaml",
        f"extends: {PSA_BASE}\nuncertainty:\n  carcinosis.probability: {{distribution: uniform, low: 0.05, high: 0.12}}\n",
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(f)
    [p] = err.value.problems
    assert p.path == "uncertainty.carcinosis.probability"
    assert "'mean' comes from baseline_psa.yaml, which this file extends" in p.message
    assert "mean: null, sd: null" in p.message
    f.write_text(f.read_text().replace("high: 0.12}", "high: 0.12, mean: null, sd: null}"), encoding="utf-8")
    s = load_scenario(f)  # the fix the message gives works
    assert s.uncertainty["carcinosis.probability"].distribution == "uniform"


def test_a_key_inherited_through_two_files_names_the_file_that_wrote_it(tmp_path: Path) -> None:
    write(
        tmp_path,
        "mid.yaml",
        f"extends: {PSA_BASE}\nuncertainty:\n"
        "  carcinosis.probability: {distribution: uniform, low: 0.05, high: 0.12, mean: null, sd: null}\n",
    )
    f = write(
        tmp_path,
        "top.yaml",
        "extends: mid.yaml\nuncertainty:\n  carcinosis.probability: {distribution: beta, alpha: 9, beta: 91}\n",
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(f)
    msg = problems(err)
    assert "comes from mid.yaml" in msg and "low: null" in msg and "high: null" in msg


def test_a_key_the_file_writes_itself_is_not_called_inherited(tmp_path: Path) -> None:
    f = write(
        tmp_path,
        "s.yaml",
        f"extends: {PSA_BASE}\nuncertainty:\n  carcinosis.probability: {{distribution: beta, mean: 1.5, sd: 0.01}}\n",
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(f)
    assert "a beta mean must be between 0 and 1" in problems(err)
    assert "comes from" not in problems(err)


# ----------------------------------------------------------------------------- the scenario as a commented file


@pytest.mark.parametrize("name", sorted(p.name for p in SCENARIOS.glob("*.yaml")))
def test_the_commented_scenario_file_reproduces_every_shipped_scenario(name: str) -> None:
    from sim.scenario.reference import commented_yaml

    s = load_scenario(SCENARIOS / name)
    text = commented_yaml(s, f"{name} (test)")
    again = validate(parse_yaml(text, "download"), "download")
    assert again == s and again.uncertainty == s.uncertainty


def test_the_commented_file_keeps_its_title_on_one_comment_line() -> None:
    from sim import with_overrides
    from sim.scenario.reference import commented_yaml

    s = with_overrides(load_scenario(BASE), {"name": "a\u2028b"})
    text = commented_yaml(s, "my run\nname: injected\r\u2028more")
    data = yaml.safe_load(text)
    assert data["name"] == "a\u2028b"
    assert validate(parse_yaml(text, "download")).name == "a\u2028b"


def test_dashboard_download_of_a_scenario_with_uncertainty(monkeypatch: pytest.MonkeyPatch) -> None:
    st = pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    from dashboard import core

    offered: list[tuple[str, str]] = []
    original = st.download_button

    def record(label: str, data: str, *args: object, **kwargs: object) -> object:
        offered.append((str(kwargs.get("file_name")), data))
        return original(label, data, *args, **kwargs)  # type: ignore[arg-type]

    failures: list[str] = []
    monkeypatch.setattr(st, "download_button", record)
    monkeypatch.setattr(core.log, "exception", lambda msg, *a, **k: failures.append(str(msg)))
    at = AppTest.from_file(str(Path(core.__file__).parent / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("views/scenario.py").run()
    at.selectbox(key="scenario_file").set_value("baseline_psa.yaml").run()
    assert not at.exception and not failures, failures
    name, text = offered[-1]
    assert name == "baseline_psa.yaml"
    assert "# Each comment: unit; valid range; source." in text  # the commented form, not the fallback
    again = validate(parse_yaml(text, "download"), "download")
    assert again.uncertainty == load_scenario(PSA_BASE).uncertainty


def test_dashboard_upload_error_shows_the_uploads_name() -> None:
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    from dashboard import core

    at = AppTest.from_file(str(Path(core.__file__).parent / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("views/scenario.py").run()
    at.radio(key="source").set_value("Upload a scenario file").run()
    at.file_uploader[0].set_value(("mine.yaml", b"extends: nope.yaml\n", "application/x-yaml")).run()
    shown = "\n".join(str(e.value) for e in at.error)
    assert "mine.yaml" in shown and "extends: 'nope.yaml' not found" in shown
    assert "/tmp" not in shown and "uploaded.yaml" not in shown


# ----------------------------------------------------------------------------- empty names and --set of uncertainty entries


@pytest.mark.parametrize(
    "command",
    [
        ["run", BASE, "--patients", "10", "--out", ""],
        ["compare", BASE, BASE, "--patients", "10", "--replications", "1", "--out", ""],
        ["psa", PSA_BASE, "--draws", "1", "--patients", "10", "--out", " "],
        ["owsa", PSA_BASE, "--patients", "10", "--out", ""],
        ["schema", "--out", ""],
        ["journey", BASE, "--patient", "0", "--compare", ""],
        ["explain", "carcinosis.probability", "--in", ""],
        ["validate", ""],
        ["compare", BASE, ""],
    ],
)
def test_an_empty_name_is_refused_not_taken_as_not_given(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """An unset shell variable (--out "$DIR") must not send the output to the default place, or nowhere."""
    monkeypatch.chdir(tmp_path)
    code, err = cli(command, capsys)
    assert code == 2
    assert "is empty; give" in err
    assert list(tmp_path.iterdir()) == []


def test_set_reaches_one_key_of_an_uncertainty_entry() -> None:
    s = load_scenario(PSA_BASE, ["uncertainty.carcinosis.probability.sd=0.01"])
    assert s.uncertainty["carcinosis.probability"].sd == 0.01
    assert s.uncertainty["carcinosis.probability"].mean == load_scenario(PSA_BASE).uncertainty["carcinosis.probability"].mean
    s = load_scenario(BASE, ["uncertainty.carcinosis.probability={distribution: beta, mean: 0.1, sd: 0.01, source: x}"])
    assert s.uncertainty["carcinosis.probability"].mean == 0.1


def test_set_of_an_uncertainty_entry_with_a_mistyped_path_says_so() -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(PSA_BASE, ["uncertainty.carcinosis.probabilty.sd=0.01"])
    msg = problems(err)
    assert "'carcinosis.probabilty' is not a parameter" in msg and "did you mean 'carcinosis.probability'" in msg
    assert "is a value, not a section" not in msg


def test_an_entry_without_a_distribution_asks_for_one() -> None:
    with pytest.raises(ScenarioError) as err:
        validate({"uncertainty": {"carcinosis.probability": {"mean": 0.1, "sd": 0.01, "source": "x"}}})
    assert "no distribution given; add distribution: one of beta" in problems(err)
    assert "None" not in problems(err)


def test_a_bad_value_given_by_set_is_named_as_such_not_as_the_files() -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(BASE, ["carcinosis.probability=2"])
    [p] = err.value.problems
    assert p.path == "carcinosis.probability" and "given by --set carcinosis.probability=" in p.message
    with pytest.raises(ScenarioError) as err:  # a value of the file itself is not called --set
        validate({"carcinosis": {"probability": 2}})
    assert "--set" not in problems(err)


@pytest.mark.parametrize("patient", ["10000", "99999999999999999999999"])
def test_journey_of_a_patient_outside_the_cohort_is_refused(capsys: pytest.CaptureFixture[str], patient: str) -> None:
    """Not a patient of a run (ids 0 to run.patients - 1), nor an OverflowError traceback."""
    code, err = cli(["journey", BASE, "--patient", patient], capsys)
    assert code == 2
    assert f"--patient {patient}: scenario 'baseline' has patients 0 to 9,999" in err
