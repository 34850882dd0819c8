"""The course kernel: the same results, byte for byte, whichever way it runs.

* the cohort scheduler without SimPy against SimPy's own environment (the
  event log and request log in the canonical order either way);
* the compiled (mypyc) kernel against the Python sources;
* both against fingerprints of the code before the speed work;
* the guard that never lets a stale compiled build shadow edited sources.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from sim import kernel, load_scenario, simulate
from sim.engine import simulate as engine

from .. import golden
from ..conftest import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = json.loads((Path(__file__).parents[1] / "data" / "golden_digests.json").read_text())


def _fingerprints_in_subprocess(pure: bool) -> tuple[dict[str, str], str, bool]:
    env = {k: v for k, v in os.environ.items() if k != kernel.PURE_ENV}
    if pure:
        env[kernel.PURE_ENV] = "1"
    code = (
        "import json, sys\n"
        "from tests import golden\n"
        "from sim import kernel\n"
        "from sim.kernel import numbers\n"
        "print(json.dumps({'fp': golden.fingerprints(), 'kernel': kernel.status()['kernel'], 'lazy': numbers.LAZY_DRAWS}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    return doc["fp"], doc["kernel"], doc["lazy"]


def test_results_match_the_fingerprints_from_before_the_speed_work() -> None:
    assert golden.fingerprints() == GOLDEN


def _decoded(table: pa.Table) -> pa.Table:
    """A table with its dictionary columns as plain strings (the dictionaries'
    order is that in which the strings were first met, which differs)."""
    return pa.table(
        {
            n: table.column(n).cast(pa.string()) if pa.types.is_dictionary(table.column(n).type) else table.column(n)
            for n in table.column_names
        }
    )


def _assert_canonical(events: pa.Table, service_log: Any) -> None:
    """Events by (patient id, time), requests by (patient id, request time)."""
    pid, t = events.column("patient_id").to_numpy(), events.column("time_months").to_numpy()
    assert np.array_equal(np.lexsort((t, pid)), np.arange(len(pid)))
    lp, lt = service_log["patient_id"].to_numpy(), service_log["request_months"].to_numpy()
    assert np.array_equal(np.lexsort((lt, lp)), np.arange(len(lp)))


def test_direct_scheduler_gives_the_same_tables_as_simpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Courses run one after another and courses sharing one SimPy environment
    give the same tables, the events and service requests in the canonical
    order (patient id, time, order within the patient) in both."""
    sc = load_scenario(SCENARIOS / "high_carcinosis.yaml", {"run.patients": 700, "run.seed": 3})
    direct = simulate(sc)
    calls: list[int] = []

    def refuse(*a: object, **k: object) -> None:
        calls.append(1)
        raise AssertionError("the direct path was asked for")

    monkeypatch.setattr(engine, "run_direct", refuse)
    monkeypatch.setattr(engine, "USE_DIRECT", False)
    through_simpy = simulate(sc)
    assert not calls
    assert direct.n_events == through_simpy.n_events > 0
    assert direct.n_timeouts == through_simpy.n_timeouts
    assert _decoded(direct.events).equals(_decoded(through_simpy.events))  # same rows in the same order
    assert direct.patients.equals(through_simpy.patients)
    assert direct.labs.equals(through_simpy.labs)
    assert direct.service_log.equals(through_simpy.service_log)
    assert direct.services.equals(through_simpy.services)
    _assert_canonical(direct.events, direct.service_log)


def test_equal_times_across_courses_give_the_same_tables_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    """Monthly visits put carcinosis courses at equal times (ties across
    courses, once ordered by the scheduler's wait numbers): both paths still
    give the same events, requests and service figures, in the canonical order."""
    overrides = {"run.patients": 400, "run.seed": 8, "labs.monitoring_interval_days": 30.4375}
    sc = load_scenario(SCENARIOS / "high_carcinosis.yaml", overrides)
    direct = simulate(sc)
    monkeypatch.setattr(engine, "USE_DIRECT", False)
    shared = simulate(sc)
    assert _decoded(direct.events).equals(_decoded(shared.events))
    assert direct.service_log.equals(shared.service_log)
    assert direct.services.equals(shared.services)
    assert direct.patients.equals(shared.patients)
    _assert_canonical(direct.events, direct.service_log)
    t = direct.events.column("time_months").to_numpy()
    assert len(t) - len(np.unique(t)) > 100  # many events at equal times


@pytest.mark.parametrize(
    ("scenario", "overrides"),
    [
        ("rt_capacity_cut.yaml", {"run.patients": 300}),
        ("regional_baseline.yaml", {"population.horizon_years": 2, "population.warmup_years": 1}),
    ],
)
def test_shared_scheduler_runs_are_sorted_into_the_canonical_order(scenario: str, overrides: dict[str, Any]) -> None:
    """Finite services and population mode run every course in one SimPy
    environment; their events and requests are sorted into the canonical order."""
    r = simulate(load_scenario(SCENARIOS / scenario, overrides))
    assert r.events is not None and r.events.num_rows > 0
    _assert_canonical(r.events, r.service_log)


def test_compiled_kernel_matches_python_kernel_byte_for_byte() -> None:
    state, why = kernel.decide()
    if state != "compiled":
        if os.environ.get("CI"):
            pytest.fail(f"CI builds the compiled kernel (python -m sim.kernel build) but it is not in use: {why}")
        pytest.skip(f"no current compiled kernel: {why}")
    compiled, k1, lazy1 = _fingerprints_in_subprocess(pure=False)
    pure, k2, lazy2 = _fingerprints_in_subprocess(pure=True)
    assert (k1, k2) == ("compiled (mypyc)", "python")
    # the compiled kernel draws each number when used (sim.kernel.philox), the Python one pre-draws blocks
    assert (lazy1, lazy2) == (True, False)
    assert compiled == pure == GOLDEN


def _fake_package(tmp: Path, with_build: bool) -> Path:
    for mod in kernel.MODULES:
        (tmp / f"{mod}.py").write_text(f"# {mod}\n")
    if with_build:
        import importlib.machinery

        suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
        for mod in (*kernel.MODULES, "_kernel__mypyc"):
            (tmp / f"{mod}{suffix}").write_bytes(b"")
    return tmp


def _stamp(tmp: Path) -> None:
    sources = {m: kernel._digest(tmp / f"{m}.py") for m in kernel.MODULES}
    (tmp / kernel.STAMP.name).write_text(json.dumps({"abi": kernel._abi(), "sources": sources}))


def test_guard_uses_python_without_a_build(tmp_path: Path) -> None:
    assert kernel.decide(_fake_package(tmp_path, False), {})[0] == "python"


def test_guard_uses_a_current_build(tmp_path: Path) -> None:
    pkg = _fake_package(tmp_path, True)
    _stamp(pkg)
    assert kernel.decide(pkg, {}) == ("compiled", "built from the current sources")
    assert kernel.decide(pkg, {kernel.PURE_ENV: "1"})[0] == "python"  # asked for the sources


def test_guard_refuses_a_stale_or_foreign_build(tmp_path: Path) -> None:
    pkg = _fake_package(tmp_path, True)
    assert "no readable stamp" in kernel.decide(pkg, {})[1]
    _stamp(pkg)
    (pkg / "course.py").write_text("# edited after the build\n")
    state, why = kernel.decide(pkg, {})
    assert state == "python" and "sim/kernel/course.py changed" in why
    _stamp(pkg)
    doc = json.loads((pkg / kernel.STAMP.name).read_text())
    doc["abi"] = "cpython-39-elsewhere"
    (pkg / kernel.STAMP.name).write_text(json.dumps(doc))
    assert kernel.decide(pkg, {})[0] == "python"


def test_guard_refuses_a_build_of_other_modules(tmp_path: Path) -> None:
    import importlib.machinery

    pkg = _fake_package(tmp_path, True)
    _stamp(pkg)
    (pkg / f"engine{importlib.machinery.EXTENSION_SUFFIXES[0]}").write_bytes(b"")  # left from an older build
    state, why = kernel.decide(pkg, {})
    assert state == "python" and "other modules" in why


def test_status_names_the_kernel_that_runs() -> None:
    st = kernel.status()
    assert st["kernel"] in ("compiled (mypyc)", "python") and st["reason"]


def test_scenario_mirrors_hold_the_scenario_values_under_its_names() -> None:
    """The course reads scenario values from native mirrors (sim.kernel.constants): every
    mirrored field is the scenario's value of the same name, with its type."""
    import dataclasses

    from sim.kernel.constants import compile_scenario

    s = load_scenario(
        SCENARIOS / "baseline.yaml",
        ["care.radiotherapy.multi_fraction_fractions=10", "labs.keep_patients=7", "hypercalcemia.admission_days=4"],
    )
    m = compile_scenario(s)
    sections = {
        "age": s.cohort.age,
        "other_mortality": s.other_mortality,
        "sre": s.sre,
        "pain": s.pain,
        "hypercalcemia": s.hypercalcemia,
        "carcinosis": s.carcinosis,
        "detection": s.detection,
        "complications": s.complications,
        "radiotherapy": s.care.radiotherapy,
        "radium223": s.care.radionuclide.radium223,
        "strontium_samarium": s.care.radionuclide.strontium_samarium,
        "chemotherapy": s.care.chemotherapy,
        "transfusion": s.care.transfusion,
        "surgery": s.care.surgery,
        "labs": s.labs,
    }
    extra = {"onset_alpha", "onset_beta", "at_onset"}
    checked = 0
    for name, model in sections.items():
        mirror = getattr(m, name)
        for f in dataclasses.fields(mirror):
            if f.name in extra:
                continue
            got, want = getattr(mirror, f.name), getattr(model, f.name)
            assert got == want, f"{name}.{f.name}"
            assert isinstance(got, bool) == isinstance(want, bool) and isinstance(got, int) == isinstance(want, int), (
                f"{name}.{f.name}"
            )
            checked += 1
    assert checked > 80
    assert m.radiotherapy.multi_fraction_fractions == 10 and m.labs.keep_patients == 7
    assert m.hypercalcemia.admission_days == 4.0 and isinstance(m.hypercalcemia.admission_days, float)
    assert (m.carcinosis.onset_alpha, m.carcinosis.onset_beta) == (
        s.carcinosis.onset_fraction.alpha,
        s.carcinosis.onset_fraction.beta,
    )
    ao = s.carcinosis.cytopenia_at_onset
    assert m.carcinosis.at_onset == (ao.anemia, ao.thrombocytopenia, ao.leukopenia)
    assert m.visceral_disease_probability == s.cohort.visceral_disease_probability
    assert m.nadir_recovery_days == s.care.radionuclide.nadir_recovery_days
