"""The package's layers (docs/architecture.md, "Layers"): the import-linter
contracts of pyproject.toml hold, no module of the library takes part in an
import cycle, and ``import sim`` stays light."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _need(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        pytest.fail(
            f"{module} is not installed; install the test extra: pip install -e '.[test]' (it brings import-linter and grimp)"
        )


def test_import_contracts_hold() -> None:
    """lint-imports, as .ci/run runs it: the layers, the library without the
    command line or the dashboard, no cycles between the modules of a package."""
    _need("importlinter")
    code = "import sys; from importlinter.cli import lint_imports_command; sys.argv = ['lint-imports', '--no-cache']; lint_imports_command()"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"lint-imports found a broken contract:\n{r.stdout[-6000:]}\n{r.stderr[-2000:]}"
    assert "0 broken" in r.stdout


def _cycles(graph: object, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    adj = {m: sorted(i for i in graph.find_modules_directly_imported_by(m) if i in modules) for m in sorted(modules)}  # type: ignore[attr-defined]
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    for root in adj:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = len(index)
                stack.append(v)
                on.add(v)
            if i < len(adj[v]):
                work.append((v, i + 1))
                w = adj[v][i]
                if w not in index:
                    work.append((w, 0))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            for w in adj[v]:
                if w in on:
                    low[v] = min(low[v], low[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_no_import_cycles_among_modules() -> None:
    """No module of sim or dashboard imports itself through others (run-time
    imports, lazy ones inside functions included; imports under TYPE_CHECKING,
    which never run, left out)."""
    _need("grimp")
    import grimp

    graph = grimp.build_graph("sim", "dashboard", cache_dir=None, exclude_type_checking_imports=True)
    modules = {m for m in graph.modules if m.split(".")[0] in ("sim", "dashboard")}
    assert len(modules) > 60
    assert _cycles(graph, modules) == []


def test_cycle_finder_finds_a_cycle() -> None:
    class Graph:
        edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

        def find_modules_directly_imported_by(self, m: str) -> set[str]:
            return self.edges[m]

    assert _cycles(Graph(), {"a", "b", "c", "d"}) == [["a", "b", "c"]]


LIGHT = ("sim", "sim.scenario.fields", "sim.errors", "sim.oserrors", "sim.analysis.outcomes")
HEAVY = ("pandas", "pyarrow", "simpy", "numpy", "scipy", "matplotlib", "lifelines", "streamlit", "dask", "yaml")


def test_import_sim_is_light() -> None:
    """``import sim`` and the scenario's field declarations load none of the
    numeric, data or simulation libraries (the public names are imported on
    first use), so the command line's --help and the schema tools start fast."""
    code = (
        f"import importlib, json, sys\nfor m in {LIGHT!r}: importlib.import_module(m)\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []


def test_public_names_import_on_first_use() -> None:
    code = "import sys, sim; assert 'pandas' not in sys.modules; sim.simulate; assert 'pandas' in sys.modules; print(sim.Scenario.__name__)"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Scenario"
