"""Problems of a scenario: one :class:`Problem` per thing wrong (dotted path
and what to do), found in a pydantic validation error, in a value that is not
a finite number or not valid text, or in a dotted path that names no parameter.

:func:`sim.scenario.loader.validate` and the ``--set`` overrides of
:mod:`sim.scenario.loader` collect them into one ``ScenarioError``.
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from sim.scenario.fields import section_model as _field_model
from sim.scenario.model import Scenario
from sim.scenario.safe_yaml import MAX_INT_BITS


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario: where (dotted path) and what to do."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def _known_path(parts: list[str]) -> str | None:
    """None if the dotted path names a scenario parameter, else the problem."""
    model: Any = Scenario
    for i, part in enumerate(parts):
        fields = getattr(model, "model_fields", None)
        if fields is None:
            return f"{'.'.join(parts[:i])} is a value, not a section; set it directly"
        if part not in fields:
            return _unknown_key_message(part, list(fields))
        model = _field_model(fields[part].annotation)
    return None


def _unknown_key_message(key: str, options: list[str]) -> str:
    close = difflib.get_close_matches(str(key), options, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else f"known keys: {', '.join(options)}"
    return f"unknown key {key!r}; {hint}"


def _model_at(loc: tuple[Any, ...]) -> Any:
    model: Any = Scenario
    for part in loc:
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return None
        model = _field_model(fields[part].annotation)
    return model


def _problems_from(exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path = ".".join(str(x) for x in loc)
        if err["type"] == "extra_forbidden":
            parent = _model_at(loc[:-1])
            options = list(parent.model_fields) if parent is not None else []
            problems.append(Problem(path, _unknown_key_message(str(loc[-1]), options)))
            continue
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        inp = err.get("input")
        if err["type"] == "finite_number":
            msg = "not a finite number"
        if isinstance(inp, (dict, list, tuple)) and loc:  # a rule of a whole section or entry: its message says what
            problems.append(Problem(path, msg))
            continue
        try:
            shown = repr(inp) if isinstance(inp, (int, float, str, bool)) or inp is None else type(inp).__name__
        except ValueError:  # an integer too long to print
            shown = "a very large number"
        if len(shown) > 60:
            shown = shown[:57] + "..."
        hint = _range_hint(loc)
        problems.append(Problem(path, f"{msg} (got {shown}){hint}" if loc else msg))  # a whole-scenario rule names its fields
    return problems


def _range_hint(loc: tuple[Any, ...]) -> str:
    parent = _model_at(loc[:-1])
    if parent is None or not loc or loc[-1] not in getattr(parent, "model_fields", {}):
        return ""
    return _info_hint(parent.model_fields[loc[-1]])


def _info_hint(info: Any) -> str:
    """'; use a value from LO to HI (unit)' for a field with a range ('' without one)."""
    lo = hi = gt = None
    for m in info.metadata:
        lo = getattr(m, "ge", lo)
        gt = getattr(m, "gt", gt)
        hi = getattr(m, "le", hi)
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    unit = f" ({extra['unit']})" if extra.get("unit") else ""
    if lo is not None and hi is not None:
        return f"; use a value from {lo} to {hi}{unit}"
    if gt is not None:
        return f"; use a value above {gt}" + (f" and at most {hi}" if hi is not None else "") + unit
    if lo is not None:
        return f"; use a value of at least {lo}{unit}"
    if hi is not None:
        return f"; use a value of at most {hi}{unit}"
    return ""


def _reject_non_finite(data: Any, path: str, problems: list[Problem], expected: Any = Scenario, info: Any = None) -> None:
    """Values that the model would take in silently as something else, found
    before validation: NaN and infinities (also written as text, e.g. "nan" or
    1e999, which YAML reads as a string), true/false where a number goes,
    huge integers, keys that are not valid text.  ``expected`` is the type the
    model expects at ``path`` (None where unknown), ``info`` its field."""
    kinds = _kinds(expected)
    if isinstance(data, dict):
        fields, values = _mapping_of(expected, kinds)
        for k, v in data.items():
            if isinstance(k, str) and not _utf8(k):
                problems.append(Problem(path, f"key {k!r} contains a character that is not valid text; retype the key"))
                continue
            key = str(k) if str(k) else "''"
            field = fields.get(k) if isinstance(k, str) else None
            sub = field.annotation if field is not None else (values[1] if len(values) == 2 else None)
            _reject_non_finite(v, f"{path}.{key}" if path else key, problems, sub, field)
    elif isinstance(data, list):
        items = _container_args(expected, tuple) or _container_args(expected, list)
        for i, v in enumerate(data):
            sub = items[0] if len(items) == 1 or (len(items) == 2 and items[1] is Ellipsis) else None
            if len(items) > 1 and items[-1] is not Ellipsis and i < len(items):
                sub = items[i]
            _reject_non_finite(v, f"{path}.{i}", problems, sub, info)
    elif isinstance(data, float) and not math.isfinite(data):
        problems.append(Problem(path, f"{data} is not a finite number{_fix(info)}"))
    elif isinstance(data, bool):
        if kinds & {int, float} and bool not in kinds:
            problems.append(Problem(path, f"{str(data).lower()} is a yes/no value, not a number{_fix(info, 'give a number')}"))
    elif isinstance(data, int) and abs(data).bit_length() > MAX_INT_BITS:
        problems.append(Problem(path, "the number is far too large; give a value in the field's range"))
    elif isinstance(data, str) and float in kinds and str not in kinds and _non_finite_text(data):
        what = "not a number" if "nan" in data.lower() else "not a finite number"
        problems.append(Problem(path, f"{data.strip()!r} is {what}{_fix(info)}"))


def _fix(info: Any, default: str = "give a finite value") -> str:
    return (_info_hint(info) if info is not None else "") or f"; {default}"


_KINDS: dict[
    int, tuple[Any, frozenset[Any]]
] = {}  # id(annotation) -> (annotation, its kinds): annotations live as long as their models


def _kinds(annotation: Any) -> frozenset[Any]:
    """The plain types an annotation admits (through Annotated, unions and Optional)."""
    hit = _KINDS.get(id(annotation))
    if hit is not None and hit[0] is annotation:
        return hit[1]
    kinds = frozenset(_plain_kinds(annotation))
    _KINDS[id(annotation)] = (annotation, kinds)
    return kinds


def _plain_kinds(annotation: Any) -> set[Any]:
    if annotation is None:
        return set()
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _plain_kinds(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return set().union(*(_plain_kinds(a) for a in typing.get_args(annotation)))
    return {origin if origin is not None else annotation}


_MAPPINGS: dict[int, tuple[Any, dict[str, Any], tuple[Any, ...]]] = {}


def _mapping_of(annotation: Any, kinds: frozenset[Any]) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """The fields of the section model an annotation admits, and the type arguments of its ``dict`` member."""
    hit = _MAPPINGS.get(id(annotation))
    if hit is not None and hit[0] is annotation:
        return hit[1], hit[2]
    model = next((k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)), None)
    found = (model.model_fields if model is not None else {}, _container_args(annotation, dict))
    _MAPPINGS[id(annotation)] = (annotation, *found)
    return found


def _container_args(annotation: Any, container: type) -> tuple[Any, ...]:
    """The type arguments of the ``container`` member of an annotation (``dict[str, X]`` -> (str, X))."""
    if annotation is None:
        return ()
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _container_args(typing.get_args(annotation)[0], container)
    if origin is typing.Union or origin is types.UnionType:
        for a in typing.get_args(annotation):
            found = _container_args(a, container)
            if found:
                return found
        return ()
    return typing.get_args(annotation) if origin is container else ()


def _non_finite_text(text: str) -> bool:
    """Whether a string would be read as NaN or an infinity where a number goes ("nan", "-inf", "1e999")."""
    try:
        return not math.isfinite(float(text.strip().replace("_", "")))
    except (ValueError, OverflowError):
        return False


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, e.g. from a "\\ud800" escape
        return False
    return True
