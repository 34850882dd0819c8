"""One-way sensitivity analysis (OWSA).

Each uncertain parameter of the scenario's ``uncertainty:`` section is set
in turn to its 2.5th and 97.5th percentile (a share of a mix: its Beta
marginal, the other shares scaled to keep the sum 1), everything else at
its point value, the same patients throughout (:func:`owsa_settings`,
:func:`run_owsa`); the parameters are ranked by the swing of one outcome
(:func:`tornado_table`, the tornado diagram).  :func:`owsa_to_folder` writes
``owsa.parquet``, ``tornado.png`` and ``summary.json`` (the dashboard's
small OWSA is :func:`sim.experiments.psa.one_way`).

Parameters are illustrative, not clinically validated.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.experiments.psa_draws import FOLLOW_UP_OUTCOMES, OUTCOMES, PsaError, plan, run_task, value_at, value_range
from sim.scenario.fields import ILLUSTRATIVE
from sim.scenario.model import Scenario
from sim.scenario.uncertainty import HIGH_Q, LOW_Q, full_yaml, spread_mix


def owsa_settings(scenario: Scenario) -> list[tuple[str, str, float, dict[str, Any]]]:
    """(parameter, side, value, overrides) for each uncertain parameter at its low and high value."""
    data = scenario.model_dump(mode="json")
    out = []
    for path, spec in scenario.uncertainty.items():
        if spec.distribution == "dirichlet":
            shares = {k: float(v) for k, v in value_at(data, path).items()}
            for k in shares:
                lo, hi = spec.mix_low_high(shares, k)
                for side, v in (("low", lo), ("high", hi)):
                    mix = spread_mix(shares, k, v)
                    out.append((f"{path}.{k}", side, v, {f"{path}.{j}": x for j, x in mix.items()}))
        else:
            lo_b, hi_b = value_range(path)
            lo, hi = (float(x) for x in spec.quantile([LOW_Q, HIGH_Q], lo_b, hi_b))
            out.append((path, "low", lo, {path: lo}))
            out.append((path, "high", hi, {path: hi}))
    return out


def run_owsa(
    scenario: Scenario,
    patients: int | None = None,
    *,
    workers: int | None = 1,
    scheduler: str | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """One row per run: the base case (every parameter at its point value),
    then each uncertain parameter at its low and high value; all outcomes."""
    from sim.runtime import parallel

    p = plan(scenario, None, patients, seed, "common")
    if not scenario.uncertainty:
        raise PsaError(f"scenario {scenario.name!r} has no uncertainty: section; add distributions (docs/scale.md)")
    data = p.data[0]
    settings: list[tuple[str, str, float, dict[str, Any]]] = [("(base case)", "base", math.nan, {})] + owsa_settings(p.arms[0])
    specs = [{"arms": [(data, o)]} for *_, o in settings]
    results = parallel.map_tasks(run_task, specs, workers=workers, scheduler=scheduler)
    rows = []
    for (param, side, value, _), res in zip(settings, results, strict=True):
        rows.append({"parameter": param, "side": side, "value": value, **res[0]})
    return pd.DataFrame(rows)


def tornado_table(owsa: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Per parameter: the outcome at its low and high value, the swing, in descending order of swing."""
    if outcome not in owsa.columns:
        raise PsaError(
            f"outcome {outcome!r} is not in the table; choose one of {', '.join(c for c in OUTCOMES if c in owsa.columns)}"
        )
    base = float(owsa.loc[owsa["side"] == "base", outcome].iloc[0])
    rows = []
    for param, d in owsa[owsa["side"] != "base"].groupby("parameter", sort=False):
        lo = d[d["side"] == "low"].iloc[0]
        hi = d[d["side"] == "high"].iloc[0]
        rows.append(
            {
                "parameter": param,
                "low_value": lo["value"],
                "high_value": hi["value"],
                "outcome_at_low": float(lo[outcome]),
                "outcome_at_high": float(hi[outcome]),
                "base": base,
                "swing": abs(float(hi[outcome]) - float(lo[outcome])),
            }
        )
    t = pd.DataFrame(rows)
    return t.sort_values("swing", ascending=False, kind="mergesort").reset_index(drop=True) if len(t) else t


def choose_outcome(name: str | None, scenario: Scenario) -> str:
    import difflib

    if name is None:
        return "qalys_per_patient" if scenario.utilities is not None else "life_years"
    if name not in OUTCOMES:
        close = [o for o in OUTCOMES if o.startswith(name)] or difflib.get_close_matches(name, list(OUTCOMES), n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise PsaError(f"--outcome {name!r} is not an outcome; {hint}choose one of {', '.join(OUTCOMES)}")
    if name == "qalys_per_patient" and scenario.utilities is None:
        raise PsaError("--outcome qalys_per_patient needs utilities: in the scenario (utility weights for QALYs)")
    need = FOLLOW_UP_OUTCOMES.get(name)
    if need is not None and scenario.run.horizon_months < need:
        raise PsaError(
            f"--outcome {name}: run.horizon_months is {scenario.run.horizon_months:g}, so survival at {need:g} months "
            f"is not estimable; choose another outcome or a horizon of at least {need:g} months"
        )
    return name


def owsa_to_folder(
    scenario: Scenario,
    out: Path,
    *,
    outcome: str | None = None,
    patients: int | None = None,
    workers: int | None = 1,
    scheduler: str | None = None,
    seed: int | None = None,
    force: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Run the OWSA and write owsa.parquet, tornado.png and summary.json (atomically)."""
    from sim import __version__
    from sim.analysis.summary import json_safe
    from sim.outputs.folder import staged_output
    from sim.outputs.paths import write_json
    from sim.runtime import parallel
    from sim.runtime.dask_backend import connect

    name = choose_outcome(outcome, scenario)
    if scheduler:
        connect(scheduler).close()
    # the folder is claimed (and checked) before the runs, written when they are done
    with staged_output(Path(out), force, "owsa") as tmp:
        t0 = time.perf_counter()
        table = run_owsa(scenario, patients, workers=workers, scheduler=scheduler, seed=seed)
        tor = tornado_table(table, name)
        pq.write_table(pa.Table.from_pandas(table, preserve_index=False), tmp / "owsa.parquet", compression="zstd")
        from sim.present import uncertainty_figures as pu

        pu.tornado(tor, OUTCOMES[name], scenario.name).savefig(tmp / "tornado.png", dpi=110)
        (tmp / "scenario.resolved.yaml").write_text(full_yaml(scenario), encoding="utf-8")
        doc = json_safe(
            {
                "notice": ILLUSTRATIVE,
                "kind": "owsa",
                "scenario": scenario.name,
                "outcome": name,
                "outcome_label": OUTCOMES[name],
                "seed": scenario.run.seed if seed is None else seed,
                "patients": scenario.run.patients if patients is None else patients,
                "model_version": __version__,
                "method": "each uncertain parameter at its 2.5th and 97.5th percentile, the others at their point values, the same patients in every run",
                "base": float(table.loc[table["side"] == "base", name].iloc[0]),
                "tornado": tor.to_dict(orient="records"),
                "wall_seconds": round(time.perf_counter() - t0, 3),
                "backend": parallel.describe(workers, scheduler),
                "files": ["owsa.parquet", "tornado.png", "summary.json", "scenario.resolved.yaml"],
            }
        )
        write_json(tmp / "summary.json", doc)
    return table, tor, doc
