"""Values the program shows and writes: survival beyond follow-up is not
estimable (never the last Kaplan-Meier value carried forward), runs with no
reported patients give a summary and a report, scenario text never becomes a
spreadsheet formula, and confidence intervals hold their estimate."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.summary import wilson

ROOT = Path(__file__).resolve().parent.parent
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
    assert wilson(0, 0) == {"estimate": None, "ci95": [None, None], "n": 0}


def test_outcome_bars_accept_a_bound_a_rounding_error_past_the_estimate():
    import pandas as pd

    from sim.figures import outcome_bars, paired_differences

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
    diffs = pd.DataFrame(
        {"metric": ["m"], "scenario": ["b"], "difference": [0.0], "ci95_low": [1e-17], "ci95_high": [-1e-17]}
    )
    paired_differences(diffs, {"m": "m"}).canvas.draw()


def test_dashboard_compare_page_after_a_run_with_a_zero_outcome():
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("views/scenario.py").run()
    at.selectbox(key="scenario_file").set_value("baseline.yaml").run()
    token = "file:baseline.yaml"
    at.number_input(key=f"w|{token}|carcinosis.probability").set_value(0.0).run()
    at.number_input(key=f"patients|{token}").set_value(300).run()
    at.button(key="run").click().run()
    assert not at.exception and not at.error
    at.switch_page("views/compare.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    side = at.dataframe[0].value.set_index("outcome")
    assert side.loc["carcinosis (proportion)"].iloc[0] == 0.0
    assert len(list(at.get("image"))) == 1
