"""Paired comparison of scenarios under common random numbers.

Every scenario runs with the same seed and the same replication indices, so
replication r of each scenario meets the same patients with the same luck
(the same arrivals, the same draws per patient and process).  Differences
are taken replication by replication and summarised as mean difference with
a Student-t 95% interval.  Because the shared luck cancels in each
difference, its variance is far smaller than that of two independent runs,
and fewer replications give the same precision (docs/services.md shows a
measured example).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.outcomes import COMPARE, flat_labels
from sim.engine.simulate import RunResult, simulate
from sim.experiments.replications import replication_values, t_ci
from sim.experiments.runner import SERIAL, Backend, Progress, _scenario_from
from sim.kernel.services import SERVICES
from sim.scenario.model import Scenario

# outcomes shown on the terminal (flattened names -> labels)
KEY_OUTCOMES = flat_labels(COMPARE)  # flattened name -> label (sim.analysis.outcomes)
SERVICE_KEYS = ("uses_per_year", "units_per_year", "wait_mean_days", "utilisation", "deaths_waiting_per_year", "cost_per_year")


def service_metrics(res: RunResult) -> dict[str, float]:
    """Per service, averaged over the reported years."""
    out: dict[str, float] = {}
    t = res.services
    years = max(1, int(t["year"].max())) if len(t) else 1
    for name in SERVICES:
        d = t[t["service"] == name]
        uses = d["uses"].to_numpy(dtype=float)
        wait = np.nan_to_num(d["wait_mean_days"].to_numpy(dtype=float))
        out[f"services.{name}.uses_per_year"] = float(uses.sum() / years)
        out[f"services.{name}.units_per_year"] = float(d["units"].sum() / years)
        out[f"services.{name}.wait_mean_days"] = float((wait * uses).sum() / uses.sum()) if uses.sum() else 0.0
        out[f"services.{name}.utilisation"] = float(d["utilisation"].mean()) if d["utilisation"].notna().any() else float("nan")
        out[f"services.{name}.deaths_waiting_per_year"] = float(d["deaths_waiting"].sum() / years)
        out[f"services.{name}.cost_per_year"] = float(d["cost"].sum() / years)
    out["services.total.cost_per_year"] = float(t["cost"].sum() / years) if len(t) else 0.0
    return out


def run_metrics(res: RunResult) -> dict[str, float]:
    """Every outcome and service figure of one replication, flattened."""
    vals = replication_values(res.reported_patients)
    vals.update(service_metrics(res))
    return vals


@dataclass
class Comparison:
    """Per-replication values of each scenario and the paired differences."""

    names: list[str]
    values: pd.DataFrame  # scenario, replication, metric, value
    differences: pd.DataFrame  # metric, scenario (vs the first), means, mean difference, CI

    def key_table(self) -> pd.DataFrame:
        """The rows shown on the terminal: key outcomes, then each service's
        yearly uses (and waits, utilisation and deaths while waiting where a
        capacity is set), then the total cost when costs are set."""
        d = self.differences.set_index("metric")
        keys = [k for k in KEY_OUTCOMES if k in d.index]
        for s in SERVICES:
            keys.append(f"services.{s}.uses_per_year")
            util = d.loc[[f"services.{s}.utilisation"]] if f"services.{s}.utilisation" in d.index else None
            if util is not None and (util["reference_mean"].notna().any() or util["scenario_mean"].notna().any()):
                keys += [f"services.{s}.{k}" for k in ("wait_mean_days", "utilisation", "deaths_waiting_per_year")]
        cost = d.loc[["services.total.cost_per_year"]] if "services.total.cost_per_year" in d.index else None
        if cost is not None and ((cost["reference_mean"] != 0) | (cost["scenario_mean"] != 0)).any():
            keys.append("services.total.cost_per_year")
        keys = [k for k in keys if k in d.index]
        return d.loc[keys].reset_index()


def compare(
    scenarios: list[Scenario],
    replications: int = 1,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    backend: Any = None,
) -> Comparison:
    """Run each scenario ``replications`` times on the same seed and
    replication indices; differences are paired against the first.  The runs
    go through the one runner (:func:`sim.experiments.compare.compare_runs`) on
    ``backend`` (default: this process)."""
    if len(scenarios) < 2:
        raise ValueError("compare needs at least two scenarios")
    if replications < 1:
        raise ValueError("replications must be at least 1")
    names = _unique_names([s.name for s in scenarios])
    seeds = [sc.run.seed if seed is None else seed for sc in scenarios]
    rows: list[dict[str, Any]] = []
    for k, r, metrics in compare_runs(scenarios, seeds, replications, backend or SERIAL, progress):
        for metric, value in metrics.items():
            rows.append({"scenario": names[k], "replication": r, "metric": metric, "value": value})
    values = pd.DataFrame(rows)
    return Comparison(names, values, paired_differences(values, names))


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    return out


def paired_differences(values: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Mean difference (scenario minus the first) with a t-based 95% CI, per metric."""
    wide = values.pivot_table(index=["metric", "replication"], columns="scenario", values="value", dropna=False)
    ref = names[0]
    out = []
    for metric, d in wide.groupby(level="metric", sort=False):
        a = d[ref].to_numpy(dtype=float)
        for other in names[1:]:
            b = d[other].to_numpy(dtype=float)
            diff = b - a
            ci = t_ci(diff)
            out.append(
                {
                    "metric": metric,
                    "reference": ref,
                    "scenario": other,
                    "reference_mean": float(np.nanmean(a)) if np.isfinite(a).any() else np.nan,
                    "scenario_mean": float(np.nanmean(b)) if np.isfinite(b).any() else np.nan,
                    "difference": ci["mean"] if ci["mean"] is not None else np.nan,
                    "ci95_low": ci["ci95"][0] if ci["ci95"][0] is not None else np.nan,
                    "ci95_high": ci["ci95"][1] if ci["ci95"][1] is not None else np.nan,
                    "sd_difference": ci["sd"] if ci["sd"] is not None else np.nan,
                    "replications": int(np.isfinite(diff).sum()),
                }
            )
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------- compare


def compare_task(spec: tuple[dict[str, Any], int, int]) -> dict[str, float]:
    """One scenario at one seed and replication: every outcome and service figure."""
    data, seed, replication = spec
    s = _scenario_from(data, {"run.seed": seed, "run.replication": replication})
    return run_metrics(simulate(s, keep_events=False))


def compare_runs(
    scenarios: list[Scenario],
    seeds: list[int],
    replications: int,
    backend: Backend = SERIAL,
    progress: Progress | None = None,
) -> Iterator[tuple[int, int, dict[str, float]]]:
    """``(scenario index, replication, metrics)`` for every scenario at its seed
    and replications ``0 .. replications - 1``, in that order."""
    datas = [s.model_dump(mode="json") for s in scenarios]
    keys = [(k, r) for k in range(len(scenarios)) for r in range(replications)]
    specs = ((datas[k], seeds[k], r) for k, r in keys)
    with contextlib.closing(backend.imap(compare_task, specs)) as results:
        for i, metrics in results:
            if progress is not None:
                progress(i + 1, len(keys))
            yield (*keys[i], metrics)
