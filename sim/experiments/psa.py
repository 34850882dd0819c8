"""Probabilistic (PSA) and one-way (OWSA) sensitivity analysis.

**PSA** draws D parameter sets from the scenario's ``uncertainty:`` section
and runs the cohort once per draw.  Draw *d* of parameter *p* comes from its
own random stream, a NumPy ``Generator(Philox)`` seeded by (seed, PSA stream,
d, p): the draws do not depend on the cohort size, on the other uncertain
parameters, on the worker count or on the order in which draws finish.
Every draw meets the same patients (the same seed and replication: common
random numbers), so the spread across draws is that of the parameters; with
``luck="per-draw"`` draw *d* uses replication *d* instead.  For two
scenarios A and B, draw *d* of both uses the same values of shared uncertain
parameters and the same patients, so the differences are paired.

Each draw gives one row of ``psa.parquet``: the drawn parameters
(``param.<path>``) and the outcomes (proportions, survival, care per
patient, discounted cost per patient, and with ``utilities:`` discounted
QALYs per patient).  The summary gives means and 95% uncertainty intervals
(2.5th-97.5th percentiles across draws); for two scenarios also the
incremental cost and QALYs, the cost-effectiveness plane and the
acceptability curve.

**OWSA** sets each uncertain parameter in turn to its 2.5th and 97.5th
percentile (a share of a mix: its Beta marginal, the other shares scaled to
keep the sum 1), everything else at its point value, the same patients
throughout, and ranks the parameters by the swing of one outcome (tornado).

Parameters are illustrative, not clinically validated.
"""

# This module holds the PSA itself (run_psa), its summary (summarise, ceac,
# incremental), its results folder (written here, read back by read_psa) and
# the dashboard's small analyses (probabilistic, one_way).  The draws, the
# outcomes of one run and the plan shared with the OWSA are in
# sim.experiments.psa_draws; the checkpointed folder in
# sim.experiments.psa_checkpoint; the OWSA in sim.experiments.owsa.  The
# docstring above is shown on the dashboard's Uncertainty page.

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.experiments.owsa import choose_outcome, run_owsa, tornado_table
from sim.experiments.psa_checkpoint import Checkpoint, prepare_folder
from sim.experiments.psa_draws import (
    FOLLOW_UP_OUTCOMES,
    OUTCOMES,
    Plan,
    PsaError,
    draw_scenario,
    plan,
    run_task,
    value_at,
    value_range,
)
from sim.scenario.fields import ILLUSTRATIVE
from sim.scenario.model import Scenario
from sim.scenario.uncertainty import HIGH_Q, LOW_Q, full_yaml

DEFAULT_WTP_MAX = 100_000.0
# the most draws one PSA takes: each finished draw is a checkpoint file (about 9 KB) read back at the
# end, about 10 KB of memory per draw and scenario, so 100,000 draws take about 1 GB at the end
MAX_DRAWS = 100_000


# ----------------------------------------------------------------------------- the PSA


@dataclass
class PsaResult:
    """What a PSA produced: one row per draw (and scenario), the summary, the folder."""

    table: pd.DataFrame
    summary: dict[str, Any]
    folder: Path | None = None
    figures: dict[str, Any] = field(default_factory=dict)


def check_draws(draws: Any) -> None:
    """PsaError unless ``draws`` is a whole number from 1 to MAX_DRAWS."""
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise PsaError(f"--draws {draws}: give 1 or more draws")
    if draws > MAX_DRAWS:
        raise PsaError(
            f"--draws {draws}: at most {MAX_DRAWS:,} draws in one PSA (each is checkpointed and read back "
            f"into memory); give {MAX_DRAWS:,} or fewer"
        )


def _check_draws(p: Plan, todo: Iterable[int]) -> None:
    """Every draw's parameter set must be a valid scenario (cross-field rules)."""
    from sim.scenario.loader import ScenarioError

    for d in todo:
        for a in range(len(p.arms)):
            try:
                draw_scenario(p.data[a], p.overrides(a, d))
            except ScenarioError as exc:
                raise ScenarioError(
                    exc.problems,
                    f"draw {d} of {p.names[a]!r} is not a valid scenario (narrow the distributions of uncertainty: "
                    "so that every draw keeps these rules; nothing was written)",
                ) from None


def run_psa(
    scenario: Scenario,
    draws: int = 100,
    patients: int | None = None,
    *,
    workers: int | None = 1,
    scheduler: str | None = None,
    seed: int | None = None,
    comparator: Scenario | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    luck: str = "common",
    wtp_max: float = DEFAULT_WTP_MAX,
    progress: Callable[[int, int], None] | None = None,
    figures: bool = True,
) -> PsaResult:
    """Run D draws (each a cohort of ``patients``) and summarise them.

    With ``out`` each finished draw is checkpointed under ``out/.checkpoint``
    as it completes; ``resume=True`` continues from there without recomputing
    a draw.  ``psa.parquet`` and ``summary.json`` (written last) are written
    when every draw is done."""
    from sim.runtime import parallel
    from sim.runtime.dask_backend import connect

    check_draws(draws)
    if isinstance(wtp_max, bool) or not isinstance(wtp_max, (int, float)) or not (math.isfinite(wtp_max) and wtp_max > 0):
        raise PsaError(f"--wtp-max {wtp_max}: give a positive, finite amount per QALY")
    t0 = time.perf_counter()
    p = plan(scenario, comparator, patients, seed, luck)
    p.prepare(draws)
    _check_draws(p, range(draws))  # before the folder is touched: an invalid draw leaves nothing behind
    ck: Checkpoint | None = None
    if out is not None:
        out = Path(out)
        if scheduler:
            connect(scheduler).close()  # fail fast, before the folder is touched
        ck = prepare_folder(out, p.identity(), resume, force)
    done = ck.done() if ck is not None else set()
    todo = [d for d in range(draws) if d not in done]
    if out is not None and todo:
        (out / "summary.json").unlink(missing_ok=True)  # its presence marks a complete folder
    rows_by_draw: dict[int, list[dict[str, Any]]] = {}
    count = draws - len(todo)

    def finished(i: int, results: list[dict[str, float]]) -> None:
        nonlocal count
        d = todo[i]
        rows = p.rows(d, results)
        if ck is not None:
            ck.write(d, rows)
        else:
            rows_by_draw[d] = rows
        count += 1
        if progress is not None:
            progress(count, draws)

    specs = (p.spec(d) for d in todo)  # built as the workers take them, not all up front
    with contextlib.closing(parallel.imap(run_task, specs, workers=workers, scheduler=scheduler, ordered=False)) as results:
        for i, r in results:
            finished(i, r)
    if ck is not None:
        table = ck.read(draws)
    else:
        table = pd.DataFrame([r for d in range(draws) for r in rows_by_draw[d]])
    summary = summarise(table, p, wtp_max)
    summary["draws"] = draws
    summary["resumed_draws"] = draws - len(todo) if resume else 0
    summary["wall_seconds"] = round(time.perf_counter() - t0, 3)
    summary["backend"] = parallel.describe(workers, scheduler)
    result = PsaResult(table=table, summary=summary, folder=out)
    if out is not None:
        _write_folder(out, result, p, figures)
    return result


def _stats(x: np.ndarray) -> dict[str, Any]:
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return {"mean": None, "sd": None, "median": None, "ui95": [None, None], "n": 0}
    return {
        "mean": float(x.mean()),
        "sd": float(x.std(ddof=1)) if len(x) > 1 else None,
        "median": float(np.median(x)),
        "ui95": [float(np.percentile(x, 2.5)), float(np.percentile(x, 97.5))],
        "n": int(len(x)),
    }


# outcomes that are not estimable in a draw whose follow-up is too short (NaN in the table):
def _outcome_stats(name: str, x: np.ndarray) -> dict[str, Any]:
    """Summary of one outcome across draws (:func:`_stats`), or why there is none."""
    if name in FOLLOW_UP_OUTCOMES:
        missing = int((~np.isfinite(x)).sum())
        if missing:
            out = _stats(x[:0])
            out["reason"] = (
                f"not estimable in {missing} of {len(x)} draws (follow-up shorter than {FOLLOW_UP_OUTCOMES[name]:g} months)"
            )
            return out
    return _stats(x)


def ceac(d_cost: np.ndarray, d_qaly: np.ndarray, wtp: np.ndarray) -> pd.DataFrame:
    """Probability that B is cost-effective vs A (incremental net benefit > 0) at each willingness to pay."""
    inb = wtp[:, None] * d_qaly[None, :] - d_cost[None, :]
    return pd.DataFrame({"wtp": wtp, "probability_cost_effective": (inb > 0).mean(axis=1), "expected_inb": inb.mean(axis=1)})


def incremental(table: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Per draw: B minus A for every outcome (paired by draw)."""
    a = table[table["scenario"] == names[0]].set_index("draw")
    b = table[table["scenario"] == names[1]].set_index("draw")
    cols = [c for c in OUTCOMES if c in a.columns and c in b.columns]
    return (b[cols] - a[cols]).reset_index()


def summarise(table: pd.DataFrame, p: Plan, wtp_max: float = DEFAULT_WTP_MAX) -> dict[str, Any]:
    from sim import __version__
    from sim.analysis.summary import json_safe

    params: list[dict[str, Any]] = []
    for a, s in enumerate(p.arms):
        for path, spec in s.uncertainty.items():
            if any(x["path"] == path for x in params):
                continue
            entry = {
                "path": path,
                "distribution": spec.describe(),
                "source": spec.source,
                "point_value": value_at(p.data[a], path),
            }
            if spec.distribution != "dirichlet":
                lo, hi = value_range(path)
                q = spec.quantile([LOW_Q, 0.5, HIGH_Q], lo, hi)
                entry.update({"low_2_5": float(q[0]), "median": float(q[1]), "high_97_5": float(q[2])})
            params.append(entry)
    outcomes = {}
    for name in p.names:
        t = table[table["scenario"] == name]
        outcomes[name] = {k: _outcome_stats(k, t[k].to_numpy(dtype=float)) for k in OUTCOMES if k in t.columns}
    doc: dict[str, Any] = {
        "notice": ILLUSTRATIVE,
        "kind": "psa",
        "scenarios": p.names,
        "seed": p.seed,
        "patients_per_draw": p.patients,
        "luck": p.luck,
        "luck_note": "every draw meets the same patients (common random numbers)"
        if p.luck == "common"
        else "draw d uses replication d: the spread includes the patients' luck",
        "model_version": __version__,
        "random_numbers": "parameter draws: numpy Generator(Philox) seeded by (seed, PSA stream, draw, crc32(path)); patients: Philox4x32-10 streams addressed by (seed, replication, patient, process)",
        "interval": "95% uncertainty interval: 2.5th-97.5th percentiles across draws",
        "uncertain_parameters": params,
        "outcomes": outcomes,
        "labels": OUTCOMES,
    }
    if len(p.names) == 2:
        inc = incremental(table, p.names)
        doc["incremental"] = {
            "reference": p.names[0],
            "scenario": p.names[1],
            **{k: _outcome_stats(k, inc[k].to_numpy(dtype=float)) for k in OUTCOMES if k in inc.columns},
        }
        if "qalys_per_patient" in inc.columns and "cost_per_patient" in inc.columns:
            dc, dq = inc["cost_per_patient"].to_numpy(float), inc["qalys_per_patient"].to_numpy(float)
            wtp = np.linspace(0.0, wtp_max, 101)
            curve = ceac(dc, dq, wtp)
            mean_dq = float(dq.mean())
            doc["cost_effectiveness"] = {
                "incremental_cost_mean": float(dc.mean()),
                "incremental_qalys_mean": mean_dq,
                "icer": float(dc.mean() / mean_dq) if mean_dq != 0 else None,
                "icer_note": "ratio of mean incremental cost to mean incremental QALYs (per patient, discounted)",
                "quadrants": {
                    "more_effective_less_costly": float(((dq > 0) & (dc < 0)).mean()),
                    "more_effective_more_costly": float(((dq > 0) & (dc >= 0)).mean()),
                    "less_effective_less_costly": float(((dq <= 0) & (dc < 0)).mean()),
                    "less_effective_more_costly": float(((dq <= 0) & (dc >= 0)).mean()),
                },
                "ceac": curve.to_dict(orient="list"),
            }
        else:
            doc["cost_effectiveness"] = None
            doc["cost_effectiveness_note"] = (
                "set utilities: in both scenarios for QALYs, the CE plane and the acceptability curve"
            )
    return json_safe(doc)


def _write_folder(out: Path, r: PsaResult, p: Plan, figures: bool) -> None:
    """Write the results beside the checkpoint, each file whole or not at all (and
    on disk before it takes its name); ``summary.json`` last, as it marks a complete folder."""
    try:
        _write_files(out, r, p, figures)
    except OSError as exc:
        exc.add_note(
            f"all {r.summary.get('draws')} draws are checkpointed in {out}; once the cause is fixed, "
            "run the same command with --resume to write the results"
        )
        raise


def _write_files(out: Path, r: PsaResult, p: Plan, figures: bool) -> None:
    from sim.oserrors import atomic_file, write_text

    with atomic_file(out / "psa.parquet") as tmp:
        pq.write_table(pa.Table.from_pandas(r.table, preserve_index=False), tmp, compression="zstd")
    for i, s in enumerate(p.arms):
        write_text(out / ("scenario.resolved.yaml" if i == 0 else "comparator.resolved.yaml"), full_yaml(s))
    files = ["psa.parquet", "summary.json", "scenario.resolved.yaml"] + (["comparator.resolved.yaml"] if len(p.arms) > 1 else [])
    if figures:
        from sim.present import uncertainty_figures as pu

        figs: dict[str, Any] = {"outcomes.png": pu.psa_outcomes(r.table, p.names)}
        ce = r.summary.get("cost_effectiveness")
        if ce:
            inc = incremental(r.table, p.names)
            figs["ce_plane.png"] = pu.ce_plane(inc, p.names)
            figs["ceac.png"] = pu.ceac_curve(pd.DataFrame(ce["ceac"]), p.names)
        for name, fig in figs.items():
            with atomic_file(out / name) as tmp:
                fig.savefig(tmp, dpi=110, format="png")
            files.append(name)
        r.figures = figs
    r.summary["files"] = files
    write_text(out / "summary.json", json.dumps(r.summary, indent=2, allow_nan=False) + "\n")  # last: marks a complete folder


# ----------------------------------------------------------------------------- for the dashboard


def probabilistic(scenario: Scenario, draws: int = 40, patients: int = 500) -> list[Any]:
    """A small PSA of a scenario for the dashboard: the outcome distributions and the table."""
    from sim.present import uncertainty_figures as pu

    if not scenario.uncertainty:
        raise PsaError(
            f"scenario {scenario.name!r} has no uncertainty: section; add distributions (see scenarios/baseline_psa.yaml)"
        )
    r = run_psa(scenario, draws=draws, patients=min(patients, scenario.run.patients), workers=1)
    return [pu.psa_outcomes(r.table, [scenario.name]), r.table]


def one_way(scenario: Scenario, patients: int = 500, outcome: str | None = None) -> list[Any]:
    """A small OWSA of a scenario for the dashboard: the tornado diagram and its table."""
    from sim.present import uncertainty_figures as pu

    name = choose_outcome(outcome, scenario)
    t = tornado_table(run_owsa(scenario, min(patients, scenario.run.patients), workers=1), name)
    return [pu.tornado(t, OUTCOMES[name], scenario.name), t]


# ----------------------------------------------------------------------------- for reports


def read_psa(folder: str | Path) -> PsaResult:
    """A complete PSA folder read back (psa.parquet and summary.json); PsaError if incomplete."""
    f = Path(folder)
    if not (f / "summary.json").is_file() or not (f / "psa.parquet").is_file():
        raise PsaError(f"{f} is not a complete PSA folder (psa.parquet and summary.json); run or --resume 'run_sim.py psa'")
    return PsaResult(
        table=pd.read_parquet(f / "psa.parquet"), summary=json.loads((f / "summary.json").read_text(encoding="utf-8")), folder=f
    )


def summary_table(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per scenario and outcome: mean, 2.5th and 97.5th percentile across draws (for report tables)."""
    rows = []
    for name, outs in summary["outcomes"].items():
        for k, st in outs.items():
            lo, hi = st["ui95"]
            rows.append(
                {"scenario": name, "outcome": k, "label": OUTCOMES.get(k, k), "mean": st["mean"], "ui95_low": lo, "ui95_high": hi}
            )
    for k, st in (summary.get("incremental") or {}).items():
        if isinstance(st, dict) and "ui95" in st:
            lo, hi = st["ui95"]
            rows.append(
                {
                    "scenario": f"{summary['incremental']['scenario']} - {summary['incremental']['reference']}",
                    "outcome": k,
                    "label": OUTCOMES.get(k, k),
                    "mean": st["mean"],
                    "ui95_low": lo,
                    "ui95_high": hi,
                }
            )
    return pd.DataFrame(rows)
