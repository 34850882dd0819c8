"""Services with finite capacity, population mode and paired comparison."""

import math

import numpy as np
import pandas as pd
import pytest
import simpy

from sim import simulate
from sim.cli.main import main
from sim.engine.simulate import arrival_times
from sim.experiments.compare import compare
from sim.kernel.services import SERVICES, SVC, Pools, ServiceLog, next_weekday_start, serve, service_table

from ..conftest import SCENARIOS, make

ALL_SERVICES_OFF_WEEKDAYS = {f"services.{s}.weekdays_only": False for s in SERVICES}


def population(overrides=None, years=4.0, warmup=1.0, incidence=300.0, seed=3):
    return make(
        {
            "mode": "population",
            "population.horizon_years": years,
            "population.warmup_years": warmup,
            "population.annual_incidence": incidence,
            **(overrides or {}),
        },
        seed=seed,
    )


def test_unlimited_capacity_means_no_waits():
    res = simulate(population(), keep_events=False)
    log = res.service_log
    assert len(log) > 1000
    assert np.array_equal(log["start_months"].to_numpy(), log["request_months"].to_numpy())
    assert (res.patients["total_wait_days"] == 0).all()
    assert (res.services["deaths_waiting"] == 0).all()


def test_ample_capacity_reproduces_the_unlimited_run():
    """A finite service that never fills takes the queueing path yet changes nothing."""
    base = {**ALL_SERVICES_OFF_WEEKDAYS}
    a = simulate(make(base, patients=1500), keep_events=False).patients
    b = simulate(
        make({**base, **{f"services.{s}.capacity": 100_000 for s in SERVICES}}, patients=1500), keep_events=False
    ).patients
    pd.testing.assert_frame_equal(a, b)


def test_more_capacity_never_raises_mean_wait():
    waits = {}
    for cap in (3, 5, 8):
        w = []
        for rep in range(2):
            res = simulate(population({"services.radiotherapy.capacity": cap, "run.replication": rep}), keep_events=False)
            d = res.services[res.services["service"] == "radiotherapy"]
            w.append((d["wait_mean_days"] * d["uses"]).sum() / d["uses"].sum())
        waits[cap] = np.mean(w)
    assert waits[3] >= waits[5] >= waits[8]
    assert waits[3] > 1.0  # the constraint binds


class _Customer:
    def __init__(self, env, pid):
        self.pid = pid
        self.alive = True
        self.died = env.event()


def _mmc(lam: float, mu: float, c: int, n: int, seed: int = 1):
    """Poisson arrivals to one service in isolation with exponential holding."""
    rng = np.random.default_rng(seed)
    s = make({"services.beds.capacity": c, "services.beds.weekdays_only": False})
    env = simpy.Environment()
    pools, log = Pools(env, s), ServiceLog()
    k = SVC["beds"]

    def source():
        for i in range(n):
            yield env.timeout(rng.exponential(1 / lam))
            env.process(serve(env, pools, log, k, _Customer(env, i), 1, rng.exponential(1 / mu), 1.0, lambda: None, False))

    env.process(source())
    env.run()
    return s, log.frame(), env.now


def erlang_c_wq(lam: float, mu: float, c: int) -> float:
    a = lam / mu
    rho = a / c
    summ = sum(a**k / math.factorial(k) for k in range(c))
    pc = (a**c / math.factorial(c)) / (1 - rho)
    p_wait = pc / (summ + pc)
    return p_wait / (c * mu - lam)


def test_mmc_back_test_against_erlang_c():
    lam, mu, c = 2.4, 1.0, 3  # utilisation 0.8
    _, log, _ = _mmc(lam, mu, c, 60_000)
    log = log.iloc[5000:]  # drop the start-up
    wq = (log["start_months"] - log["request_months"]).mean()
    expected = erlang_c_wq(lam, mu, c)  # 1.079
    assert abs(wq - expected) / expected < 0.08


def test_littles_law_on_a_service():
    lam, mu, c = 1.6, 1.0, 2
    s, log, end = _mmc(lam, mu, c, 40_000, seed=2)
    table = service_table(log, s, 0.0, end)
    beds = table[table["service"] == "beds"]
    # time-weighted queue length = arrival rate x mean wait (per year of the run)
    for row in beds.itertuples():
        if row.to_months - row.from_months < 12 or row.uses < 100:
            continue
        in_year = log[(log["request_months"] >= row.from_months) & (log["request_months"] < row.to_months)]
        arrival_rate = len(in_year) / (row.to_months - row.from_months)
        w = (in_year["start_months"] - in_year["request_months"]).mean()
        assert abs(row.mean_queue - arrival_rate * w) / (arrival_rate * w) < 0.05
        assert abs(row.mean_busy - arrival_rate / mu) / (arrival_rate / mu) < 0.1


def test_arrivals_follow_the_incidence():
    s = population(years=20.0, warmup=1.0, incidence=500.0)
    t = arrival_times(s)
    expected = 500 * 20
    assert abs(len(t) - expected) < 4 * math.sqrt(expected)
    assert np.all(np.diff(t) > 0) and t.max() < 240
    # per 100,000 form gives the same rate
    s2 = make(
        {
            "mode": "population",
            "population.population_size": 2_000_000,
            "population.incidence_per_100k": 25.0,
            "population.horizon_years": 20.0,
            "population.warmup_years": 1.0,
        }
    )
    assert s2.population.arrivals_per_year == 500.0
    assert np.array_equal(arrival_times(s2), t) or abs(len(arrival_times(s2)) - expected) < 4 * math.sqrt(expected)


def test_warmup_excluded_and_years_reported():
    res = simulate(population(years=5.0, warmup=2.0), keep_events=False)
    assert (res.reported_patients["entry_months"] >= 24).all()
    assert len(res.reported_patients) < len(res.patients)
    years = res.services[res.services["service"] == "beds"]
    assert list(years["year"]) == [1, 2, 3] and years["from_months"].iloc[0] == 24.0


def test_no_patient_dropped_in_population_mode():
    res = simulate(population({"services.radiotherapy.capacity": 2, "population.prevalent_patients": 100}), keep_events=False)
    df = res.patients
    ends = df["followup_months"] + df["entry_months"]
    assert (ends <= 48 + 1e-9).all()
    assert (df["censored"] ^ df["death_months"].notna()).all()
    assert (df["patient_id"] >= 2**31).sum() == 100


def test_deaths_while_waiting_are_counted():
    res = simulate(population({"services.radiotherapy.capacity": 1}, years=3.0), keep_events=False)
    log = res.service_log
    died = log[(log["service"] == "radiotherapy") & log["start_months"].isna() & log["end_months"].notna()]
    assert len(died) > 10
    dead = res.patients.set_index("patient_id").loc[died["patient_id"]]
    # each died at the moment its wait ended
    t_death = (dead["entry_months"] + dead["death_months"]).to_numpy()
    assert np.allclose(t_death, died["end_months"].to_numpy())
    rt = res.services[res.services["service"] == "radiotherapy"]
    assert rt["deaths_waiting"].sum() == ((died["end_months"] >= 12) & (died["end_months"] < 36)).sum()


def test_emergencies_go_first():
    res = simulate(population({"services.radiotherapy.capacity": 3}, years=3.0), keep_events=False)
    log = res.service_log
    rt = log[(log["service"] == "radiotherapy") & log["start_months"].notna()]
    wait = (rt["start_months"] - rt["request_months"]) * 30.4375
    assert wait[rt["priority"] == 0].mean() < 0.5 * wait[rt["priority"] == 2].mean()


def test_weekday_pattern():
    assert next_weekday_start(0.0) == 0.0  # day 0 is a Monday
    sat = 5 / (365.25 / 12)
    assert next_weekday_start(sat) == pytest.approx(7 / (365.25 / 12))
    res = simulate(population({"services.radiotherapy.capacity": 20}, years=2.0), keep_events=False)
    log = res.service_log
    rt = log[(log["service"] == "radiotherapy") & log["start_months"].notna()]
    days = np.floor(rt["start_months"] * 365.25 / 12 + 1e-9) % 7
    assert (days < 5).all()


def test_costs_per_unit_and_use():
    res = simulate(
        make({"services.beds.cost_per_unit": 100.0, "services.theatre.cost_per_use": 1000.0}, patients=500), keep_events=False
    )
    t = res.services
    beds, theatre = t[t["service"] == "beds"], t[t["service"] == "theatre"]
    assert np.allclose(beds["cost"], 100.0 * beds["units"])
    assert np.allclose(theatre["cost"], 1000.0 * theatre["uses"])


def test_paired_comparison_with_itself_is_exactly_zero():
    s = make(patients=400)
    cmp = compare([s, s], replications=2)
    d = cmp.differences
    finite = d["difference"].notna()
    assert finite.sum() > 20
    assert (d.loc[finite, "difference"] == 0).all()


def test_shipped_planning_scenarios_load():
    for name in ("regional_baseline", "rt_capacity_cut", "single_fraction_policy", "radium_high_uptake", "blood_shortage"):
        text = (SCENARIOS / f"{name}.yaml").read_text()
        assert "description:" in text and "illustrative, not clinically validated" in text.lower()
        assert main(["validate", str(SCENARIOS / f"{name}.yaml")]) == 0


@pytest.mark.parametrize(
    "setting, needle",
    [
        ("services.radiotherapy.capacity=-2", "services.radiotherapy.capacity"),
        ("services.radiotherapy.capacity=2.5", "whole number"),
        ("services.linac.capacity=3", "unknown key 'linac'"),
        ("population.warmup_years=12", "warmup_years"),
        ("population.annual_incidence=0", "population.annual_incidence"),
    ],
)
def test_bad_service_and_population_input(tmp_path, capsys, setting, needle):
    out = tmp_path / "o"
    rc = main(["run", str(SCENARIOS / "regional_baseline.yaml"), "--set", setting, "--out", str(out), "--quiet"])
    assert rc == 2
    assert needle in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("start", [0.0, 0.1, 7.3, 24.0])
def test_years_grouped_by_one_sort_match_a_mask_per_year(start):
    """The per-year positions used by the service table are exactly those of
    a boolean mask per year, in the same order (so sums over them add the same
    numbers in the same order), NaN and out-of-range times in no year."""
    from sim.kernel.services import _by_year, _count_by_year

    rng = np.random.default_rng(4)
    t = np.concatenate([rng.uniform(start - 5, start + 70, 5000), [np.nan, start, start + 12.0, start + 60.0]])
    rng.shuffle(t)
    los = [start + y * 12.0 for y in range(5)]
    his = [min(lo + 12.0, start + 60.0) for lo in los]
    masks = [np.flatnonzero((t >= lo) & (t < hi)) for lo, hi in zip(los, his)]
    got = _by_year(t, los, his)
    assert all(np.array_equal(g, m) for g, m in zip(got, masks))
    assert _count_by_year(t, los, his) == [len(m) for m in masks]
    # windows that overlap (by rounding, or as here on purpose): a time may be in two years
    his_overlap = [hi + 0.5 for hi in his]
    masks = [np.flatnonzero((t >= lo) & (t < hi)) for lo, hi in zip(los, his_overlap)]
    assert all(np.array_equal(g, m) for g, m in zip(_by_year(t, los, his_overlap), masks))
    assert _count_by_year(t, los, his_overlap) == [len(m) for m in masks]
