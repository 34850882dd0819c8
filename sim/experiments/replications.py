"""Independent replications: t-based confidence intervals across
replications, and the choice of their number.

Replication *r* of a scenario is the same scenario with ``run.replication``
set to ``r``: the same root seed, but every random stream is addressed by
(seed, replication, patient, process), so replications are independent and
each is reproducible on its own.  Replication ``run.replication`` (0 by
default) is exactly the single run of the same scenario and seed.

Each replication yields one value per outcome (every number in
``summary.json``'s ``outcomes``, flattened to dotted names, plus the model
value of every calibration target).  Across R replications an outcome is
reported as the mean with a Student-t 95% confidence interval,
``mean +/- t(0.975, R-1) * sd / sqrt(R)``.

``--replications auto`` chooses R with the *replications algorithm* of
Hoad, Robinson & Davies (2010), "Automated selection of the number of
replications for a discrete-event simulation", Journal of the Operational
Research Society 61(11):1632-1644: the confidence-interval method (run
replications until the CI half-width is within a relative precision of the
mean, here 5% by default) with a look-ahead that guards against stopping
early by chance: once the precision is met at ``N_sol`` replications, run
``kLimit`` more (``kLimit * N_sol / 100`` when ``N_sol > 100``); if the
precision holds in every one of them, ``N_sol`` is the answer, otherwise carry
on.  Several outcomes are handled as in the paper's multiple-response
extension: the precision must hold for every chosen outcome.  A cap bounds
the number of replications; if it is reached first the result says the
precision was not reached.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.intervals import running_ci, t_ci  # noqa: F401 - running_ci: part of this module's interface
from sim.analysis.outcomes import PRECISION, flat_labels
from sim.engine.simulate import RunResult

# the outcomes whose precision --replications auto controls (flattened names; sim.analysis.outcomes)
AUTO_OUTCOMES = flat_labels(PRECISION)
DEFAULT_PRECISION = 0.05
DEFAULT_CAP = 50
# the most replications one run takes (--replications and --max-replications): every replication's
# row of outcomes (about 170 numbers, some 10 KB as the rows are kept) stays in memory until the
# table is written, so this bounds that memory to about 1 GB
MAX_REPLICATIONS = 100_000
INITIAL = 3
K_LIMIT = 5
ALGORITHM = (
    "replications algorithm of Hoad, Robinson & Davies (2010), J Oper Res Soc 61(11):1632-1644: "
    "confidence-interval method with look-ahead"
)


# ----------------------------------------------------------------------------- statistics


def look_ahead(n_sol: int, k_limit: int = K_LIMIT) -> int:
    """Hoad et al.'s f(kLimit): kLimit replications, proportionally more beyond 100."""
    return k_limit if n_sol <= 100 else int(math.floor(k_limit * n_sol / 100))


def flatten(doc: Any, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested document as dotted names (None -> NaN; lists skipped)."""
    out: dict[str, float] = {}
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(doc, bool):
        out[prefix] = float(doc)
    elif isinstance(doc, (int, float)):
        out[prefix] = float(doc)
    elif doc is None:
        out[prefix] = float("nan")
    return out


def reported(res: RunResult) -> pd.DataFrame:
    """The patients whose outcomes count (population mode: entered after the warm-up)."""
    df = getattr(res, "reported_patients", None)
    return df if isinstance(df, pd.DataFrame) else res.patients


def service_values(res: RunResult) -> dict[str, float]:
    """Every service figure of one replication (totals over the reported years), flattened."""
    table = getattr(res, "services", None)
    if isinstance(table, pd.DataFrame):
        from sim.kernel.services import services_summary

        return flatten(services_summary(table), "services")
    out = {}
    for name, k in res.service_requests.items():
        out[f"services.{name}.requests"] = float(k)
        out[f"services.{name}.units"] = float(res.service_units[name])
    return out


def replication_values(patients: pd.DataFrame) -> dict[str, float]:
    """Every outcome of one replication, flattened, plus calibration model values."""
    from sim.analysis.summary import outcomes
    from sim.analysis.targets import model_values

    fits: dict[str, Any] = {}  # survival per primary, fitted once for both
    vals = flatten(outcomes(patients, fits))
    vals.update({f"calibration.{k}": float(v) for k, v in model_values(patients, fits).items()})
    return vals


# ----------------------------------------------------------------------------- running


def check_count(n: Any, flag: str = "--replications") -> None:
    """ValueError naming ``flag`` when ``n`` replications exceed MAX_REPLICATIONS."""
    if isinstance(n, int) and n > MAX_REPLICATIONS:
        raise ValueError(
            f"{flag} {n}: at most {MAX_REPLICATIONS:,} replications in one run (each keeps its row of outcomes "
            f"in memory); give {MAX_REPLICATIONS:,} or fewer, or split the work over several seeds"
        )


@dataclass
class Replications:
    """What a set of replications produced."""

    table: pd.DataFrame  # one row per replication
    first: RunResult  # the first replication (its tables are the folder's patients/events)
    requested: int | str
    n_solution: int | None = None  # auto: the number the algorithm chose (None: cap reached first)
    precision: float | None = None
    cap: int | None = None
    wall_seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)
    # simulation time of each replication, in the order of the table's rows; kept out of
    # the table so that the same scenario and seed give the same replications.parquet
    seconds: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.table)

    @property
    def simulate_seconds(self) -> float:
        """Simulation time summed over the replications (timing.json)."""
        return float(sum(self.seconds))


def _max_relative_half_width(table: pd.DataFrame, cols: list[str]) -> float:
    worst = 0.0
    for c in cols:
        if c not in table:
            continue
        ci = t_ci(table[c].to_numpy())
        if ci["n"] == 0:
            continue  # not estimable in any replication (e.g. beyond the follow-up): no precision to reach
        r = ci["relative_half_width"]
        if r is None:
            return math.inf
        worst = max(worst, r)
    return worst


class Tally:
    """The rows of a set of replications as they come, with the stopping rule
    of ``auto`` (Hoad, Robinson & Davies 2010: stop once the largest relative
    CI half-width has stayed within ``precision`` for the look-ahead).  The
    serial and the parallel runners feed it one replication at a time, in
    order, so both stop at the same replication."""

    def __init__(
        self,
        replications: int | str,
        precision: float = DEFAULT_PRECISION,
        cap: int = DEFAULT_CAP,
        outcomes: list[str] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.t0 = time.perf_counter()
        self.auto = replications == "auto"
        if not self.auto and (not isinstance(replications, int) or replications < 1):
            raise ValueError("replications must be a positive integer or 'auto'")
        if self.auto and cap < INITIAL:
            raise ValueError(f"the cap must be at least {INITIAL} replications")
        check_count(cap if self.auto else replications, "--max-replications" if self.auto else "--replications")
        self.requested, self.precision, self.cap = replications, precision, cap
        self.target = cap if self.auto else int(replications)
        self.watch = list(outcomes or AUTO_OUTCOMES)
        self.progress = progress
        self.rows: list[dict[str, float]] = []
        self.seconds: list[float] = []
        self.n_sol: int | None = None
        self.rel_history: list[float] = []

    @property
    def n(self) -> int:
        return len(self.rows)

    def add(self, row: dict[str, float]) -> bool:
        """Record the next replication's row; True when the run stops here.
        Its ``wall_seconds`` (the time it took) goes to the timing, not the table."""
        row = dict(row)
        self.seconds.append(float(row.pop("wall_seconds", 0.0)))
        self.rows.append(row)
        n = len(self.rows)
        if self.progress is not None:
            self.progress(n, self.target)
        if self.auto and n >= INITIAL:
            rel = _max_relative_half_width(pd.DataFrame(self.rows), self.watch)
            self.rel_history.append(rel)
            if rel > self.precision:
                self.n_sol = None
                return False
            if self.n_sol is None:
                self.n_sol = n
            return n >= self.n_sol + look_ahead(self.n_sol)
        return False

    def result(self, first: RunResult | None) -> Replications:
        """The table and what the rule decided (``first``: the first replication's run)."""
        n = len(self.rows)
        if self.progress is not None and n < self.target:
            self.progress(self.target, self.target)  # auto stopped before its cap: complete the bar
        table = pd.DataFrame(self.rows)
        table["replication"] = table["replication"].astype(np.int64)
        table["patients"] = table["patients"].astype(np.int64)
        assert first is not None
        n_sol = self.n_sol
        converged = (n_sol is not None and n >= n_sol + look_ahead(n_sol)) if self.auto else None
        return Replications(
            table=table,
            first=first,
            requested=self.requested,
            n_solution=n_sol if converged else None,
            precision=self.precision if self.auto else None,
            cap=self.cap if self.auto else None,
            wall_seconds=time.perf_counter() - self.t0,
            notes={"converged": converged, "outcomes": self.watch, "max_relative_half_width": self.rel_history},
            seconds=list(self.seconds),
        )


# ----------------------------------------------------------------------------- the summary


def across(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Mean and t-based 95% CI of every outcome column across replications."""
    skip = {"replication", "patients", "wall_seconds"}  # wall_seconds: tables written before it moved to timing.json
    return {c: t_ci(table[c].to_numpy()) for c in table.columns if c not in skip}


def _merge(node: Any, stats: dict[str, dict[str, Any]], prefix: str, r: int) -> Any:
    """Replace the single-run numbers of an outcomes document with across-replication means and t CIs."""
    if isinstance(node, dict):
        if "estimate" in node and "ci95" in node:
            st = stats.get(f"{prefix}.estimate")
            out = dict(node)
            if st is not None and prefix.startswith("survival.") and st["n"] < r:
                # not estimable in some replications (beyond their follow-up, or a median not
                # reached): no mean of the others, which would be biased
                word = "not reached" if "median" in prefix else "not estimable"
                out.update(estimate=None, ci95=[None, None], ci_method=f"t across {r} replications")
                out["reason"] = (node.get("reason") or word) if st["n"] == 0 else f"{word} in {r - st['n']} of {r} replications"
            elif st is not None:
                if st["mean"] is not None:
                    out.pop("reason", None)
                out["estimate"] = st["mean"]
                out["ci95"] = st["ci95"]
                out["sd_between_replications"] = st["sd"]
                out["ci_method"] = f"t across {r} replications"
            if "n" in node and f"{prefix}.n" in stats:
                out["n"] = stats[f"{prefix}.n"]["mean"]
            return out
        return {k: _merge(v, stats, f"{prefix}.{k}" if prefix else str(k), r) for k, v in node.items()}
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        st = stats.get(prefix)
        return st["mean"] if st is not None else node
    return node


def replicated_summary(doc: dict[str, Any], reps: Replications) -> dict[str, Any]:
    """summary.json for R > 1: outcomes as means with t-based CIs across replications,
    calibration model values as means, and a ``replications`` section."""
    stats = across(reps.table)
    r = reps.count
    out = dict(doc)
    out["outcomes"] = _merge(doc["outcomes"], stats, "", r)
    cal = []
    for row in doc.get("calibration", []):
        row = dict(row)
        cal.append(row)
    keys = [c[len("calibration.") :] for c in reps.table.columns if c.startswith("calibration.")]
    if len(keys) == len(cal):
        for row, k in zip(cal, keys, strict=False):
            st = stats[f"calibration.{k}"]
            row["model"] = st["mean"]
            row["model_ci95"] = st["ci95"]
            if st["mean"] is not None and row.get("range_low") is not None and row.get("range_high") is not None:
                row["within_range"] = bool(row["range_low"] <= st["mean"] <= row["range_high"])
    out["calibration"] = cal
    if isinstance(doc.get("services"), dict):
        out["services"] = _merge(doc["services"], stats, "services", r)
    out["replication"] = int(reps.table["replication"].iloc[0])
    out["replications"] = {
        "count": r,
        "indices": [int(x) for x in reps.table["replication"]],
        "requested": reps.requested,
        "method": "independent replications: run.replication = index, same root seed; Student-t 95% CI across replications",
        "algorithm": ALGORITHM if reps.requested == "auto" else None,
        "precision": reps.precision,
        "cap": reps.cap,
        "n_solution": reps.n_solution,
        "converged": reps.notes.get("converged"),
        "auto_outcomes": reps.notes.get("outcomes") if reps.requested == "auto" else None,
        "tables": "patients and events files hold the first replication; replications.parquet holds every replication's outcomes",
        "outcomes": {k: _json_safe(v) for k, v in stats.items()},
    }
    return _json_safe(out)


def _json_safe(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, np.floating):
        return _json_safe(float(x))
    if isinstance(x, np.integer):
        return int(x)
    return x


# ----------------------------------------------------------------------------- the results folder
