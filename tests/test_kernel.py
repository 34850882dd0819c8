"""The course kernel: the same results, byte for byte, whichever way it runs.

* the cohort scheduler without SimPy against SimPy's own environment;
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

import numpy as np
import pytest

from sim import kernel, load_scenario, simulate
from sim.engine import simulate as engine

from . import golden
from .conftest import SCENARIOS

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((Path(__file__).parent / "data" / "golden_digests.json").read_text())


def _fingerprints_in_subprocess(pure: bool) -> tuple[dict[str, str], str, bool]:
    env = {k: v for k, v in os.environ.items() if k != kernel.PURE_ENV}
    if pure:
        env[kernel.PURE_ENV] = "1"
    code = (
        "import json, sys\n"
        "from tests import golden\n"
        "from sim import kernel\n"
        "from sim import course\n"
        "print(json.dumps({'fp': golden.fingerprints(), 'kernel': kernel.status()['kernel'], 'lazy': course.LAZY_DRAWS}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    return doc["fp"], doc["kernel"], doc["lazy"]


def test_results_match_the_fingerprints_from_before_the_speed_work() -> None:
    assert golden.fingerprints() == GOLDEN


def test_direct_scheduler_gives_the_same_tables_as_simpy(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = load_scenario(SCENARIOS / "high_carcinosis.yaml", {"run.patients": 700, "run.seed": 3})
    direct = simulate(sc)
    calls: list[int] = []
    real = engine._run_direct

    def refuse(*a: object, **k: object) -> None:
        calls.append(1)
        raise AssertionError("the SimPy path was asked for")

    monkeypatch.setattr(engine, "_run_direct", refuse)
    monkeypatch.setattr(engine, "USE_DIRECT", False)
    through_simpy = simulate(sc)
    assert not calls
    monkeypatch.setattr(engine, "_run_direct", real)
    assert direct.n_events == through_simpy.n_events > 0
    assert direct.n_timeouts == through_simpy.n_timeouts
    assert direct.events.equals(through_simpy.events)  # same rows in the same order
    assert direct.patients.equals(through_simpy.patients)
    assert direct.labs.equals(through_simpy.labs)


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


def test_step_order_is_the_order_of_one_shared_heap() -> None:
    """Courses run one after another are put in the order one scheduler keyed
    by (time, wait number) runs them, as SimPy does: random courses with few
    distinct times (many ties across courses, broken by the wait number) and
    some waits of length 0 (a step at the same time as the one before it)."""
    import heapq
    import random

    import numpy as np

    from sim.kernel.events import step_order

    rng = random.Random(5)
    for trial in range(30):
        n = rng.randint(1, 60)
        delays = [[float(rng.choice((0, 1, 1, 2, 3, 5))) for _ in range(rng.randint(0, 12))] for _ in range(n)]
        # the shared scheduler: first steps in course order, then (time, wait number)
        heap: list[tuple[float, int, int, int]] = []
        shared: list[tuple[int, int]] = []  # (course, step number within the course)
        eid = 0
        for i in range(n):
            shared.append((i, 0))
            if delays[i]:
                heapq.heappush(heap, (0.0 + delays[i][0], eid, i, 1))
                eid += 1
        while heap:
            t, _, i, k = heapq.heappop(heap)
            shared.append((i, k))
            if k < len(delays[i]):
                heapq.heappush(heap, (t + delays[i][k], eid, i, k + 1))
                eid += 1
        # the same courses run one after another, as sim.kernel.course.run_direct records them
        key: list[float] = []
        prev: list[int] = []
        ident: list[tuple[int, int]] = []
        for i in range(n):
            first = len(key)
            key.append(0.0)
            prev.append(-1)
            ident.append((i, 0))
            t = 0.0
            for k, d in enumerate(delays[i], start=1):
                t = t + d
                prev.append(len(key) - 1 if k > 1 else first)
                key.append(t)
                ident.append((i, k))
        order = step_order(np.asarray(key), np.asarray(prev, dtype=np.int64))
        assert [ident[j] for j in order] == shared, f"trial {trial}"


def test_interleaved_events_and_requests_match_a_shared_simpy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Courses run one after another give the events, detail codes and service
    requests of one SimPy environment running all of them, in the same order:
    monthly visits put carcinosis courses at equal times (ties across courses)."""
    overrides = {"run.patients": 400, "run.seed": 8, "labs.monitoring_interval_days": 30.4375}
    sc = load_scenario(SCENARIOS / "high_carcinosis.yaml", overrides)
    direct = simulate(sc)
    monkeypatch.setattr(engine, "USE_DIRECT", False)
    shared = simulate(sc)
    assert direct.events.equals(shared.events)
    for col in ("event", "detail"):  # the same dictionaries, in the same order, and the same codes
        a, b = direct.events.column(col).combine_chunks(), shared.events.column(col).combine_chunks()
        assert a.dictionary.equals(b.dictionary) and a.indices.equals(b.indices)
    assert direct.service_log.equals(shared.service_log)
    assert direct.services.equals(shared.services)
    t = direct.events.column("time_months").to_numpy()
    assert len(t) - len(np.unique(t)) > 100  # many events at equal times


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
