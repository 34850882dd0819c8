"""The benchmark suite works and reports its repetitions honestly (no timing is asserted)."""

import json
from pathlib import Path

import pytest

from sim.cli.main import main
from sim.experiments.bench import TARGETS, best_of, figures, repeats_for


def _run(wall: float, simulate: float | None = None, bare: float | None = None) -> dict:
    r = {"patients": 1000, "workers": 1, "wall_s": wall, "patients_per_s": 1000 / wall, "timeouts": 5000}
    if simulate is not None and bare is not None:
        r.update(simulate_s=simulate, bare_simpy_s=bare, event_rate_ratio=bare / simulate)
    return r


def test_best_of_keeps_the_fastest_run_and_lists_every_run() -> None:
    row = best_of([_run(3.0), _run(2.0), _run(2.5)])
    assert row["wall_s"] == 2.0 and row["patients_per_s"] == 500.0
    assert row["runs"] == 3 and row["wall_s_runs"] == [3.0, 2.0, 2.5]


def test_best_of_divides_the_fastest_bare_loop_by_the_fastest_model_run() -> None:
    # the model was fastest in run 1, the bare loop in run 2: neither run's own ratio
    row = best_of([_run(3.0, simulate=1.0, bare=0.5), _run(3.5, simulate=1.6, bare=0.4)])
    assert row["event_rate_ratio"] == pytest.approx(0.4)
    assert row["event_rate_ratio_runs"] == pytest.approx([0.5, 0.25])
    assert row["model_timeouts_per_s"] == pytest.approx(5000.0) and row["bare_timeouts_per_s"] == pytest.approx(12500.0)


def test_best_of_skips_failed_runs_and_reports_a_case_that_always_failed() -> None:
    assert best_of([{"error": "boom", "patients": 1}, _run(4.0)])["runs"] == 1
    assert best_of([{"error": "boom", "patients": 1}])["error"] == "boom"


def test_repeats() -> None:
    assert repeats_for("cohort", {"patients": 10_000}, False, None) == 3
    assert repeats_for("cohort", {"patients": 1_000_000}, False, None) == 2
    assert repeats_for("psa", {"draws": 1000}, False, None) == 2
    assert repeats_for("cohort", {"patients": 10_000}, True, None) == 1
    assert repeats_for("cohort", {"patients": 10_000}, True, 4) == 4
    assert repeats_for("dashboard", {"patients": 10_000}, False, 4) == 1


def test_quick_benchmark_measures_every_figure(tmp_path: Path) -> None:
    """``bench --quick`` runs every case (the 2-worker ones through the
    parallel runner) and writes every headline figure; repeated cases keep
    their fastest run."""
    assert main(["bench", "--quick", "--repeat", "2", "--out", str(tmp_path), "--quiet"]) == 0
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["quick"] is True
    assert all("error" not in r for r in doc["cohort"] + doc["psa"])
    assert {(r["patients"], r["workers"]) for r in doc["cohort"]} == {(2000, 1), (2000, 2), (5000, 1), (5000, 2)}
    for r in doc["cohort"] + doc["psa"]:
        assert r["runs"] == 2 and r["wall_s"] == min(r["wall_s_runs"])
    assert all(r["timeouts"] > 0 for r in doc["cohort"])
    f = figures(doc)
    missing = [k for k in TARGETS if k not in ("cohort_1m_2_workers_s", "psa_1000x1000_2_workers_s") and f.get(k) is None]
    assert not missing, missing
    md = (tmp_path / "results.md").read_text()
    assert "Quick mode" in md and "all runs, s" in md


def test_bench_refuses_a_bad_repeat(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--repeat", "0", "--out", str(tmp_path / "b"), "--quiet"]) == 2
    assert "--repeat" in capsys.readouterr().err and not (tmp_path / "b").exists()
