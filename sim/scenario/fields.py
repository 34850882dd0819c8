"""Building blocks for scenario parameters: every parameter carries its unit,
valid range, default and source in one place, so the loader, the JSON schema,
the reference docs and the dashboard widgets all read the same definition."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

PRIMARIES = ("prostate", "breast", "lung", "renal", "thyroid", "other")
AGENTS = ("none", "zoledronic_acid", "denosumab")
LINEAGES = ("anemia", "thrombocytopenia", "leukopenia")

ASSUMED = "assumed"
ILLUSTRATIVE = "Parameters are illustrative, not clinically validated."


class Section(BaseModel):
    """A group of parameters; misspelt keys are refused, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)


def par(default: Any, lo: float | None, hi: float | None, unit: str, source: str, doc: str, **kw: Any) -> Any:
    """A parameter field: default, inclusive range [lo, hi], unit, source, description."""
    extra: Any = {"unit": unit, "source": source}
    if lo is not None:
        kw["ge"] = lo
    if hi is not None:
        kw["le"] = hi
    return Field(default, description=doc, json_schema_extra=extra, **kw)


def _sum_to_one(self: BaseModel) -> BaseModel:
    total = sum(float(v) for v in self.__dict__.values())
    if abs(total - 1.0) > 1e-6:
        shares = ", ".join(f"{k}={v}" for k, v in self.__dict__.items())
        raise ValueError(f"shares must sum to 1 but sum to {total:.6g} ({shares}); adjust them so they add up to 1")
    return self


def keyed(
    name: str,
    defaults: dict[str, float],
    lo: float | None,
    hi: float | None,
    unit: str,
    source: str,
    doc: str,
    *,
    mix: bool = False,
    sources: dict[str, str] | None = None,
) -> Any:
    """A section with one number per key (per primary, per agent, per type ...).

    With ``mix=True`` the values are shares that must sum to 1.
    """
    fields: dict[str, Any] = {
        k: (float, par(v, lo, hi, unit, (sources or {}).get(k, source), f"{doc} ({k})")) for k, v in defaults.items()
    }
    validators = {"sum_to_one": model_validator(mode="after")(_sum_to_one)} if mix else None
    model = create_model(name, __base__=Section, __validators__=validators, **fields)  # type: ignore[call-overload,arg-type]
    model.__doc__ = doc
    return model


def section_field(model: type[Section], doc: str) -> Any:
    """A nested section with all defaults."""
    return Field(default_factory=model, description=doc)


def section_model(annotation: Any) -> Any:
    """The section model behind a field's annotation (also through ``Model | None``), or None."""
    for a in (annotation, *typing.get_args(annotation)):
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None


def is_mix(model: Any) -> bool:
    """Whether a section model is a mix (shares that must sum to 1, made by ``keyed(mix=True)``)."""
    decorators = getattr(model, "__pydantic_decorators__", None)
    return decorators is not None and "sum_to_one" in decorators.model_validators


def bounds(info: Any) -> tuple[float | None, float | None]:
    """The lower and upper bound of a parameter field (None where open)."""
    lo = hi = None
    for m in info.metadata:
        lo = getattr(m, "ge", lo)
        hi = getattr(m, "le", hi)
        gt = getattr(m, "gt", None)
        if gt is not None:
            lo = gt
    return lo, hi
