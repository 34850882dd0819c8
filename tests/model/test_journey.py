"""One patient's story: the same course as in a full run, stable text, and
paired stories that agree until the scenarios differ."""

import re

import numpy as np

from sim import simulate, with_overrides
from sim.cli.main import main
from sim.experiments.journey import first_difference, narrate, render, render_compare, simulate_patient

from ..conftest import make

NO_CHEMO = {"care.chemotherapy.uptake": 0.0}


def events_of(res, pid):
    ev = res.events.to_pandas()
    ev = ev[ev["patient_id"] == pid]
    return list(zip(ev["time_months"], ev["event"].astype(str), ev["detail"].astype(str), strict=False))


def test_one_patient_meets_the_same_luck_as_in_a_full_run():
    s = make(patients=60, seed=13)
    full = simulate(s)
    for pid in (0, 17, 59):
        c = simulate_patient(s, pid)
        assert list(zip(c.events["time_months"], c.events["event"], c.events["detail"], strict=False)) == events_of(full, pid)
        row = full.patients.set_index("patient_id").loc[pid]
        assert c.row["followup_months"] == row["followup_months"]


def test_journey_text_is_stable_and_dated():
    s = make(seed=21)
    a = render(simulate_patient(s, 7))
    b = render(simulate_patient(s, 7))
    assert a == b
    lines = a.splitlines()
    assert lines[0].startswith("Patient 7, scenario 'baseline' (seed 21, replication 0")
    assert "illustrative, not clinically validated" in lines[1]
    assert lines[3].startswith("month 0.0: bone metastases diagnosed")
    body = [ln for ln in lines[3:] if ln.startswith("month")]
    assert all(re.match(r"^month \d+\.\d(–\d+\.\d)?: \S", ln) for ln in body)
    times = [float(re.match(r"^month (\d+\.\d)", ln).group(1)) for ln in body]
    assert times == sorted(times)
    assert lines[-2].startswith(("Died at month", "Alive at the end"))
    assert lines[-1].startswith("Lowest haemoglobin")
    # another seed tells another story
    assert render(simulate_patient(make(seed=22), 7)) != a


def test_radiotherapy_is_told_with_its_pain_response():
    s = make(seed=3)
    found = False
    for pid in range(200):
        c = simulate_patient(s, pid)
        if "pain_response" in set(c.events["event"]) and "radiotherapy" in set(c.events["event"]):
            text = "\n".join(ln.text for ln in narrate(c))
            assert re.search(
                r"radiotherapy( \d+ days? later| the same day)?, (single 8 Gy fraction|\d+ fractions).*; pain (relieved|eased).* by week \d+",
                text,
            )
            found = True
            break
    assert found


def test_referral_and_radiotherapy_are_told_on_one_line():
    s = make(seed=3)
    for pid in range(300):
        c = simulate_patient(s, pid)
        rt_pain = c.events[(c.events["event"] == "radiotherapy") & c.events["detail"].str.endswith(": pain")]
        if len(rt_pain):
            t_rt = rt_pain["time_months"].iloc[0]
            pain_t = c.events[(c.events["event"] == "pain") & (c.events["time_months"] < t_rt)]["time_months"].iloc[-1]
            lines = narrate(c)
            line = next(ln for ln in lines if ln.time == pain_t)
            assert re.match(r"bone pain → radiotherapy (\d+ days? later|the same day), ", line.text)
            assert not any(ln.time == t_rt and ln.text.startswith("radiotherapy") for ln in lines)
            return
    raise AssertionError("no patient with radiotherapy for pain")


def diagnosed_with_chemo(s, n=400):
    df = simulate(with_overrides(s, {"run.patients": n}), keep_events=False).patients
    return df[df["chemotherapy"]]


def test_paired_journeys_share_everything_before_the_first_difference():
    a_s = make(seed=8)
    b_s = with_overrides(a_s, NO_CHEMO)
    cand = diagnosed_with_chemo(a_s)
    assert len(cand)
    pid = int(cand["patient_id"].iloc[0])
    diag = float(cand["carcinosis_diagnosis_months"].iloc[0])
    a, b = simulate_patient(a_s, pid), simulate_patient(b_s, pid)
    k = first_difference(a, b)
    assert 0 < k < len(a.events)
    ea, eb = a.events.iloc[:k], b.events.iloc[:k]
    assert ea.equals(eb)
    # the scenarios differ only in chemotherapy uptake: the courses part at diagnosis
    assert a.events["time_months"].iloc[k] == diag
    assert (ea["time_months"] <= diag).all()
    text = render_compare(a, b, width=100)
    assert "Same in both scenarios:" in text
    assert f"The scenarios part here (month {diag:.1f})" in text
    shared = text.split("Same in both scenarios:")[1].split("The scenarios part here")[0]
    assert "chemotherapy" not in shared


def test_a_patient_the_difference_does_not_touch_has_one_course():
    a_s = make(seed=8)
    b_s = with_overrides(a_s, NO_CHEMO)
    df = simulate(with_overrides(a_s, {"run.patients": 50}), keep_events=False).patients
    pid = int(df.loc[df["carcinosis_onset_months"].isna(), "patient_id"].iloc[0])
    a, b = simulate_patient(a_s, pid), simulate_patient(b_s, pid)
    assert first_difference(a, b) == len(a.events) == len(b.events)
    assert "same course" in render_compare(a, b)


def test_cli_journey(tmp_path, capsys):
    y1 = tmp_path / "a.yaml"
    y1.write_text("name: with_chemo\n", encoding="utf-8")
    y2 = tmp_path / "b.yaml"
    y2.write_text("name: without_chemo\ncare:\n  chemotherapy:\n    uptake: 0.0\n", encoding="utf-8")
    assert main(["journey", str(y1), "--patient", "4", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Patient 4, scenario 'with_chemo' (seed 5")
    assert main(["journey", str(y1), "--patient", "4", "--seed", "5"]) == 0
    assert capsys.readouterr().out == out
    assert main(["journey", str(y1), "--patient", "4", "--seed", "5", "--compare", str(y2)]) == 0
    assert "'with_chemo' beside 'without_chemo'" in capsys.readouterr().out
    assert main(["journey", str(y1), "--patient", "-3"]) == 2
    assert main(["journey", str(tmp_path / "missing.yaml"), "--patient", "1"]) == 2
    assert main(["journey", str(y1), "--patient", "1", "--compare", str(tmp_path / "missing.yaml")]) == 2
    assert np.all([True])


POPULATION = {
    "mode": "population",
    "population.annual_incidence": 60,
    "population.horizon_years": 3,
    "population.warmup_years": 1,
}


def test_population_journey_counts_months_from_entry():
    s = with_overrides(make(seed=4), POPULATION)
    full = simulate(s)
    df = full.patients
    pid = int(df.loc[df["entry_months"] > 6, "patient_id"].iloc[0])
    entry = float(df.loc[df["patient_id"] == pid, "entry_months"].iloc[0])
    c = simulate_patient(s, pid)
    assert c.events["time_months"].iloc[0] == 0.0
    assert np.allclose(np.asarray([t for t, _, _ in events_of(full, pid)]) - entry, c.events["time_months"])
    text = render(c)
    assert f"Entered at calendar month {entry:.1f}" in text
