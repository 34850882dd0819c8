"""Scenario validation: one test per rule; every problem reported at once."""

from pathlib import Path

import pytest

from sim import Scenario, ScenarioError, load_scenario, with_overrides
from sim.scenario.loader import apply_overrides, parse_override, validate

from ..conftest import SCENARIOS


def problems(data=None, overrides=None):
    with pytest.raises(ScenarioError) as exc:
        if overrides is not None:
            with_overrides(Scenario(), overrides)
        else:
            validate(data)
    return exc.value.problems


def test_defaults_are_valid():
    assert Scenario().carcinosis.probability == 0.09
    assert Scenario().hypercalcemia.probability == 0.05


def test_shipped_scenarios_are_valid():
    files = sorted(SCENARIOS.glob("*.yaml"))
    assert len(files) >= 4
    for f in files:
        assert load_scenario(f).name
        assert "illustrative, not clinically validated" in f.read_text().lower()


def test_unknown_key_suggests_the_nearest():
    (p,) = problems({"carcinosis": {"probabilty": 0.1}})
    assert p.path == "carcinosis.probabilty" and "did you mean 'probability'" in p.message


def test_unknown_section_suggests_the_nearest():
    (p,) = problems({"carcinossis": {}})
    assert "did you mean 'carcinosis'" in p.message


def test_out_of_range_names_field_and_range():
    (p,) = problems({"carcinosis": {"probability": 1.5}})
    assert p.path == "carcinosis.probability"
    assert "0 to 1" in p.message


def test_wrong_type():
    (p,) = problems({"run": {"patients": "many"}})
    assert p.path == "run.patients" and "integer" in p.message


def test_mix_must_sum_to_one():
    (p,) = problems({"cohort": {"primary_mix": {"prostate": 0.5}}})
    assert p.path == "cohort.primary_mix" and "sum to 1" in p.message


def test_all_errors_reported_at_once():
    ps = problems({"carcinosis": {"probability": -1}, "hypercalcemia": {"probability": 2}, "pain": {"rate": 1}})
    assert {p.path for p in ps} == {"carcinosis.probability", "hypercalcemia.probability", "pain.rate"}


def test_non_finite_numbers_rejected():
    (p,) = problems({"pain": {"rate_per_month": float("nan")}})
    assert p.path == "pain.rate_per_month" and "finite" in p.message


def test_cross_field_rules():
    assert "complete_response_probability" in str(problems({"care": {"radiotherapy": {"complete_response_probability": 0.9}}})[0])
    assert "min_years" in str(problems({"cohort": {"age": {"mean_years": 20, "min_years": 30}}})[0])


def test_yaml_syntax_error_gives_line(tmp_path: Path):
    f = tmp_path / "bad.yaml"
    f.write_text("name: x\ncarcinosis:\n  probability: [0.1\n")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(f)
    assert "line 4" in str(exc.value) or "line 3" in str(exc.value)


def test_duplicate_keys_rejected(tmp_path: Path):
    f = tmp_path / "dup.yaml"
    f.write_text("carcinosis:\n  probability: 0.1\n  probability: 0.2\n")
    with pytest.raises(ScenarioError, match="duplicate key"):
        load_scenario(f)


def test_top_level_must_be_mapping(tmp_path: Path):
    f = tmp_path / "list.yaml"
    f.write_text("- 1\n- 2\n")
    with pytest.raises(ScenarioError, match="mapping"):
        load_scenario(f)


def test_unsafe_yaml_tags_refused(tmp_path: Path):
    f = tmp_path / "evil.yaml"
    f.write_text("name: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ScenarioError):
        load_scenario(f)


def test_missing_file():
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario("no/such/file.yaml")


def test_extends_merges_and_overrides(tmp_path: Path):
    (tmp_path / "base.yaml").write_text("name: base\ncarcinosis:\n  probability: 0.2\npain:\n  rate_per_month: 0.3\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nname: child\npain:\n  rate_per_month: 0.4\n")
    s = load_scenario(tmp_path / "child.yaml")
    assert (s.name, s.carcinosis.probability, s.pain.rate_per_month) == ("child", 0.2, 0.4)


def test_extends_cycle_and_escape_refused(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ScenarioError, match="circular"):
        load_scenario(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: ../../../etc/passwd\n")
    with pytest.raises(ScenarioError, match="outside"):
        load_scenario(tmp_path / "c.yaml")


def test_extends_finds_shipped_baseline(tmp_path: Path):
    (tmp_path / "mine.yaml").write_text("extends: baseline.yaml\nname: mine\n")
    assert load_scenario(tmp_path / "mine.yaml").name == "mine"


def test_override_unknown_path_suggests():
    with pytest.raises(ScenarioError) as exc:
        apply_overrides({}, ["carcinosis.probabilty=0.1"])
    assert "did you mean 'probability'" in str(exc.value)


def test_override_wrong_type():
    (p,) = problems(overrides=["run.patients=lots"])
    assert p.path == "run.patients"


def test_override_form():
    with pytest.raises(ScenarioError, match="dotted.path=value"):
        parse_override("carcinosis.probability")
    assert parse_override("carcinosis.probability=0.1") == ("carcinosis.probability", 0.1)


def test_override_into_a_value_refused():
    with pytest.raises(ScenarioError, match="is a value"):
        apply_overrides({}, ["carcinosis.probability.x=1"])


def test_partial_section_keeps_the_other_defaults():
    s = with_overrides(Scenario(), {"progression.weibull.breast.shape": 0.5, "services.radiotherapy.capacity": 3})
    d = Scenario()
    assert s.progression.weibull.breast.scale_months == d.progression.weibull.breast.scale_months
    assert s.services.radiotherapy.weekdays_only == d.services.radiotherapy.weekdays_only is True
    assert s.services.radiotherapy.unit == "fractions"
    s2 = validate({"services": {"beds": {"capacity": 4}}})
    assert s2.services.beds.unit == "bed-days" and s2.services.beds.capacity == 4
