"""Reports: a self-contained HTML file (figures embedded, no external
references), the Excel workbook and its sheets, services shown only when
present, and bad folders refused with exit 2."""

import json
import re
import shutil

import pytest
from openpyxl import load_workbook

from sim.cli.main import main
from sim.experiments.runner import replications_to_folder, run_to_folder
from sim.present.report import write_report
from sim.present.report_tables import services_tables

from ..conftest import make


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "results"
    run_to_folder(make(patients=800, seed=17), out)
    write_report(out)
    return out


def test_html_is_self_contained(folder):
    text = (folder / "report.html").read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text.lower() and "<link" not in text.lower() and "@import" not in text
    srcs = re.findall(r'src="([^"]*)"', text)
    assert len(srcs) >= 7 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', text))
    assert "url(" not in text


def test_html_holds_what_the_report_must_say(folder):
    text = (folder / "report.html").read_text(encoding="utf-8")
    summary = json.loads((folder / "summary.json").read_text())
    for needle in (
        "Parameters are illustrative, not clinically validated.",
        "Question and scenario",
        "Model in brief",
        "Parameters with sources",
        "Calibration and validation targets",
        "Reporting items (STRESS-DES)",
        "Software and versions",
        "Random sampling",
        "Initialisation (warm-up)",
        "Run length (horizon)",
        "Estimation approach (replications)",
        "System specification and run time",
        "95% CI",
        "Aalen-Johansen",
        "State occupancy",
        "@media print",
        "lifelines",
    ):
        assert needle in text, needle
    assert summary["calibration"][0]["target"] in text
    assert str(summary["seed"]) in text
    assert "carcinosis.probability" in text  # a parameter row
    assert "Services" in text  # the engine's service counts


def test_workbook_has_its_sheets(folder):
    wb = load_workbook(folder / "report.xlsx", read_only=True)
    for sheet in ("Summary", "Outcomes by primary", "Parameters", "Services", "Calibration"):
        assert sheet in wb.sheetnames
    per_year = any(
        isinstance(v, dict) and "per_year" in v
        for v in json.loads((folder / "summary.json").read_text()).get("services", {}).values()
    )
    assert ("Services by year" in wb.sheetnames) == per_year
    assert wb["Summary"]["B1"].value == "Parameters are illustrative, not clinically validated."
    rows = list(wb["Outcomes by primary"].iter_rows(values_only=True))
    assert rows[0][0] == "primary" and rows[1][0] == "all patients" and rows[1][1] == 800
    params = list(wb["Parameters"].iter_rows(values_only=True))
    assert params[0][:5] == ("parameter", "value", "unit", "range", "source")
    assert len(params) > 50


def test_services_by_year_when_present_and_skipped_when_absent(folder, tmp_path):
    with_years = tmp_path / "years"
    shutil.copytree(folder, with_years)
    doc = json.loads((with_years / "summary.json").read_text())
    doc["services"]["radiotherapy"]["per_year"] = [
        {"year": 1, "courses": 120, "fractions": 300, "mean_wait_days": 2.5},
        {"year": 2, "courses": 90, "fractions": 210, "mean_wait_days": 1.5},
    ]
    (with_years / "summary.json").write_text(json.dumps(doc))
    tot, years = services_tables(doc)
    assert list(years.loc[years["service"] == "radiotherapy", "year"]) == [1, 2] and list(years.columns[:2]) == [
        "service",
        "year",
    ]
    write_report(with_years)
    assert "Services by year" in load_workbook(with_years / "report.xlsx", read_only=True).sheetnames
    assert "By year" in (with_years / "report.html").read_text(encoding="utf-8")

    without = tmp_path / "none"
    shutil.copytree(folder, without)
    doc.pop("services")
    (without / "summary.json").write_text(json.dumps(doc))
    write_report(without)
    wb = load_workbook(without / "report.xlsx", read_only=True)
    assert "Services" not in wb.sheetnames and "Services by year" not in wb.sheetnames
    assert 'id="services"' not in (without / "report.html").read_text(encoding="utf-8")


def test_report_of_replications(tmp_path):
    out = tmp_path / "reps"
    replications_to_folder(make(patients=300, seed=3), out, 3)
    write_report(out)
    text = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="replications"' in text and "t across 3 replications" in text
    assert "Replications" in load_workbook(out / "report.xlsx", read_only=True).sheetnames


def test_cli_report_and_bad_folders(folder, tmp_path, capsys):
    assert main(["report", str(folder), "--quiet"]) == 0
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err == ""
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty)]) == 2
    assert "not a complete results folder" in capsys.readouterr().err
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "patients.parquet").unlink()
    assert main(["report", str(broken)]) == 2
    garbled = tmp_path / "garbled"
    shutil.copytree(folder, garbled)
    (garbled / "summary.json").write_text("{}")
    assert main(["report", str(garbled)]) == 2
    assert "no outcomes" in capsys.readouterr().err
    assert not (empty / "report.html").exists()


def test_run_with_report(tmp_path, capsys):
    y = tmp_path / "s.yaml"
    y.write_text("name: with_report\n", encoding="utf-8")
    out = tmp_path / "o"
    assert main(["run", str(y), "--patients", "300", "--out", str(out), "--report"]) == 0
    assert (out / "report.html").is_file() and (out / "report.xlsx").is_file()
    cap = capsys.readouterr()
    assert "report:" in cap.out and "\r" not in cap.err  # no progress bar off a terminal


def test_report_in_population_mode(tmp_path):
    from sim import with_overrides

    s = with_overrides(
        make(seed=6),
        {"mode": "population", "population.annual_incidence": 80, "population.horizon_years": 3, "population.warmup_years": 1},
    )
    out = tmp_path / "pop"
    _, doc = run_to_folder(s, out)
    write_report(out)
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "population: Poisson arrivals" in text and "excluded from results" in text
    wb = load_workbook(out / "report.xlsx", read_only=True)
    rows = list(wb["Outcomes by primary"].iter_rows(values_only=True))
    assert rows[1][1] == doc["reported_patients"]  # only patients entering after the warm-up
