"""Scenario files as people read them: YAML with each parameter's unit,
range and source as a comment, generated from the same definitions the
loader validates with."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from .params import ILLUSTRATIVE
from .scenario import Scenario

SCHEMA_HEADER = "# yaml-language-server: $schema=../docs/scenario.schema.json"


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def field_info(model: type[BaseModel], name: str) -> dict[str, Any]:
    """Description, unit, source and range of one field."""
    f = model.model_fields[name]
    extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
    lo = hi = None
    for m in f.metadata:
        lo = getattr(m, "ge", lo)
        hi = getattr(m, "le", hi)
    return {"description": f.description or "", "unit": extra.get("unit"), "source": extra.get("source"), "min": lo, "max": hi}


def _emit(model_obj: BaseModel, indent: int, lines: list[str]) -> None:
    cls = type(model_obj)
    pad = "  " * indent
    for name in cls.model_fields:
        value = getattr(model_obj, name)
        if isinstance(value, BaseModel):
            info = field_info(cls, name)
            lines.append(f"{pad}{name}:" + (f"  # {info['description']}" if info["description"] else ""))
            _emit(value, indent + 1, lines)
            continue
        info = field_info(cls, name)
        bits = []
        if info["unit"]:
            bits.append(str(info["unit"]))
        if info["min"] is not None or info["max"] is not None:
            bits.append(f"{info['min']}..{info['max']}")
        if info["source"]:
            bits.append(str(info["source"]))
        comment = f"  # {'; '.join(bits)}" if bits else ""
        if name == "description" and isinstance(value, str) and value:
            lines.append(f"{pad}{name}: >-")
            lines.extend(f"{pad}  {part}" for part in _wrap(value, 90))
            continue
        lines.append(f"{pad}{name}: {_scalar(value)}{comment}")


def _wrap(text: str, width: int) -> list[str]:
    words, out, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            out.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    if cur:
        out.append(cur)
    return out


def commented_yaml(s: Scenario, title: str) -> str:
    """A complete scenario file with a comment per parameter."""
    lines = [SCHEMA_HEADER, f"# {title}", f"# {ILLUSTRATIVE}", "# Each comment: unit; valid range; source.", ""]
    _emit(s, 0, lines)
    return "\n".join(lines) + "\n"
