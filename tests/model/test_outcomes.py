"""The outcome catalogue (sim.analysis.outcomes) is the one list of headline
outcomes: every place that shows outcomes takes its names and labels from it,
and every entry is found where it says it is."""

from __future__ import annotations

import pytest

from sim.analysis import outcomes as oc
from sim.analysis.outcomes import CATALOGUE


def test_catalogue_entries_are_well_formed() -> None:
    labels = [o.label for o in CATALOGUE.values()]
    assert len(set(labels)) == len(labels), "labels must be unique"
    assert all(o.fmt in ("pct", "num") for o in CATALOGUE.values())
    assert all(o.name == name for name, o in CATALOGUE.items())
    assert all((o.fmt == "pct") == (o.unit == "proportion") for o in CATALOGUE.values())
    psa_cols = [o.psa for o in CATALOGUE.values() if o.psa]
    assert len(set(psa_cols)) == len(psa_cols)
    for lst in (oc.HEADLINE, oc.PRECISION, oc.REPORT_HEADLINE, oc.REPLICATIONS_TABLE, oc.COMPARE, oc.PSA):
        assert set(lst) <= set(CATALOGUE), lst
        assert len(set(lst)) == len(lst), lst
    assert all(CATALOGUE[n].psa for n in oc.PSA)
    assert all(CATALOGUE[n].key for n in (*oc.HEADLINE, *oc.REPORT_HEADLINE, *oc.REPLICATIONS_TABLE, *oc.COMPARE))


def test_every_list_uses_the_catalogue() -> None:
    from dashboard import core
    from sim.experiments.compare import KEY_OUTCOMES
    from sim.experiments.psa_draws import OUTCOMES
    from sim.experiments.replications import AUTO_OUTCOMES
    from sim.present.report_tables import HEADLINE

    assert AUTO_OUTCOMES == oc.flat_labels(oc.PRECISION)
    assert KEY_OUTCOMES == oc.flat_labels(oc.COMPARE)
    assert OUTCOMES == oc.psa_labels()
    assert [h[1] for h in HEADLINE] == [CATALOGUE[n].key for n in oc.REPORT_HEADLINE]
    assert [h[0] for h in HEADLINE] == [CATALOGUE[n].title for n in oc.REPORT_HEADLINE]
    assert core.HEADLINE == {CATALOGUE[n].key: CATALOGUE[n].label for n in oc.HEADLINE}


@pytest.fixture(scope="module")
def run() -> tuple[dict, dict, object]:
    from sim import load_scenario, simulate
    from sim.analysis.summary import outcomes
    from sim.experiments.psa_draws import outcomes_of
    from sim.experiments.replications import flatten

    s = load_scenario("scenarios/baseline.yaml", ["run.patients=300", "utilities.bone_metastasis=0.7"])
    res = simulate(s, keep_events=False)
    doc = outcomes(res.patients)
    return doc, flatten(doc), outcomes_of(res.patients, res.services, s)


def test_every_outcome_is_read_where_the_catalogue_says(run: tuple[dict, dict, dict]) -> None:
    doc, flat, psa = run
    for o in CATALOGUE.values():
        if o.key is not None:
            node = o.read(doc)
            assert node is not None, o.name
            assert isinstance(node, dict) == o.interval, o.name
            assert o.flat in flat, o.name
            v = o.value(doc)
            assert v is None or v == pytest.approx(flat[o.flat], nan_ok=True)
        if o.psa is not None:
            assert o.psa in psa, o.name
    # the PSA's quick estimates (no intervals) agree with the summary's
    for n in ("carcinosis", "hypercalcemia", "sre_any", "sre_per_patient", "alive_12"):
        o = CATALOGUE[n]
        assert psa[o.psa] == pytest.approx(o.value(doc), rel=1e-9), n
    # the median may be the next event time: before the first censoring survival is exactly 0.5
    # after half the deaths, which the PSA's product and lifelines' sum of logarithms round to
    # either side of 0.5 (sim.analysis.kaplan_meier)
    o = CATALOGUE["median_survival"]
    assert psa[o.psa] == pytest.approx(o.value(doc), rel=0.01)


def test_an_outcome_only_the_psa_has_has_no_flat_name() -> None:
    with pytest.raises(ValueError, match="PSA"):
        _ = CATALOGUE["cost"].flat
    assert CATALOGUE["cost"].read({"x": 1}) is None
