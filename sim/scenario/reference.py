"""The parameter reference, generated from the definitions the loader
validates with (:mod:`sim.scenario.model`):

- :func:`commented_yaml`: a scenario file with unit, range and source per parameter;
- :func:`catalogue`, :func:`parameters`, :func:`sections`: every parameter and
  section with its unit, range, default, source and where in the course it acts;
- :func:`scenario_schema`: the JSON Schema of scenario files (editors validate and complete with it);
- :func:`reference_markdown`: the parameter reference (docs/scenario-reference.md).

``python run_sim.py schema --docs`` rewrites the generated files in docs/
(:func:`write_generated_docs`).  :mod:`sim.scenario.authoring` explains,
creates and compares scenarios from the same catalogue.
"""

from __future__ import annotations

import copy
import json
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from sim.oserrors import write_text
from sim.scenario.fields import ILLUSTRATIVE
from sim.scenario.model import Scenario

SCHEMA_HEADER = "# yaml-language-server: $schema=../docs/scenario.schema.json"


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    text = json.dumps(v, ensure_ascii=False)
    for c in "\x85\u2028\u2029":  # line breaks to YAML (not to JSON): escaped, or the string would be folded
        text = text.replace(c, f"\\u{ord(c):04x}")
    return text


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
        if isinstance(value, dict):  # a mapping of entries, e.g. uncertainty: one distribution per parameter path
            entries = {
                str(k): v.model_dump(mode="json", exclude_none=True) if isinstance(v, BaseModel) else v for k, v in value.items()
            }
            about = f"  # {info['description']}" if info["description"] else ""
            lines.append(f"{pad}{name}: {{}}{about}" if not entries else f"{pad}{name}:{about}")
            lines.extend(f"{pad}  {_scalar(k)}: {json.dumps(v, ensure_ascii=True)}" for k, v in entries.items())
            continue
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
    title = " ".join(str(title).split())  # one comment line, whatever the title holds
    lines = [SCHEMA_HEADER, f"# {title}", f"# {ILLUSTRATIVE}", "# Each comment: unit; valid range; source.", ""]
    _emit(s, 0, lines)
    return "\n".join(lines) + "\n"


# ============================================================================ parameters

ROOT_DIR = Path(__file__).resolve().parents[2]  # the project folder (sim/scenario/reference.py)
DOCS_DIR = ROOT_DIR / "docs"
SCHEMA_FILE = DOCS_DIR / "scenario.schema.json"
REFERENCE_FILE = DOCS_DIR / "scenario-reference.md"
REGENERATE = "python run_sim.py schema --docs"

# keys of a scenario file that label it rather than set a parameter
LABELS = ("name", "description")

# where each part of the scenario acts, in the order of the course (one module per step in sim/kernel/)
# (the longest matching prefix of a dotted path wins)
COURSE_STEPS: dict[str, str] = {
    "labs": "the blood counts and calcium behind cytopenia grades, transfusions and detection (sim/kernel/labs.py, step 6 in sim/kernel/cytopenias.py)",
    "utilities": "quality-of-life weights for QALYs in probabilistic sensitivity analysis (sim/experiments/psa.py); no effect on the course",
    "uncertainty": "distributions of parameters for probabilistic and one-way sensitivity analysis (sim/experiments/psa.py); no effect on a single run",
    "name": "labels the scenario in every output; no effect on the course",
    "description": "describes the scenario in every output; no effect on the course",
    "mode": "how patients enter the run: the whole cohort at time 0 (sim/engine/simulate.py)",
    "run": "set-up of the run: cohort size, random streams and follow-up; the horizon ends step 7 of the course (sim/engine/simulate.py)",
    "cohort": "step 1 of the course: entry (sim/kernel/entry.py)",
    "progression": "step 2 of the course: progression to death (sim/kernel/progression.py)",
    "other_mortality": "beside step 2 of the course: death from other causes (sim/kernel/other_mortality.py)",
    "sre": "step 3 of the course: skeletal-related events (sim/kernel/sre.py)",
    "pain": "step 4 of the course: bone pain episodes (sim/kernel/pain.py)",
    "hypercalcemia": "step 5 of the course: hypercalcemia episodes (sim/kernel/hypercalcemia.py)",
    "carcinosis": "step 6 of the course: bone marrow carcinosis (sim/kernel/carcinosis.py, sim/kernel/carcinosis_deaths.py, sim/kernel/cytopenias.py, sim/kernel/treatment.py)",
    "detection": "step 6 of the course: bone marrow carcinosis, its detection by scan and marrow biopsy (sim/kernel/detection.py, sim/kernel/care.py)",
    "complications": "step 6 of the course: bone marrow carcinosis, infections and bleeding from cytopenias (sim/kernel/complications.py)",
    "care": "care requested by steps 3-6 of the course (sim/kernel/care.py)",
    "care.radiotherapy": "steps 3-4 of the course: radiotherapy for skeletal-related events and bone pain (sim/kernel/care.py)",
    "care.radionuclide": "step 4 of the course: radionuclide therapy for bone pain (sim/kernel/care.py)",
    "care.chemotherapy": "step 6 of the course: systemic treatment at carcinosis diagnosis (sim/kernel/care.py)",
    "care.transfusion": "step 6 of the course: transfusion for anemia and thrombocytopenia (sim/kernel/care.py)",
    "care.surgery": "step 3 of the course: surgery for fractures and cord compression (sim/kernel/care.py)",
    "services": "beside the course: the capacity of each service, how long a use holds it and its unit cost; requests queue when a capacity is set (sim/kernel/services.py, requested by sim/kernel/care.py)",
    "costs": "beside the course: currency and discounting of the service costs per year (sim/kernel/services.py); no effect on the course",
    "population": "population mode: Poisson arrivals from the incidence and population size over the horizon, the warm-up before outcomes are reported (sim/engine/simulate.py)",
}

# rules the JSON Schema states beyond what pydantic's generated schema carries
# (they repeat a model validator of sim/scenario/course.py; tests check both agree)
_ITEM_RULES: dict[str, dict[str, Any]] = {
    "carcinosis.grade_hazard_ratio": {"exclusiveMinimum": 0, "maximum": 100},
}

# rules only the loader can check (a JSON Schema cannot compare values)
LOADER_ONLY_RULES = (
    "shares of a mix (cohort.primary_mix, cohort.bone_targeted_agent_mix, sre.type_mix, "
    "carcinosis.initial_grade_mix, carcinosis.death_cause_shares) must sum to 1",
    "cohort.age: min_years <= mean_years <= max_years",
    "care.radiotherapy: complete_response_probability <= response_probability, response_share_by_end <= response_share_by_day_8",
    'numbers must be finite (no .nan or .inf, nor text such as "nan" or 1e999) and true/false is not a number',
)


def where_it_acts(path: str) -> str:
    """Where in the course the parameter or section at a dotted path acts."""
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in COURSE_STEPS:
            return COURSE_STEPS[key]
    return ""


@dataclass(frozen=True)
class Param:
    """One parameter (a leaf of the scenario) with everything known about it."""

    path: str
    description: str
    unit: str | None
    source: str | None
    minimum: float | None
    maximum: float | None
    default: Any
    kind: str

    @property
    def section(self) -> str:
        return self.path.split(".")[0]

    @property
    def range_text(self) -> str:
        return _range_text(self.minimum, self.maximum, self.path)

    @property
    def acts_in(self) -> str:
        return where_it_acts(self.path)


@dataclass(frozen=True)
class SectionInfo:
    """A group of parameters: its dotted path, title (field description) and docstring."""

    path: str
    title: str
    doc: str
    depth: int


def _num(v: Any) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v)


def _range_text(lo: Any, hi: Any, path: str = "") -> str:
    rule = _ITEM_RULES.get(path)
    if rule:
        low = f"> {_num(rule['exclusiveMinimum'])}" if "exclusiveMinimum" in rule else f">= {_num(rule['minimum'])}"
        return f"each {low} and <= {_num(rule['maximum'])}"
    if lo is None and hi is None:
        return ""
    if hi is None:
        return f">= {_num(lo)}"
    if lo is None:
        return f"<= {_num(hi)}"
    return f"{_num(lo)} to {_num(hi)}"


def _kind(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of: " + ", ".join(str(a) for a in typing.get_args(annotation))
    if origin is tuple:
        args = typing.get_args(annotation)
        inner = {_kind(a) for a in args}
        return f"list of {len(args)} {'numbers' if inner == {'number'} else 'values'}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_kind(a) for a in typing.get_args(annotation))
    return {bool: "true/false", int: "integer", float: "number", str: "text"}.get(
        annotation, getattr(annotation, "__name__", "value")
    )


def _walk(obj: BaseModel, prefix: str, depth: int, params: list[Param], sections: list[SectionInfo]) -> None:
    cls = type(obj)
    for name, f in cls.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        value = getattr(obj, name)
        if value is None:  # an optional section (population): catalogue its parameters all the same
            model = next((a for a in typing.get_args(f.annotation) if isinstance(a, type) and issubclass(a, BaseModel)), None)
            if model is not None:
                value = model.model_construct()
        if isinstance(value, BaseModel):
            doc = (type(value).__doc__ or "").strip()
            title = f.description or f"{name} ({prefix.rsplit('.', 1)[-1]})"
            sections.append(SectionInfo(path, title, doc, depth + 1))
            _walk(value, path, depth + 1, params, sections)
            continue
        info = field_info(cls, name)
        default = list(value) if isinstance(value, tuple) else value
        params.append(
            Param(path, info["description"], info["unit"], info["source"], info["min"], info["max"], default, _kind(f.annotation))
        )


def catalogue(scenario: Scenario | None = None) -> tuple[list[Param], list[SectionInfo]]:
    """Every parameter and every section of a scenario (the defaults if none), in model order."""
    params: list[Param] = []
    sections: list[SectionInfo] = []
    _walk(scenario if scenario is not None else Scenario.model_validate({}), "", 0, params, sections)
    return params, sections


def parameters() -> dict[str, Param]:
    """Every parameter by dotted path, with the current defaults."""
    return {p.path: p for p in catalogue()[0]}


def sections() -> dict[str, SectionInfo]:
    """Every section by dotted path."""
    return {s.path: s for s in catalogue()[1]}


def undocumented() -> dict[str, list[str]]:
    """Parameters without a description, unit or source (the labels excepted)."""
    gaps: dict[str, list[str]] = {}
    for p in catalogue()[0]:
        if p.path in LABELS or p.path == "mode":
            continue
        missing = [k for k in ("description", "unit", "source") if not getattr(p, k)]
        if missing:
            gaps[p.path] = missing
    return gaps


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return repr(v)


# ============================================================================ JSON Schema


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Replace every ``$ref`` by a copy of its definition (keys beside the ref win)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
            rest = {k: v for k, v in node.items() if k != "$ref"}
            target.update(rest)
            return _inline(target, defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _markdown(p: Param) -> str:
    lines = [p.description or p.path, ""]
    if p.unit:
        lines.append(f"- unit: {p.unit}")
    lines.append(f"- default: {_show(p.default)}")
    if p.range_text:
        lines.append(f"- range: {p.range_text}")
    if p.source:
        lines.append(f"- source: {p.source}")
    if p.acts_in:
        lines.append(f"- acts in: {p.acts_in}")
    return "\n".join(lines)


def _enrich(node: dict[str, Any], prefix: str, params: dict[str, Param], secs: dict[str, SectionInfo]) -> None:
    node.pop("title", None)
    for name, sub in node.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        if path in params:
            p = params[path]
            sub.pop("title", None)
            sub["description"] = p.description
            if p.unit:
                sub["unit"] = p.unit
            if p.source:
                sub["source"] = p.source
            sub["default"] = p.default
            for item in sub.get("prefixItems", []):
                item.update(_ITEM_RULES.get(path, {}))
            sub["markdownDescription"] = _markdown(p)
        elif path in secs:
            s = secs[path]
            sub["description"] = s.title + (f". {s.doc}" if s.doc and s.doc.rstrip(".") != s.title else "")
            sub["markdownDescription"] = f"**{s.title}**\n\n{s.doc}\n\n- acts in: {where_it_acts(path)}".strip()
            _enrich(sub, path, params, secs)
            for option in sub.get("anyOf", []):  # an optional section: Section or null
                if "properties" in option:
                    _enrich(option, path, params, secs)


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of scenario files, from ``Scenario.model_json_schema()``.

    References are inlined so each parameter carries its own default (a Weibull
    or Beta section has different defaults at each place it is used); every
    parameter carries description, unit, default, range (minimum/maximum) and
    source; ``extends`` is allowed at the top level.
    """
    raw = Scenario.model_json_schema()
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _inline(raw, defs)
    params, secs = catalogue()
    _enrich(schema, "", {p.path: p for p in params}, {s.path: s for s in secs})
    schema["properties"] = {
        "extends": {
            "type": "string",
            "minLength": 1,
            "description": "File name of the scenario this one builds on (beside this file or in scenarios/), e.g. baseline.yaml; "
            "only the keys set here change",
        },
        **schema["properties"],
    }
    out = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "bmc-sim scenario",
        "description": "A scenario file of bmc-sim; every key is optional (defaults below). "
        + ILLUSTRATIVE
        + f" Generated from sim/scenario/model.py by `{REGENERATE}`; do not edit by hand. "
        + "Rules a schema cannot state (checked by `python run_sim.py validate`): "
        + "; ".join(LOADER_ONLY_RULES)
        + ".",
    }
    out.update({k: v for k, v in schema.items() if k not in ("description",)})
    return out


def schema_json() -> str:
    """The schema as the text of docs/scenario.schema.json."""
    return json.dumps(scenario_schema(), indent=2, ensure_ascii=False) + "\n"


# ============================================================================ reference


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ") if text not in (None, "") else "—"


def _anchor(path: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "", path.lower().replace(" ", "-"))


def reference_markdown() -> str:
    """The parameter reference (docs/scenario-reference.md), grouped as the Scenario sections."""
    params, secs = catalogue()
    top = [s for s in secs if s.depth == 1]
    lines = [
        "# Scenario parameter reference",
        "",
        f"<!-- Generated from sim/scenario/model.py by `{REGENERATE}`; do not edit by hand. -->",
        "",
        f"> **{ILLUSTRATIVE}** A source of *assumed* marks a value chosen by the modellers,",
        "> *calibrated* one fitted so the whole model meets a published figure.",
        "",
        "Every key of a scenario file is optional: a file sets what it changes and takes the rest from",
        "the file it `extends:` (or from the defaults below). Editors that read the JSON Schema",
        "([scenario.schema.json](scenario.schema.json)) check and complete scenario files as you type;",
        "`python run_sim.py explain PATH` prints one entry of this page, `python run_sim.py validate FILE`",
        "checks a file completely. Ranges are inclusive.",
        "",
        "Rules that involve several values (checked by `validate`, not by the schema):",
        "",
        *[f"- {r}" for r in LOADER_ONLY_RULES],
        "",
        "## Contents",
        "",
        "- [Scenario file](#scenario-file)",
        *[f"- [`{s.path}` — {s.title}](#{_anchor(s.path)})" for s in top],
        "",
        "## Scenario file",
        "",
        "| key | default | type | description |",
        "|---|---|---|---|",
        "| `extends` | — | text | File name of the scenario this one builds on, e.g. `baseline.yaml` |",
    ]
    for p in params:
        if "." not in p.path:
            lines.append(f"| `{p.path}` | `{_show(p.default)}` | {_cell(p.kind)} | {_cell(p.description)} |")
    lines.append("")
    for s in secs:
        hashes = "##" if s.depth == 1 else "###"
        lines += [f"{hashes} {s.path}", ""]
        lines.append(f"**{s.title}.**" + (f" {s.doc}" if s.doc and s.doc.rstrip(".") != s.title else ""))
        if s.depth == 1:
            lines += ["", f"Acts in: {where_it_acts(s.path)}."]
        own = [p for p in params if p.path.rsplit(".", 1)[0] == s.path]
        if own:
            lines += [
                "",
                "| parameter | default | unit | range | source | description |",
                "|---|---|---|---|---|---|",
            ]
            for p in own:
                lines.append(
                    f"| `{p.path}` | `{_show(p.default)}` | {_cell(p.unit)} | {_cell(p.range_text)} | {_cell(p.source)} | {_cell(p.description)} |"
                )
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def generated_docs() -> dict[Path, str]:
    """The generated documentation files and their current text."""
    return {SCHEMA_FILE: schema_json(), REFERENCE_FILE: reference_markdown()}


def write_generated_docs() -> list[tuple[Path, bool]]:
    """Rewrite the generated docs; returns (file, changed) for each."""
    out = []
    for path, text in generated_docs().items():
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text(path, text)
        out.append((path, old != text))
    return out
