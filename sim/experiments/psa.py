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

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.analysis.kaplan_meier import known_until as km_known_until
from sim.analysis.kaplan_meier import product_limit as km
from sim.analysis.kaplan_meier import steps_at as km_at
from sim.analysis.kaplan_meier import steps_median as km_median
from sim.analysis.outcomes import psa_labels
from sim.scenario.fields import ILLUSTRATIVE
from sim.scenario.model import Scenario
from sim.scenario.uncertainty import (
    HIGH_Q,
    LOW_Q,
    Distribution,
    bounds,
    full_yaml,
    keep_uncertainty,
    resolve,
    spread_mix,
    uncertainty_dump,
)

PSA_STREAM = 0x50534131  # "PSA1": the parameter draws' stream, apart from every patient stream
CHECKPOINT = ".checkpoint"
MANIFEST = "manifest.json"
LUCK = ("common", "per-draw")
DEFAULT_WTP_MAX = 100_000.0
# the most draws one PSA takes: each finished draw is a checkpoint file (about 9 KB) read back at the
# end, about 10 KB of memory per draw and scenario, so 100,000 draws take about 1 GB at the end
MAX_DRAWS = 100_000

# outcome column -> label (per patient unless a proportion; sim.analysis.outcomes)
OUTCOMES: dict[str, str] = psa_labels()


class PsaError(ValueError):
    """Bad PSA input (draws, outcome, folder); the commands turn it into exit 2."""


# ----------------------------------------------------------------------------- draws


def uniforms(seed: int, draw: int, path: str, k: int = 1) -> np.ndarray:
    """``k`` uniforms of parameter ``path`` in draw ``draw`` (its own Philox stream)."""
    ss = np.random.SeedSequence([seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, PSA_STREAM, int(draw), zlib.crc32(path.encode())])
    return np.random.Generator(np.random.Philox(ss)).random(k)


def value_at(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        node = node[part]
    return node


def _range(path: str) -> tuple[float | None, float | None]:
    _, info, sub = resolve(path)
    return (0.0, 1.0) if sub is not None else bounds(info)


def draw_matrix(
    data: dict[str, Any], uncertainty: dict[str, Distribution], draws: list[int] | range, seed: int
) -> dict[str, np.ndarray]:
    """The drawn values of every uncertain parameter (a mix: each share) for many draws at once:
    column (dotted path) -> one value per draw.  Each draw's uniforms come from its own stream."""
    out: dict[str, np.ndarray] = {}
    draws = list(draws)
    for path, spec in uncertainty.items():
        if spec.distribution == "dirichlet":
            shares = {k: float(v) for k, v in value_at(data, path).items()}
            u = np.array([uniforms(seed, d, path, len(shares)) for d in draws]).reshape(len(draws), len(shares))
            mix = spec.sample_mixes(u, shares)
            out.update({f"{path}.{k}": mix[:, j] for j, k in enumerate(shares)})
        else:
            lo, hi = _range(path)
            u = np.array([uniforms(seed, d, path)[0] for d in draws], dtype=float)
            out[path] = spec.quantile(u, lo, hi)
    return out


def draw_values(data: dict[str, Any], uncertainty: dict[str, Distribution], draw: int, seed: int) -> dict[str, float]:
    """The drawn value of every uncertain parameter in one draw, as dotted-path overrides."""
    return {k: float(v[0]) for k, v in draw_matrix(data, uncertainty, [draw], seed).items()}


def parameter_paths(data: dict[str, Any], uncertainty: dict[str, Distribution]) -> list[str]:
    """The columns of the drawn parameters (a mix expands to its shares)."""
    cols: list[str] = []
    for path, spec in uncertainty.items():
        if spec.distribution == "dirichlet":
            cols += [f"{path}.{k}" for k in value_at(data, path)]
        else:
            cols.append(path)
    return cols


def draws_table(scenario: Scenario, draws: int, seed: int | None = None, first: int = 0) -> pd.DataFrame:
    """The parameter draws alone (one row per draw), without running anything."""
    data = scenario.model_dump(mode="json")
    s = scenario.run.seed if seed is None else seed
    idx = range(first, first + draws)
    return pd.DataFrame({"draw": np.arange(first, first + draws), **draw_matrix(data, scenario.uncertainty, idx, s)})


# ----------------------------------------------------------------------------- outcomes of one run


def _discounted_years(months: np.ndarray, rate: float) -> np.ndarray:
    """Integral from 0 to ``months`` of the yearly discount factor (1 + rate)^-year, in years."""
    x = np.asarray(months, dtype=float) / 12.0
    if rate == 0:
        return x
    v = 1.0 / (1.0 + rate)
    y = np.floor(x)
    return (1.0 - v**y) / (1.0 - v) + (x - y) * v**y


def qalys(patients: pd.DataFrame, utilities: Any) -> np.ndarray:
    """Discounted QALYs per patient: the lowest weight of the states entered so
    far, integrated over follow-up, minus one-off losses per SRE and per
    hypercalcemia episode (discounted at the time of the first of each)."""
    n = len(patients)
    if n == 0:
        return np.zeros(0)
    end = patients["followup_months"].to_numpy(dtype=float)
    inf = np.inf
    t_sre = np.nan_to_num(patients["first_sre_months"].to_numpy(dtype=float), nan=inf)
    t_carc = np.nan_to_num(patients["carcinosis_onset_months"].to_numpy(dtype=float), nan=inf)
    t_cord = np.nan_to_num(patients["cord_compression_months"].to_numpy(dtype=float), nan=inf)
    t_para = np.where(patients["paralysis"].to_numpy(dtype=bool), t_cord, inf)
    times = np.column_stack([np.zeros(n), t_sre, t_carc, t_para])
    weights = np.array([utilities.bone_metastasis, utilities.after_sre, utilities.carcinosis, utilities.paralysis])
    order = np.argsort(times, axis=1, kind="mergesort")
    ts = np.take_along_axis(times, order, axis=1)
    ws = np.minimum.accumulate(weights[order], axis=1)
    starts = np.minimum(ts, end[:, None])
    ends = np.minimum(np.column_stack([ts[:, 1:], np.full(n, inf)]), end[:, None])
    r = utilities.discount_rate_per_year
    span = _discounted_years(ends, r) - _discounted_years(starts, r)
    q = (ws * np.clip(span, 0.0, None)).sum(axis=1)
    disc = lambda t: (1.0 + r) ** -np.floor(np.where(np.isfinite(t), t, 0.0) / 12.0)  # noqa: E731
    q -= utilities.sre_loss_qalys * patients["n_sre"].to_numpy(dtype=float) * disc(t_sre)
    t_hc = patients["hypercalcemia_months"].to_numpy(dtype=float)
    q -= utilities.hypercalcemia_loss_qalys * patients["n_hypercalcemia"].to_numpy(dtype=float) * disc(t_hc)
    return q


def outcomes_of(patients: pd.DataFrame, services: pd.DataFrame, scenario: Scenario) -> dict[str, float]:
    """The PSA outcomes of one run (fast: no confidence intervals)."""
    n = len(patients)
    nn = max(n, 1)
    t = patients["followup_months"].to_numpy(dtype=float)
    e = ~patients["censored"].to_numpy(dtype=bool)
    kt, ks = km(t, e)
    out = {
        "carcinosis_proportion": float(patients["carcinosis_onset_months"].notna().sum() / nn),
        "hypercalcemia_proportion": float(patients["hypercalcemia_months"].notna().sum() / nn),
        "sre_any_proportion": float((patients["n_sre"] > 0).sum() / nn),
        "sre_per_patient": float(patients["n_sre"].sum() / nn),
        "median_survival_months": km_median(kt, ks),
        "alive_12_months": km_at(kt, ks, 12.0, km_known_until(t, e)),
        "life_years": float(t.sum() / 12.0 / nn),
        "radiotherapy_courses_per_patient": float(patients["n_radiotherapy_courses"].sum() / nn),
        "rbc_units_per_patient": float(patients["n_rbc_units"].sum() / nn),
        "bed_days_per_patient": float(patients["bed_days"].sum() / nn),
        "cost_per_patient": float(services["cost_discounted"].sum() / nn) if len(services) else 0.0,
    }
    if scenario.utilities is not None:
        out["qalys_per_patient"] = float(qalys(patients, scenario.utilities).sum() / nn)
    return out


def _scenario(data: dict[str, Any], overrides: dict[str, Any]) -> Scenario:
    from sim.scenario.loader import apply_overrides, validate

    return validate(apply_overrides(data, overrides), "draw")


def run_task(spec: dict[str, Any]) -> list[dict[str, float]]:
    """One draw (or one OWSA setting): each arm's scenario with its overrides, simulated; its outcomes."""
    from sim.engine.simulate import simulate

    out = []
    for data, overrides in spec["arms"]:
        # a draw reports outcomes only: no blood-count trajectories are kept (they do not change the course)
        s = _scenario(data, {**overrides, "labs.keep_patients": 0})
        res = simulate(s, keep_events=False)
        out.append(outcomes_of(res.patients, res.services, s))
    return out


# ----------------------------------------------------------------------------- the PSA


@dataclass
class PsaResult:
    """What a PSA produced: one row per draw (and scenario), the summary, the folder."""

    table: pd.DataFrame
    summary: dict[str, Any]
    folder: Path | None = None
    figures: dict[str, Any] = field(default_factory=dict)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    return out


@dataclass
class _Plan:
    arms: list[Scenario]
    names: list[str]
    data: list[dict[str, Any]]
    columns: list[str]  # parameter paths (union over arms)
    seed: int
    patients: int
    luck: str
    base_replication: int

    cache: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    drawn: int = 0

    def prepare(self, draws: int) -> None:
        """Draw every parameter of draws 0 .. draws-1 at once (vectorised)."""
        self.drawn = draws
        self.cache = {a: draw_matrix(self.data[a], s.uncertainty, range(draws), self.seed) for a, s in enumerate(self.arms)}

    def overrides(self, arm: int, draw: int) -> dict[str, Any]:
        s = self.arms[arm]
        if draw < self.drawn:
            o: dict[str, Any] = {k: float(v[draw]) for k, v in self.cache[arm].items()}
        else:
            o = draw_values(self.data[arm], s.uncertainty, draw, self.seed)
        o["run.replication"] = self.base_replication + (draw if self.luck == "per-draw" else 0)
        return o

    def spec(self, draw: int) -> dict[str, Any]:
        return {"draw": draw, "arms": [(self.data[a], self.overrides(a, draw)) for a in range(len(self.arms))]}

    def rows(self, draw: int, results: list[dict[str, float]]) -> list[dict[str, Any]]:
        out = []
        for a, res in enumerate(results):
            o = self.overrides(a, draw)
            row: dict[str, Any] = {"draw": draw, "scenario": self.names[a]}
            for c in self.columns:
                row[f"param.{c}"] = float(o[c]) if c in o else float(value_at(self.data[a], c))
            for k in OUTCOMES:
                if k in res:
                    row[k] = float(res[k])
            out.append(row)
        return out

    def identity(self) -> dict[str, Any]:
        from sim import __version__
        from sim.scenario.loader import scenario_sha256

        return {
            "kind": "psa",
            "scenarios": self.names,
            "scenario_sha256": [scenario_sha256(s) for s in self.arms],
            "uncertainty": [uncertainty_dump(s) for s in self.arms],
            "seed": self.seed,
            "patients": self.patients,
            "luck": self.luck,
            "model_version": __version__,
        }


def plan(scenario: Scenario, comparator: Scenario | None, patients: int | None, seed: int | None, luck: str) -> _Plan:
    from sim.scenario.loader import with_overrides

    if luck not in LUCK:
        raise PsaError(f"luck {luck!r}: use one of {', '.join(LUCK)}")
    s0 = scenario.run.seed if seed is None else seed
    n = scenario.run.patients if patients is None else patients
    if n < 1:
        raise PsaError(f"--patients {n}: give 1 or more patients per draw")
    arms = [scenario] + ([comparator] if comparator is not None else [])
    for s in arms:
        if s.mode != "cohort":
            raise PsaError(f"scenario {s.name!r} is in population mode; psa and owsa run cohorts (mode: cohort)")
    arms = [
        keep_uncertainty(with_overrides(s, {"run.patients": n, "run.seed": s0, "run.replication": scenario.run.replication}), s)
        for s in arms
    ]
    data = [s.model_dump(mode="json") for s in arms]
    cols: list[str] = []
    for s, d in zip(arms, data, strict=True):
        for c in parameter_paths(d, s.uncertainty):
            if c not in cols:
                cols.append(c)
    return _Plan(arms, _unique([s.name for s in arms]), data, cols, s0, n, luck, scenario.run.replication)


def check_draws(draws: Any) -> None:
    """PsaError unless ``draws`` is a whole number from 1 to MAX_DRAWS."""
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise PsaError(f"--draws {draws}: give 1 or more draws")
    if draws > MAX_DRAWS:
        raise PsaError(
            f"--draws {draws}: at most {MAX_DRAWS:,} draws in one PSA (each is checkpointed and read back "
            f"into memory); give {MAX_DRAWS:,} or fewer"
        )


def _check_draws(p: _Plan, todo: Iterable[int]) -> None:
    """Every draw's parameter set must be a valid scenario (cross-field rules)."""
    from sim.scenario.loader import ScenarioError

    for d in todo:
        for a in range(len(p.arms)):
            try:
                _scenario(p.data[a], p.overrides(a, d))
            except ScenarioError as exc:
                raise ScenarioError(
                    exc.problems,
                    f"draw {d} of {p.names[a]!r} is not a valid scenario (narrow the distributions of uncertainty: "
                    "so that every draw keeps these rules; nothing was written)",
                ) from None


class _Checkpoint:
    """One small Parquet file per finished draw under DIR/.checkpoint."""

    def __init__(self, folder: Path):
        self.dir = folder / CHECKPOINT
        self.made: list[Path] = []  # folders created by start(), removed again if no draw is finished

    def path(self, draw: int) -> Path:
        return self.dir / f"draw-{draw:06d}.parquet"

    def done(self) -> set[int]:
        if not self.dir.is_dir():
            return set()
        out = set()
        for f in self.dir.glob("draw-*.parquet"):
            try:
                draw = int(f.stem.split("-")[1])
            except ValueError:
                continue
            try:
                pq.read_metadata(f)  # a file cut short (a crash of the machine before it reached the disk) is not a draw
            except pa.ArrowInvalid:
                f.unlink(missing_ok=True)  # computed again
                continue
            out.add(draw)
        return out

    def start(self, identity: dict[str, Any]) -> None:
        """Create the checkpoint folder and its manifest (whole or not at all); on
        failure nothing this call created is left."""
        from sim.oserrors import write_text

        self.made = [f for f in (self.dir.parent, self.dir) if not f.exists()]
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            write_text(self.dir / MANIFEST, json.dumps(identity, indent=2) + "\n")
        except BaseException as exc:
            self.unmake(manifest=False)
            if isinstance(exc, OSError):
                exc.add_note("nothing was kept")
            raise

    def unmake(self, manifest: bool = True) -> None:
        """Remove the folders :meth:`start` created (with its manifest and the
        folder's results marker), while no draw is in them."""
        from sim.outputs.folder import MARKER

        if manifest and self.made:
            (self.dir / MANIFEST).unlink(missing_ok=True)
        if self.dir.parent in self.made:
            (self.dir.parent / MARKER).unlink(missing_ok=True)
        for f in reversed(self.made):
            with contextlib.suppress(OSError):
                f.rmdir()  # only if empty
        self.made = []

    def write(self, draw: int, rows: list[dict[str, Any]]) -> None:
        tmp = self.dir / f".draw-{draw:06d}.{os.getpid()}.tmp"
        try:
            pq.write_table(pa.Table.from_pylist(rows), tmp)
            os.replace(tmp, self.path(draw))  # atomic: a draw is either complete or absent
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                if exc.filename in (None, "", str(tmp)):
                    exc.filename = str(self.path(draw))
                exc.add_note(self.kept())
            raise

    def kept(self) -> str:
        """What a failed run leaves, for the message (a new folder with no finished draw is removed)."""
        n = len(self.done())
        if n == 0 and self.made:
            self.unmake()
            return "no draw was finished; nothing was kept"
        return (
            f"{n} finished draw{'s are' if n != 1 else ' is'} checkpointed in {self.dir.parent}; "
            "once the cause is fixed, continue with the same command and --resume"
        )

    def read(self, draws: int) -> pd.DataFrame:
        frames = [pq.read_table(self.path(d)).to_pandas() for d in range(draws)]
        return pd.concat(frames, ignore_index=True)

    def clean_partial(self) -> None:
        for f in self.dir.glob(".draw-*.tmp"):
            f.unlink(missing_ok=True)


def _prepare_folder(out: Path, identity: dict[str, Any], resume: bool, force: bool) -> _Checkpoint:
    """Claim and prepare the PSA folder ``out``: new, continued (``resume``) or
    started again (``force``, only over a folder that holds a PSA or other
    results of this program and nothing else).  The claim (a second run to
    the same folder is refused) is held while the returned checkpoint is in
    use, and ends with the process at the latest."""
    import weakref

    from sim.outputs.folder import OutputError, claim, real_target

    label = f"--out {out}"
    real = real_target(out, label)
    held = claim(real, label)
    try:
        ck = _Checkpoint(out)
        _prepare(out, real, ck, identity, resume, force, label)
    except OSError as exc:
        held.release()
        raise OutputError(
            f"{label}: {exc.strerror or exc} ({exc.filename or out}); choose a writable place with free space"
        ) from None
    except BaseException:
        held.release()
        raise
    weakref.finalize(ck, held.release)
    return ck


def _prepare(out: Path, real: Path, ck: _Checkpoint, identity: dict[str, Any], resume: bool, force: bool, label: str) -> None:
    from sim.outputs.folder import OutputError, check_lengths, check_replaceable, clean_stale, refuse_protected, write_marker

    manifest = ck.dir / MANIFEST
    check_lengths(real / CHECKPOINT / MANIFEST, label)
    if os.path.lexists(real) and not real.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder path")
    refuse_protected(out)
    parent = real.parent
    if not parent.is_dir():
        raise OutputError(f"--out {out}: parent folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out}: cannot write in {parent}; choose a writable place")
    clean_stale(parent)
    non_empty = real.is_dir() and any(real.iterdir())
    if non_empty and resume:
        if not manifest.is_file():
            raise OutputError(
                f"--resume: {out} holds no PSA checkpoint ({CHECKPOINT}/{MANIFEST}); give the folder of an interrupted psa run"
            )
        try:
            old = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise OutputError(f"--resume: {manifest} cannot be read; start again with --force") from None
        diff = [k for k in identity if old.get(k) != identity[k]]
        if diff:
            shown = ", ".join(f"{k} {old.get(k)!r} there, {identity[k]!r} here" for k in diff)
            raise OutputError(
                f"--resume: {out} holds a PSA of another set-up ({shown}); nothing was changed. "
                "Give the same scenario(s), seed, patients and luck, or a new --out folder"
            )
        ck.clean_partial()
        return
    if non_empty and not force:
        raise OutputError(
            f"--out {out} exists and is not empty; add --resume to continue a PSA there, --force to replace it, or choose a new folder"
        )
    if non_empty and force:  # only this program's results are replaced: --force never removes other files
        check_replaceable(real, label, f"a PSA ({CHECKPOINT}/{MANIFEST}) or other results of this program")
        shutil.rmtree(real)
    ck.start(identity)  # the folder, its checkpoint folder and manifest: whole or not at all
    try:
        write_marker(real, "psa", [])
    except BaseException:
        ck.unmake()
        raise


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

    check_draws(draws)
    if isinstance(wtp_max, bool) or not isinstance(wtp_max, (int, float)) or not (math.isfinite(wtp_max) and wtp_max > 0):
        raise PsaError(f"--wtp-max {wtp_max}: give a positive, finite amount per QALY")
    t0 = time.perf_counter()
    p = plan(scenario, comparator, patients, seed, luck)
    p.prepare(draws)
    _check_draws(p, range(draws))  # before the folder is touched: an invalid draw leaves nothing behind
    ck: _Checkpoint | None = None
    if out is not None:
        out = Path(out)
        if scheduler:
            parallel.connect(scheduler).close()  # fail fast, before the folder is touched
        ck = _prepare_folder(out, p.identity(), resume, force)
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
# summarised only when every draw has them, never as the mean of the draws that do
FOLLOW_UP_OUTCOMES = {"alive_12_months": 12.0}


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


def summarise(table: pd.DataFrame, p: _Plan, wtp_max: float = DEFAULT_WTP_MAX) -> dict[str, Any]:
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
                lo, hi = _range(path)
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


def _write_folder(out: Path, r: PsaResult, p: _Plan, figures: bool) -> None:
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


def _write_files(out: Path, r: PsaResult, p: _Plan, figures: bool) -> None:
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


# ----------------------------------------------------------------------------- one-way


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
            lo_b, hi_b = _range(path)
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
    from sim.outputs.folder import staged_output, write_json
    from sim.runtime import parallel

    name = choose_outcome(outcome, scenario)
    if scheduler:
        parallel.connect(scheduler).close()
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
