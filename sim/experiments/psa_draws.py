"""The parameter draws of a sensitivity analysis and the outcomes of one run.

Shared by the probabilistic (:mod:`sim.experiments.psa`) and one-way
(:mod:`sim.experiments.owsa`) analyses:

- the **draws**: draw *d* of parameter *p* comes from its own random stream,
  a NumPy ``Generator(Philox)`` seeded by (seed, PSA stream, d, p)
  (:func:`uniforms`), turned into values by the parameter's distribution
  (:func:`draw_matrix`, :func:`draw_values`, :func:`draws_table`);
- the **outcomes of one run** (:func:`outcomes_of`, with discounted QALYs by
  :func:`qalys`) and the task a worker runs for one draw or one OWSA
  setting (:func:`run_task`);
- the **plan** of an analysis (:class:`Plan`, :func:`plan`): its arms (the
  scenario and an optional comparator), the parameter columns, the seed, the
  patients per run and the luck, and each draw's overrides.

Parameters are illustrative, not clinically validated.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.kaplan_meier import known_until as km_known_until
from sim.analysis.kaplan_meier import product_limit as km
from sim.analysis.kaplan_meier import steps_at as km_at
from sim.analysis.kaplan_meier import steps_median as km_median
from sim.analysis.outcomes import psa_labels
from sim.scenario.model import Scenario
from sim.scenario.uncertainty import Distribution, bounds, keep_uncertainty, resolve, uncertainty_dump

PSA_STREAM = 0x50534131  # "PSA1": the parameter draws' stream, apart from every patient stream
LUCK = ("common", "per-draw")

# outcome column -> label (per patient unless a proportion; sim.analysis.outcomes)
OUTCOMES: dict[str, str] = psa_labels()

# outcomes that are not estimable in a draw whose follow-up is too short (NaN in the table):
# summarised only when every draw has them, never as the mean of the draws that do
FOLLOW_UP_OUTCOMES = {"alive_12_months": 12.0}


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


def value_range(path: str) -> tuple[float | None, float | None]:
    """The bounds of parameter ``path`` (a share of a mix: 0 to 1)."""
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
            lo, hi = value_range(path)
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


def draw_scenario(data: dict[str, Any], overrides: dict[str, Any]) -> Scenario:
    """The scenario ``data`` with a draw's (or an OWSA setting's) ``overrides``, validated."""
    from sim.scenario.loader import apply_overrides, validate

    return validate(apply_overrides(data, overrides), "draw")


def run_task(spec: dict[str, Any]) -> list[dict[str, float]]:
    """One draw (or one OWSA setting): each arm's scenario with its overrides, simulated; its outcomes."""
    from sim.engine.simulate import simulate

    out = []
    for data, overrides in spec["arms"]:
        # a draw reports outcomes only: no blood-count trajectories are kept (they do not change the course)
        s = draw_scenario(data, {**overrides, "labs.keep_patients": 0})
        res = simulate(s, keep_events=False)
        out.append(outcomes_of(res.patients, res.services, s))
    return out


# ----------------------------------------------------------------------------- the plan


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    return out


@dataclass
class Plan:
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


def plan(scenario: Scenario, comparator: Scenario | None, patients: int | None, seed: int | None, luck: str) -> Plan:
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
    return Plan(arms, _unique([s.name for s in arms]), data, cols, s0, n, luck, scenario.run.replication)
