"""Declarations of parameter uncertainty, below the scenario model: the
:class:`Distribution` of one parameter, the utility weights, and the checks
of an ``uncertainty:`` mapping against a scenario model given as ``root``
(so this module never imports :mod:`sim.scenario.model`, which uses it).
:mod:`sim.scenario.uncertainty` binds them to :class:`~sim.scenario.model.Scenario`.

Parameters are illustrative, not clinically validated.
"""

from __future__ import annotations

import difflib
import math
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from sim.scenario.fields import ASSUMED, Section, bounds, is_mix, par, section_model

DISTRIBUTIONS = ("beta", "gamma", "lognormal", "uniform", "triangular", "dirichlet")

# the parameters each distribution takes, as alternative forms
FORMS: dict[str, tuple[tuple[str, ...], ...]] = {
    "beta": (("alpha", "beta"), ("mean", "sd")),
    "gamma": (("shape", "scale"), ("mean", "sd")),
    "lognormal": (("median", "sd_log"), ("low", "high")),
    "uniform": (("low", "high"),),
    "triangular": (("low", "mode", "high"),),
    "dirichlet": (("alpha",), ("concentration",)),
}
Z975 = 1.959963984540054
LOW_Q, HIGH_Q = 0.025, 0.975


def _forms_text(dist: str) -> str:
    return "; or ".join(" and ".join(f) for f in FORMS[dist])


class Distribution(BaseModel):
    """One parameter's uncertainty: a distribution and its source."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    distribution: Literal["beta", "gamma", "lognormal", "uniform", "triangular", "dirichlet"] = Field(
        description="beta (probabilities, shares), gamma or lognormal (rates, times, hazard ratios, costs), "
        "uniform, triangular, or dirichlet (a mix section)"
    )
    source: str = Field(min_length=1, max_length=500, description="Where the distribution comes from")
    alpha: float | dict[str, float] | None = Field(None, description="beta: alpha; dirichlet: one positive number per share")
    beta: float | None = Field(None, description="beta: beta")
    mean: float | None = Field(None, description="beta or gamma: mean")
    sd: float | None = Field(None, description="beta or gamma: standard deviation (0: a point mass)")
    shape: float | None = Field(None, description="gamma: shape (> 0)")
    scale: float | None = Field(None, description="gamma: scale (> 0)")
    median: float | None = Field(None, description="lognormal: median (> 0)")
    sd_log: float | None = Field(None, description="lognormal: standard deviation of the log (>= 0)")
    low: float | None = Field(None, description="uniform, triangular: lowest value; lognormal: 2.5th percentile")
    high: float | None = Field(None, description="uniform, triangular: highest value; lognormal: 97.5th percentile")
    mode: float | None = Field(None, description="triangular: most likely value")
    concentration: float | None = Field(None, description="dirichlet: alpha = concentration x the scenario's shares")

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("give a mapping such as {distribution: beta, mean: 0.09, sd: 0.005, source: ...}")
        dist = data.get("distribution")
        if dist is None:
            raise ValueError(f"no distribution given; add distribution: one of {', '.join(DISTRIBUTIONS)}")
        if dist not in DISTRIBUTIONS:
            close = difflib.get_close_matches(str(dist), DISTRIBUTIONS, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"distribution {dist!r} is not known; {hint}use one of {', '.join(DISTRIBUTIONS)}")
        if not data.get("source"):
            raise ValueError(f"a {dist} distribution needs a source (where it comes from, or 'assumed')")
        allowed = {k for form in FORMS[dist] for k in form} | {"distribution", "source"}
        data = {k: v for k, v in data.items() if v is not None}
        for k in data:
            if k not in allowed:
                raise ValueError(f"{k!r} is not a parameter of a {dist} distribution; give {_forms_text(dist)}")
        given = {k for k in data if k not in ("distribution", "source")}
        if not any(given == set(form) for form in FORMS[dist]):
            raise ValueError(f"a {dist} distribution needs {_forms_text(dist)}; given: {', '.join(sorted(given)) or 'none'}")
        return data

    @model_validator(mode="after")
    def _values(self) -> Distribution:
        d = self.distribution
        bad: str | None = None
        if d == "beta":
            if self.mean is not None:
                assert self.sd is not None
                if not 0 < self.mean < 1:
                    bad = f"a beta mean must be between 0 and 1, not {self.mean}"
                elif self.sd < 0:
                    bad = f"sd must be 0 or more, not {self.sd}"
                elif self.sd**2 >= self.mean * (1 - self.mean):
                    bad = f"sd {self.sd} is too large for a beta with mean {self.mean}; it must be below {math.sqrt(self.mean * (1 - self.mean)):.4g}"
            else:
                if not isinstance(self.alpha, (int, float)) or self.alpha <= 0 or self.beta is None or self.beta <= 0:
                    bad = f"beta alpha and beta must be positive numbers, not {self.alpha} and {self.beta}"
        elif d == "gamma":
            if self.mean is not None:
                assert self.sd is not None
                if self.mean <= 0:
                    bad = f"a gamma mean must be positive, not {self.mean}"
                elif self.sd < 0:
                    bad = f"sd must be 0 or more, not {self.sd}"
            else:
                assert self.shape is not None and self.scale is not None
                if self.shape <= 0:
                    bad = f"a gamma shape must be positive, not {self.shape}"
                elif self.scale <= 0:
                    bad = f"a gamma scale must be positive, not {self.scale}"
        elif d == "lognormal":
            if self.median is not None:
                assert self.sd_log is not None
                if self.median <= 0:
                    bad = f"a lognormal median must be positive, not {self.median}"
                elif self.sd_log < 0:
                    bad = f"sd_log must be 0 or more, not {self.sd_log}"
            else:
                assert self.low is not None and self.high is not None
                if not 0 < self.low <= self.high:
                    bad = f"lognormal low and high (2.5th and 97.5th percentiles) need 0 < low <= high, not {self.low} and {self.high}"
        elif d == "uniform":
            assert self.low is not None and self.high is not None
            if self.low > self.high:
                bad = f"uniform low ({self.low}) is above high ({self.high})"
        elif d == "triangular":
            assert self.low is not None and self.high is not None and self.mode is not None
            if not self.low <= self.mode <= self.high:
                bad = f"triangular needs low <= mode <= high, not {self.low}, {self.mode}, {self.high}"
        elif d == "dirichlet":
            if self.concentration is not None:
                if self.concentration <= 0:
                    bad = f"dirichlet concentration must be positive, not {self.concentration}"
            elif not isinstance(self.alpha, dict) or not self.alpha:
                bad = "dirichlet alpha must be a mapping of each share's name to a positive number"
            elif any(not v > 0 for v in self.alpha.values()):
                bad = "every dirichlet alpha must be positive"
        if bad:
            raise ValueError(bad)
        return self

    # ------------------------------------------------------------------ sampling

    def frozen(self) -> Any:
        """The scipy distribution (None for a point mass or dirichlet)."""
        from scipy import stats

        d = self.distribution
        if d == "beta":
            if self.mean is not None:
                assert self.sd is not None
                if self.sd == 0:
                    return None
                k = self.mean * (1 - self.mean) / self.sd**2 - 1
                return stats.beta(self.mean * k, (1 - self.mean) * k)
            return stats.beta(self.alpha, self.beta)
        if d == "gamma":
            if self.mean is not None:
                assert self.sd is not None
                if self.sd == 0:
                    return None
                return stats.gamma((self.mean / self.sd) ** 2, scale=self.sd**2 / self.mean)
            return stats.gamma(self.shape, scale=self.scale)
        if d == "lognormal":
            if self.median is not None:
                median, s = self.median, self.sd_log
            else:
                assert self.low is not None and self.high is not None
                median, s = math.sqrt(self.low * self.high), math.log(self.high / self.low) / (2 * Z975)
            return None if s == 0 else stats.lognorm(s, scale=median)
        if d == "uniform":
            assert self.low is not None and self.high is not None
            return None if self.low == self.high else stats.uniform(self.low, self.high - self.low)
        if d == "triangular":
            assert self.low is not None and self.high is not None and self.mode is not None
            if self.low == self.high:
                return None
            return stats.triang((self.mode - self.low) / (self.high - self.low), loc=self.low, scale=self.high - self.low)
        return None

    def point(self) -> float:
        """The value of a point mass (a distribution of zero width)."""
        d = self.distribution
        if d in ("beta", "gamma"):
            return float(self.mean)  # type: ignore[arg-type]
        if d == "lognormal":
            return float(self.median if self.median is not None else self.low)  # type: ignore[arg-type]
        return float(self.low)  # type: ignore[arg-type]

    def mean_value(self) -> float:
        """The mean of the (untruncated) distribution."""
        f = self.frozen()
        return self.point() if f is None else float(f.mean())

    def quantile(self, q: Any, lo: float | None = None, hi: float | None = None) -> np.ndarray:
        """Inverse distribution function at ``q``, truncated to [lo, hi]."""
        q = np.asarray(q, dtype=float)
        f = self.frozen()
        if f is None:
            x = np.full(q.shape, self.point())
        else:
            a = float(f.cdf(lo)) if lo is not None else 0.0
            b = float(f.cdf(hi)) if hi is not None else 1.0
            if b <= a:  # all the mass outside the range (refused by validation)
                x = np.full(q.shape, lo if lo is not None else hi, dtype=float)
            else:
                x = np.asarray(f.ppf(a + q * (b - a)), dtype=float)
        if lo is not None or hi is not None:
            x = np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi)
        return x

    def dirichlet_alpha(self, shares: dict[str, float]) -> dict[str, float]:
        if self.concentration is not None:
            return {k: self.concentration * max(float(v), 1e-9) for k, v in shares.items()}
        assert isinstance(self.alpha, dict)
        return {k: float(self.alpha[k]) for k in shares}

    def sample_mixes(self, u: np.ndarray, shares: dict[str, float]) -> np.ndarray:
        """Dirichlet draws, one row of uniforms (one per share) per draw: normalised gamma quantiles."""
        from scipy import stats

        alpha = np.array(list(self.dirichlet_alpha(shares).values()))
        g = np.maximum(np.asarray(stats.gamma.ppf(u, alpha[None, :]), dtype=float), 0.0)
        total = g.sum(axis=1, keepdims=True)
        out = np.where(total > 0, g / np.where(total > 0, total, 1.0), np.array(list(shares.values()))[None, :])
        out[:, -1] = 1.0 - out[:, :-1].sum(axis=1)  # exact sum to 1
        return out

    def mix_low_high(self, shares: dict[str, float], key: str) -> tuple[float, float]:
        """2.5th and 97.5th percentile of one share (its Beta marginal)."""
        from scipy import stats

        alpha = self.dirichlet_alpha(shares)
        a0 = sum(alpha.values())
        m = stats.beta(alpha[key], a0 - alpha[key]) if a0 > alpha[key] else None
        if m is None:
            return shares[key], shares[key]
        return float(m.ppf(LOW_Q)), float(m.ppf(HIGH_Q))

    def describe(self) -> str:
        d = self.distribution
        bits = [f"{k}={getattr(self, k)}" for form in FORMS[d] for k in form if getattr(self, k) is not None]
        return f"{d}({', '.join(bits)})"


def spread_mix(shares: dict[str, float], key: str, value: float) -> dict[str, float]:
    """Set one share of a mix and scale the others so the mix still sums to 1."""
    rest = 1.0 - shares[key]
    out = {}
    for k, v in shares.items():
        if k == key:
            out[k] = value
        else:
            out[k] = (v / rest) * (1.0 - value) if rest > 0 else (1.0 - value) / (len(shares) - 1)
    last = list(out)[-1]
    out[last] = 1.0 - sum(v for k, v in out.items() if k != last)
    return out


# ----------------------------------------------------------------------------- paths


@lru_cache(maxsize=4)
def all_paths(root: Any) -> tuple[str, ...]:
    """Every dotted path of the model ``root`` (its leaves, and its mix sections)."""
    out: list[str] = []

    def walk(model: Any, prefix: str) -> None:
        for name, f in model.model_fields.items():
            path = f"{prefix}.{name}" if prefix else name
            sub = section_model(f.annotation)
            if sub is not None and name != "uncertainty":
                if is_mix(sub):
                    out.append(path)
                walk(sub, path)
            else:
                out.append(path)

    walk(root, "")
    return tuple(out)


def resolve(path: str, root: Any) -> tuple[Any, Any, Any]:
    """(parent model, field info, section model or None) of a dotted path in the model ``root``; KeyError if unknown."""
    model: Any = root
    info = None
    sub: Any = None
    for part in path.split("."):
        if model is None or part not in getattr(model, "model_fields", {}):
            raise KeyError(path)
        parent = model
        info = model.model_fields[part]
        sub = section_model(info.annotation)
        model = sub
    return parent, info, sub


def _unit(info: Any) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return f" {extra['unit']}" if extra.get("unit") else ""


def _num(x: float) -> str:
    return f"{x:g}"


def unknown_path_problem(path: str, root: Any) -> str | None:
    """Why ``path`` names no parameter of the scenario model ``root`` (None if it names one)."""
    try:
        resolve(path, root)
    except KeyError:
        options = [p for p in all_paths(root) if not p.startswith(("run.", "name", "description", "mode"))]
        close = difflib.get_close_matches(path, options, n=3, cutoff=0.6)
        hint = (
            f"did you mean {' or '.join(repr(c) for c in close)}?"
            if close
            else "give the dotted path of a parameter, e.g. carcinosis.probability"
        )
        return f"{path!r} is not a parameter of the scenario; {hint}"
    return None


def path_problem(path: str, spec: Distribution, root: Any) -> str | None:
    """Why a distribution cannot apply to the parameter at ``path`` of the model ``root`` (None if it can)."""
    unknown = unknown_path_problem(path, root)
    if unknown:
        return unknown
    _, info, sub = resolve(path, root)
    if path.split(".")[0] in ("run", "name", "description", "mode", "uncertainty", "population"):
        return f"{path} is a run setting, not a model parameter; it cannot carry an uncertainty distribution"
    d = spec.distribution
    if sub is not None:
        if not is_mix(sub):
            first = next(iter(sub.model_fields))
            return f"{path} is a section; name one of its parameters (e.g. {path}.{first}), or a mix section for dirichlet"
        if d != "dirichlet":
            return f"{path} is a mix (shares that sum to 1): use distribution dirichlet"
        if isinstance(spec.alpha, dict):
            keys = list(sub.model_fields)
            missing = [k for k in keys if k not in spec.alpha]
            extra = [k for k in spec.alpha if k not in keys]
            if extra:
                close = difflib.get_close_matches(extra[0], keys, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}? " if close else ""
                return (
                    f"dirichlet alpha names {extra[0]!r}, which is not a share of {path}; {hint}its shares are {', '.join(keys)}"
                )
            if missing:
                return f"dirichlet alpha needs a value for every share of {path}; missing {', '.join(missing)}"
        return None
    if d == "dirichlet":
        return f"dirichlet is for mix sections (shares that sum to 1, e.g. cohort.primary_mix); {path} is one number: use beta, gamma, lognormal, uniform or triangular"
    if info.annotation is not float:
        kind = {int: "a whole number", bool: "on/off"}.get(info.annotation, "not a single real number")
        return f"{path} is {kind}; only real-valued parameters can carry an uncertainty distribution"
    lo, hi = bounds(info)
    rng = f"{_num(lo) if lo is not None else '-inf'} to {_num(hi) if hi is not None else 'inf'}{_unit(info)}"
    if d == "beta":
        if lo is None or hi is None or lo < 0 or hi > 1:
            return f"beta is for probabilities and shares (parameters bounded in [0, 1]); {path} ranges {rng}: use gamma or lognormal"
        return _percentiles_fit(path, spec, lo, hi, rng)
    if d in ("uniform", "triangular"):
        assert spec.low is not None and spec.high is not None
        if (lo is not None and spec.low < lo) or (hi is not None and spec.high > hi):
            return f"{d} from {_num(spec.low)} to {_num(spec.high)} goes outside the range of {path} ({rng})"
        return None
    return _percentiles_fit(path, spec, lo, hi, rng)


def _percentiles_fit(path: str, spec: Distribution, lo: float | None, hi: float | None, rng: str) -> str | None:
    f = spec.frozen()
    if f is None:
        p = spec.point()
        if (lo is not None and p < lo) or (hi is not None and p > hi):
            return f"the point value {_num(p)} is outside the range of {path} ({rng})"
        return None
    a, b = float(f.ppf(LOW_Q)), float(f.ppf(HIGH_Q))
    if (lo is not None and a < lo) or (hi is not None and b > hi):
        return (
            f"{spec.describe()} has its 2.5th-97.5th percentiles at {a:.4g}-{b:.4g}, outside the range of {path} ({rng}); "
            "narrow it or centre it inside the range (draws are truncated to the range, but most of the mass must lie inside)"
        )
    return None


def check_uncertainty(mapping: dict[str, Distribution], root: Any) -> dict[str, Distribution]:
    """The validator of a scenario's ``uncertainty:`` mapping (``root`` is the scenario model)."""
    errors: list[InitErrorDetails] = []

    def err(path: str, message: str, value: Any) -> None:
        errors.append(
            InitErrorDetails(type=PydanticCustomError("uncertainty", "{message}", {"message": message}), loc=(path,), input=value)
        )

    for path, spec in mapping.items():
        problem = path_problem(path, spec, root)
        if problem:
            err(path, problem, path if "not a parameter" in problem else spec.distribution)
    paths = sorted(mapping)
    for i, a in enumerate(paths):
        for b in paths[i + 1 :]:
            if b.startswith(a + "."):
                err(b, f"{b} is part of {a}, which already carries a distribution; keep one of them", b)
    if errors:
        raise ValidationError.from_exception_data("uncertainty", errors)
    return mapping


UNCERTAINTY_DOC = (
    "Uncertainty distributions of parameters for probabilistic (psa) and one-way (owsa) sensitivity analysis: "
    "dotted parameter path -> {distribution, its parameters, source} (docs/scale.md)"
)
UNCERTAINTY_EXTRA = {"unit": "distribution per parameter", "source": "each entry names its own source"}
# The mapping is validated with the scenario but left out of ``model_dump``: it does not change a
# run, so a run's resolved scenario and hash stay those of its parameters, and scenario diffs list
# parameters only.  Code that copies a scenario through a dump keeps it with :func:`keep_uncertainty`.
UNCERTAINTY_EXCLUDE = True


def uncertainty_dump(scenario: Any) -> dict[str, Any]:
    """The uncertainty mapping as plain data (None fields left out)."""
    return {k: v.model_dump(mode="json", exclude_none=True) for k, v in scenario.uncertainty.items()}


def keep_uncertainty(copy: Any, original: Any) -> Any:
    """``copy`` (e.g. from :func:`sim.scenario.loader.with_overrides`) with the uncertainty of ``original``."""
    if copy.uncertainty == original.uncertainty:
        return copy
    return copy.model_copy(update={"uncertainty": original.uncertainty})


# ----------------------------------------------------------------------------- utility weights

_UTIL_SOURCE = ASSUMED + " (order of published EQ-5D values in bone metastases)"


class Utilities(Section):
    """Utility weights (0 = dead, 1 = full health) for QALYs: a patient's weight at any time is the lowest of the states entered so far (alive with bone metastases, after a first SRE, after carcinosis onset, paralysed after cord compression); each SRE and each hypercalcemia episode also costs a one-off loss."""

    bone_metastasis: float = par(0.70, 0, 1, "utility", _UTIL_SOURCE, "Utility while alive with bone metastases")
    after_sre: float = par(0.62, 0, 1, "utility", _UTIL_SOURCE, "Utility from the first skeletal-related event")
    carcinosis: float = par(0.45, 0, 1, "utility", ASSUMED, "Utility from carcinosis onset (cytopenias)")
    paralysis: float = par(0.25, 0, 1, "utility", ASSUMED, "Utility after cord compression with permanent paralysis")
    sre_loss_qalys: float = par(0.01, 0, 1, "QALYs per event", ASSUMED, "One-off QALY loss per skeletal-related event")
    hypercalcemia_loss_qalys: float = par(0.01, 0, 1, "QALYs per episode", ASSUMED, "One-off QALY loss per hypercalcemia episode")
    discount_rate_per_year: float = par(
        0.0, 0, 0.2, "per year", ASSUMED, "Discount rate for QALYs by year of the horizon (as costs.discount_rate_per_year)"
    )


UTILITIES_DOC = "Utility weights for QALYs (null: no QALYs); psa and owsa report discounted QALYs per patient when set"
