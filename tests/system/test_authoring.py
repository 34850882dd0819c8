"""Authoring and review tools: JSON Schema, parameter reference, explain, new, diff; release basics."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import sim
from sim import Scenario, ScenarioError
from sim.cli.main import main
from sim.scenario.authoring import explain, scenario_diff, set_keys
from sim.scenario.loader import load_raw, read_scenario_file, validate
from sim.scenario.reference import (
    LOADER_ONLY_RULES,
    REFERENCE_FILE,
    REGENERATE,
    SCHEMA_FILE,
    commented_yaml,
    parameters,
    reference_markdown,
    scenario_schema,
    schema_json,
    undocumented,
)

from ..conftest import ROOT, SCENARIOS

# parameters known to lack a unit or source in sim/scenario/course.py (requested there)
KNOWN_GAPS = {"other_mortality.enabled"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return scenario_schema()


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped scenarios beside a baseline.yaml (generated from the defaults if none is shipped)."""
    if (SCENARIOS / "baseline.yaml").is_file():
        return SCENARIOS
    d = tmp_path_factory.mktemp("scenarios")
    for f in SCENARIOS.glob("*.yaml"):
        shutil.copy(f, d / f.name)
    (d / "baseline.yaml").write_text(commented_yaml(Scenario(), "Baseline scenario (generated for the tests)"))
    return d


def shipped(scenario_dir: Path) -> list[Path]:
    files = sorted(scenario_dir.glob("*.yaml"))
    assert len(files) >= 4
    return files


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# ----------------------------------------------------------------------------- schema


def test_schema_is_a_valid_json_schema(schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "extends" in schema["properties"]
    assert "illustrative, not clinically validated" in schema["description"]


def test_schema_accepts_every_shipped_scenario(validator: jsonschema.Draft202012Validator, scenario_dir: Path) -> None:
    for f in shipped(scenario_dir):
        for data in (read_scenario_file(f), load_raw(f), validate(load_raw(f)).model_dump(mode="json")):
            errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]
            assert not errors, f"{f.name}: {errors}"


def test_schema_accepts_the_defaults_and_an_empty_file(validator: jsonschema.Draft202012Validator) -> None:
    assert validator.is_valid(Scenario().model_dump(mode="json"))
    assert validator.is_valid(yaml.safe_load(commented_yaml(Scenario(), "defaults")))
    assert validator.is_valid({})


# each validation rule the schema states: the loader and the schema both refuse the example
RULE_EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    ("unknown key", {"carcinosis": {"probabilty": 0.1}}),
    ("unknown section", {"carcinossis": {}}),
    ("unknown nested key", {"care": {"radiotherapy": {"fractions": 5}}}),
    ("above range", {"carcinosis": {"probability": 1.5}}),
    ("below range", {"carcinosis": {"probability": -1}}),
    ("integer below range", {"run": {"patients": 0}}),
    ("wrong type", {"run": {"patients": "many"}}),
    ("fraction for an integer", {"sre": {"max_events": 0.5}}),
    ("wrong type in a mix", {"cohort": {"primary_mix": {"prostate": "a lot"}}}),
    ("not a boolean", {"other_mortality": {"enabled": "sometimes"}}),
    ("section given a value", {"carcinosis": 0.1}),
    ("unknown mode", {"mode": "open"}),
    ("empty name", {"name": ""}),
    ("list of wrong length", {"carcinosis": {"grade_hazard_ratio": [1, 1, 1]}}),
    ("list item zero", {"carcinosis": {"grade_hazard_ratio": [1, 1, 1, 1, 0]}}),
    ("list item above 100", {"carcinosis": {"grade_hazard_ratio": [1, 1, 1, 1, 101]}}),
    ("several errors", {"carcinosis": {"probability": -1}, "hypercalcemia": {"probability": 2}, "pain": {"rate": 1}}),
]


@pytest.mark.parametrize("data", [d for _, d in RULE_EXAMPLES], ids=[n for n, _ in RULE_EXAMPLES])
def test_schema_rejects_each_rule_example(validator: jsonschema.Draft202012Validator, data: dict[str, Any]) -> None:
    with pytest.raises(ScenarioError):
        validate(data)
    assert not validator.is_valid(data)


def test_schema_rejects_extends_that_is_not_a_file_name(validator: jsonschema.Draft202012Validator, tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("extends: 3\n")
    with pytest.raises(ScenarioError, match="extends"):
        sim.load_scenario(f)
    assert not validator.is_valid({"extends": 3})


# rules that compare values: only the loader checks them (the schema says so in its description)
LOADER_ONLY_EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    ("primary_mix", {"cohort": {"primary_mix": {"prostate": 0.5}}}),
    ("min_years", {"cohort": {"age": {"mean_years": 20, "min_years": 30}}}),
    ("complete_response_probability", {"care": {"radiotherapy": {"complete_response_probability": 0.9}}}),
    ("finite", {"pain": {"rate_per_month": float("nan")}}),
]


@pytest.mark.parametrize("word,data", LOADER_ONLY_EXAMPLES, ids=[w for w, _ in LOADER_ONLY_EXAMPLES])
def test_rules_beyond_the_schema_are_checked_by_the_loader_and_documented(
    schema: dict[str, Any], word: str, data: dict[str, Any]
) -> None:
    with pytest.raises(ScenarioError):
        validate(data)
    assert any(word in rule for rule in LOADER_ONLY_RULES)
    assert word in schema["description"]


def test_grade_hazard_ratio_rule_agrees_with_the_loader(validator: jsonschema.Draft202012Validator) -> None:
    ok = {"carcinosis": {"grade_hazard_ratio": [0.01, 1, 1, 1, 100]}}
    validate(ok)
    assert validator.is_valid(ok)


def _schema_leaf(schema: dict[str, Any], path: str) -> dict[str, Any]:
    node = schema
    for part in path.split("."):
        if "properties" not in node and "anyOf" in node:  # an optional section: Section or null
            node = next(o for o in node["anyOf"] if "properties" in o)
        node = node["properties"][part]
    return node


def test_every_parameter_carries_description_unit_default_range_source(schema: dict[str, Any]) -> None:
    assert set(undocumented()) <= KNOWN_GAPS, f"undocumented parameters: {undocumented()}"
    for path, p in parameters().items():
        leaf = _schema_leaf(schema, path)
        assert leaf["description"], path
        assert leaf["default"] == p.default, path
        if path in ("name", "description", "mode") or path in KNOWN_GAPS:
            continue
        assert leaf["unit"] and leaf["source"], path
        if leaf.get("type") in ("number", "integer"):
            assert "minimum" in leaf and "maximum" in leaf, path
        elif leaf.get("type") == "array":
            assert all("maximum" in item for item in leaf["prefixItems"]), path
        assert "markdownDescription" in leaf


def test_schema_defaults_are_those_of_each_place(schema: dict[str, Any]) -> None:
    s = Scenario()
    assert _schema_leaf(schema, "progression.weibull.prostate.shape")["default"] == s.progression.weibull.prostate.shape
    assert _schema_leaf(schema, "progression.weibull.lung.scale_months")["default"] == s.progression.weibull.lung.scale_months
    assert _schema_leaf(schema, "carcinosis.onset_fraction.alpha")["default"] == s.carcinosis.onset_fraction.alpha
    assert _schema_leaf(schema, "hypercalcemia.onset_fraction.alpha")["default"] == s.hypercalcemia.onset_fraction.alpha


def test_scenario_files_point_at_the_committed_schema() -> None:
    for f in sorted(SCENARIOS.glob("*.yaml")):
        first = f.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../docs/scenario.schema.json", f.name
        assert (f.parent / "../docs/scenario.schema.json").resolve() == SCHEMA_FILE.resolve()


# ----------------------------------------------------------------------------- generated docs


def test_committed_schema_is_current() -> None:
    assert SCHEMA_FILE.is_file(), f"{SCHEMA_FILE} is missing; run: {REGENERATE}"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_json(), f"docs/scenario.schema.json is stale; run: {REGENERATE}"


def test_reference_doc_is_current() -> None:
    assert REFERENCE_FILE.is_file(), f"{REFERENCE_FILE} is missing; run: {REGENERATE}"
    assert REFERENCE_FILE.read_text(encoding="utf-8") == reference_markdown(), (
        f"docs/scenario-reference.md is stale; run: {REGENERATE}"
    )


def test_reference_doc_follows_the_scenario_sections() -> None:
    text = reference_markdown()
    heads = [line[3:] for line in text.splitlines() if line.startswith("## ") and line[3:] in Scenario.model_fields]
    from sim.scenario.fields import section_model

    sections = [k for k, f in Scenario.model_fields.items() if section_model(f.annotation) is not None]
    assert heads == sections
    for path in parameters():
        assert f"`{path}`" in text, path
    assert "illustrative, not clinically validated" in text


def test_schema_docs_command_writes_both_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sim.scenario.reference as reference

    monkeypatch.setattr(reference, "SCHEMA_FILE", tmp_path / "docs" / "scenario.schema.json")
    monkeypatch.setattr(reference, "REFERENCE_FILE", tmp_path / "docs" / "scenario-reference.md")
    monkeypatch.setattr(reference, "ROOT_DIR", ROOT)
    rc, out, _ = run_cli(capsys, "schema", "--docs")
    assert rc == 0 and out.count("updated") == 2
    rc, out, _ = run_cli(capsys, "schema", "--docs")
    assert rc == 0 and out.count("unchanged") == 2
    assert json.loads((tmp_path / "docs" / "scenario.schema.json").read_text()) == scenario_schema()


# ----------------------------------------------------------------------------- schema command


def test_schema_command_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "schema")
    assert rc == 0 and json.loads(out) == scenario_schema()


def test_schema_out_never_overwrites_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s.json"
    assert run_cli(capsys, "schema", "--out", out)[0] == 0
    assert json.loads(out.read_text()) == scenario_schema()
    out.write_text("mine")
    rc, _, err = run_cli(capsys, "schema", "--out", out)
    assert rc == 2 and "--force" in err and "Traceback" not in err
    assert out.read_text() == "mine"
    assert run_cli(capsys, "schema", "--out", out, "--force")[0] == 0
    assert json.loads(out.read_text()) == scenario_schema()
    assert run_cli(capsys, "schema", "--out", tmp_path / "no" / "s.json")[0] == 2
    assert run_cli(capsys, "schema", "--out", tmp_path)[0] == 2


# ----------------------------------------------------------------------------- explain


def test_explain_known_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "explain", "carcinosis.probability")
    assert rc == 0
    s = Scenario()
    for text in (
        "carcinosis.probability",
        "Share of the cohort who develop carcinosis during their course",
        "unit:      probability",
        f"default:   {s.carcinosis.probability!r}",
        "range:     0 to 1",
        "source:    source article (8-10% of patients with bone metastases)",
        "step 6 of the course: bone marrow carcinosis (sim/kernel/carcinosis.py",
        "illustrative, not clinically validated",
    ):
        assert text in out, text
    assert out == explain("carcinosis.probability")


def test_explain_section_lists_its_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "explain", "cohort.primary_mix")
    assert rc == 0 and "cohort.primary_mix.prostate" in out and "step 1 of the course" in out


def test_explain_care_parameter_names_its_step() -> None:
    assert "step 6 of the course: systemic treatment" in explain("care.chemotherapy.uptake")
    assert "step 3 of the course" in explain("sre.later_rate_per_month")


@pytest.mark.parametrize(
    "typo,expected",
    [
        ("carcinosis.probabilty", "carcinosis.probability"),
        ("probability", "carcinosis.probability"),
        ("hypercalcaemia.probability", "hypercalcemia.probability"),
    ],
)
def test_explain_unknown_suggests_nearest(capsys: pytest.CaptureFixture[str], typo: str, expected: str) -> None:
    rc, out, err = run_cli(capsys, "explain", typo)
    assert rc == 2 and out == ""
    assert "unknown parameter" in err and expected in err and "Traceback" not in err


def test_explain_nothing_close(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_cli(capsys, "explain", "zzzz")
    assert rc == 2 and "scenario-reference.md" in err


# ----------------------------------------------------------------------------- new


def test_new_writes_a_valid_scenario_extending_the_base(
    scenario_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(scenario_dir / "baseline.yaml", tmp_path / "baseline.yaml")
    rc, out, _ = run_cli(capsys, "new", "early_detection", "--dir", tmp_path)
    assert rc == 0 and "written" in out
    f = tmp_path / "early_detection.yaml"
    text = f.read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    assert "illustrative, not clinically validated" in text
    assert "# carcinosis:" in text and "#   probability:" in text
    raw = read_scenario_file(f)
    assert raw["extends"] == "baseline.yaml" and raw["name"] == "early_detection"
    assert set_keys(f) == {}
    assert scenario_diff(tmp_path / "baseline.yaml", f) == []
    assert sim.load_scenario(f).name == "early_detection"


def test_new_commented_examples_are_valid_when_uncommented(
    scenario_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(scenario_dir / "baseline.yaml", tmp_path / "baseline.yaml")
    assert run_cli(capsys, "new", "all_on", "--dir", tmp_path)[0] == 0
    f = tmp_path / "all_on.yaml"
    lines = f.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# Usual changes"))
    body = [line[2:] for line in lines[start + 2 :] if line.startswith("# ")]  # uncomment every example
    f.write_text("\n".join(lines[:start] + body) + "\n")
    assert sim.load_scenario(f).name == "all_on"
    assert scenario_diff(tmp_path / "baseline.yaml", f) == []


def test_new_never_overwrites(scenario_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(scenario_dir / "baseline.yaml", tmp_path / "baseline.yaml")
    f = tmp_path / "mine.yaml"
    f.write_text("name: mine\n")
    rc, _, err = run_cli(capsys, "new", "mine", "--dir", tmp_path)
    assert rc == 2 and "already exists" in err and "Traceback" not in err
    assert f.read_text() == "name: mine\n"


@pytest.mark.parametrize(
    "argv,words",
    [
        (["new", "../escape"], "not a usable scenario name"),
        (["new", "a b"], "not a usable scenario name"),
        (["new", "x", "--from", "baselin"], "did you mean baseline"),
        (["new", "x", "--from", "nothing_like_it"], "not found"),
    ],
)
def test_new_bad_input(
    scenario_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    shutil.copy(scenario_dir / "baseline.yaml", tmp_path / "baseline.yaml")
    rc, _, err = run_cli(capsys, *argv, "--dir", tmp_path)
    assert rc == 2 and words in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.yaml"]


def test_new_from_another_scenario(scenario_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("baseline.yaml", "high_carcinosis.yaml"):
        shutil.copy(scenario_dir / name, tmp_path / name)
    assert run_cli(capsys, "new", "more", "--from", "high_carcinosis", "--dir", tmp_path)[0] == 0
    f = tmp_path / "more.yaml"
    assert read_scenario_file(f)["extends"] == "high_carcinosis.yaml"
    assert (
        sim.load_scenario(f).carcinosis.probability == sim.load_scenario(tmp_path / "high_carcinosis.yaml").carcinosis.probability
    )


# ----------------------------------------------------------------------------- diff


def test_diff_of_a_file_with_itself_is_empty(scenario_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for f in shipped(scenario_dir):
        assert scenario_diff(f, f) == []
    f = scenario_dir / "high_carcinosis.yaml"
    rc, out, _ = run_cli(capsys, "diff", f, f)
    assert rc == 0 and "no differences" in out


def test_diff_of_baseline_with_each_shipped_scenario_lists_exactly_its_overrides(scenario_dir: Path) -> None:
    """Each shipped scenario against the scenario it extends: exactly the keys it sets."""
    for f in shipped(scenario_dir):
        parent = read_scenario_file(f).get("extends")
        if parent is None:
            continue
        base = scenario_dir / parent
        rows = scenario_diff(base, f)
        sets = set_keys(f)
        assert sets, f"{f.name} sets no parameter"
        assert [r["path"] for r in rows] == [p for p in parameters() if p in sets], f.name
        for r in rows:
            assert r["b"] == sets[r["path"]] and r["b_set_in"] == f.name, (f.name, r)
            assert r["unit"] == parameters()[r["path"]].unit and r["source"] == parameters()[r["path"]].source


def test_diff_command_shows_values_units_and_sources(scenario_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(capsys, "diff", scenario_dir / "baseline.yaml", scenario_dir / "high_carcinosis.yaml")
    assert rc == 0
    high = sim.load_scenario(scenario_dir / "high_carcinosis.yaml")
    assert "carcinosis.probability" in out and repr(high.carcinosis.probability) in out and "probability" in out
    assert "source of the default: source article" in out and "set in:" in out
    assert "name 'baseline' vs 'high_carcinosis'; descriptions differ" in out
    assert "\n  name" not in out and "\n  description" not in out
    rc, out, _ = run_cli(capsys, "diff", "--json", scenario_dir / "baseline.yaml", scenario_dir / "high_carcinosis.yaml")
    assert rc == 0 and [r["path"] for r in json.loads(out)["differences"]] == ["carcinosis.probability"]


def test_diff_of_scenario_objects() -> None:
    a = Scenario()
    b = sim.with_overrides(a, {"carcinosis.probability": 0.5, "name": "other", "description": "x"})
    (row,) = scenario_diff(a, b)
    assert (row["path"], row["a"], row["b"], row["unit"]) == (
        "carcinosis.probability",
        a.carcinosis.probability,
        0.5,
        "probability",
    )
    assert "a_set_in" not in row


def test_diff_of_an_invalid_file_reports_its_errors(
    scenario_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("carcinosis:\n  probabilty: 0.1\n  dic_probability: 3\n")
    rc, out, err = run_cli(capsys, "diff", scenario_dir / "baseline.yaml", bad)
    assert rc == 2 and out == ""
    assert "carcinosis.probabilty" in err and "did you mean 'probability'" in err and "carcinosis.dic_probability" in err
    assert "Traceback" not in err
    rc, _, err = run_cli(capsys, "diff", tmp_path / "missing.yaml", bad)
    assert rc == 2 and "file not found" in err and "probabilty" in err


# ----------------------------------------------------------------------------- release basics


def test_one_version_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert pyproject == citation["version"] == sim.__version__
    assert citation["cff-version"] == "1.2.0"
    assert f"## [{sim.__version__}]" in (ROOT / "CHANGELOG.md").read_text()
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and sim.__version__ in capsys.readouterr().out


def test_citation_has_the_required_fields() -> None:
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    for key in ("cff-version", "message", "title", "authors", "version", "license"):
        assert citation.get(key), key
    assert citation["license"] == "MIT"
    assert "MIT License" in (ROOT / "LICENSE").read_text() and "bmc-sim developers" in (ROOT / "LICENSE").read_text()


def test_diff_markdown_for_reports(scenario_dir: Path) -> None:
    from sim.scenario.authoring import diff_markdown

    a, b = scenario_dir / "baseline.yaml", scenario_dir / "high_carcinosis.yaml"
    sa, sb = sim.load_scenario(a), sim.load_scenario(b)
    text = diff_markdown("baseline", "high_carcinosis", sa, sb, scenario_diff(a, b))
    assert "| `carcinosis.probability` |" in text and "illustrative, not clinically validated" in text
    assert "No differences" in diff_markdown("baseline", "baseline", sa, sa, scenario_diff(a, a))


def test_explain_in_a_scenario(scenario_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = scenario_dir / "high_carcinosis.yaml"
    value = sim.load_scenario(f).carcinosis.probability
    rc, out, _ = run_cli(capsys, "explain", "carcinosis.probability", "--in", f)
    assert rc == 0 and f"scenario:  {value!r} in high_carcinosis.yaml (set in high_carcinosis.yaml)" in out
    rc, out, _ = run_cli(capsys, "explain", "carcinosis", "--in", f)
    assert rc == 0 and "values in high_carcinosis.yaml" in out
    rc, _, err = run_cli(capsys, "explain", "carcinosis.probability", "--in", scenario_dir / "missing.yaml")
    assert rc == 2 and "file not found" in err
