"""Writing and reviewing scenarios, all generated from the same definitions
the loader validates with (:mod:`sim.scenario.model`):

- :func:`commented_yaml`: a scenario file with unit, range and source per parameter;
- :func:`scenario_schema`: the JSON Schema of scenario files (editors validate and complete with it);
- :func:`reference_markdown`: the parameter reference (docs/scenario-reference.md);
- :func:`explain`: one parameter or section, and where in the course it acts;
- :func:`new_scenario_text`: a new scenario that ``extends:`` a base, with commented examples;
- :func:`scenario_diff`: the resolved parameters in which two scenarios differ.

``python run_sim.py schema --docs`` rewrites the generated files in docs/.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from sim.oserrors import atomic_file, write_text
from sim.scenario.fields import ILLUSTRATIVE
from sim.scenario.loader import SCENARIO_DIR, load_scenario, read_scenario_file
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

ROOT_DIR = Path(__file__).resolve().parents[2]  # the project folder (sim/scenario/authoring.py)
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
    "carcinosis": "step 6 of the course: bone marrow carcinosis (sim/kernel/course.py), its rules in sim/kernel/carcinosis.py, carcinosis_deaths.py, cytopenias.py and treatment.py",
    "detection": "step 6 of the course: bone marrow carcinosis, its detection by scan and marrow biopsy (sim/kernel/detection.py, sim/kernel/care.py)",
    "complications": "step 6 of the course: bone marrow carcinosis, infections and bleeding from cytopenias (sim/kernel/complications.py)",
    "care": "care requested by steps 3-6 of the course (sim/kernel/care.py)",
    "care.radiotherapy": "steps 3-4 of the course: radiotherapy for skeletal-related events and bone pain (sim/kernel/care.py)",
    "care.radionuclide": "step 4 of the course: radionuclide therapy for bone pain (sim/kernel/care.py)",
    "care.chemotherapy": "step 6 of the course: systemic treatment at carcinosis diagnosis (sim/kernel/care.py)",
    "care.transfusion": "step 6 of the course: transfusion for anemia and thrombocytopenia (sim/kernel/care.py)",
    "care.surgery": "step 3 of the course: surgery for fractures and cord compression (sim/kernel/care.py)",
}

# rules the JSON Schema states beyond what pydantic's generated schema carries
# (they repeat a model validator of sim/scenario/model.py; tests check both agree)
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


# ============================================================================ explain


class UnknownParameter(LookupError):
    """A dotted path that names no parameter or section; holds the nearest names."""

    def __init__(self, path: str, suggestions: list[str]):
        self.path = path
        self.suggestions = suggestions
        hint = f"did you mean {', '.join(suggestions)}?" if suggestions else "see docs/scenario-reference.md for every parameter"
        super().__init__(f"unknown parameter {path!r}; {hint}")


def suggest(path: str, n: int = 4) -> list[str]:
    """The known dotted paths nearest to ``path`` (whole path, then last part)."""
    params, secs = catalogue()
    names = [p.path for p in params] + [s.path for s in secs]
    found = difflib.get_close_matches(path, names, n=n, cutoff=0.6)
    last = path.rsplit(".", 1)[-1]
    by_last: dict[str, list[str]] = {}
    for name in names:
        by_last.setdefault(name.rsplit(".", 1)[-1], []).append(name)
    for close in difflib.get_close_matches(last, list(by_last), n=n, cutoff=0.75):
        for name in sorted(by_last[close], key=lambda x: -difflib.SequenceMatcher(None, path, x).ratio()):
            if name not in found:
                found.append(name)
    return found[:n]


def explain(path: str, scenario_file: str | Path | None = None) -> str:
    """What a parameter (or a section) is, its unit, default, range, source and where it acts.

    With ``scenario_file`` the parameter's value there is shown too, and the
    file of its extends chain that sets it (ScenarioError if the file is invalid).
    """
    path = path.strip()
    params = parameters()
    secs = sections()
    if path == "extends":
        return "extends\n  File name of the scenario this one builds on (beside the file or in scenarios/); only the keys set change.\n"
    if path in params:
        p = params[path]
        rows = [
            ("unit", p.unit or "—"),
            ("type", p.kind),
            ("default", _show(p.default)),
            ("range", p.range_text or "—"),
            ("source", p.source or "—"),
            ("acts in", p.acts_in or "—"),
        ]
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        if parent in secs:
            rows.append(("section", f"{parent}: {secs[parent].title}"))
        if scenario_file is not None:
            here = _leaves(load_scenario(scenario_file).model_dump(mode="json"))[path]
            set_in = _set_in(provenance(scenario_file), path)
            rows.insert(3, ("scenario", f"{_show(here)} in {Path(scenario_file).name} (set in {set_in})"))
        value = _show(p.default).replace(" ", "")
        rows.append(("change it", f"--set {path}={value} for one run, or in a scenario file (python run_sim.py new NAME)"))
        lines = [path, f"  {p.description}", ""] + [f"  {k + ':':<10} {v}" for k, v in rows]
        return "\n".join(lines + ["", ILLUSTRATIVE]) + "\n"
    if path in secs:
        s = secs[path]
        own = [p for p in params.values() if p.path.startswith(path + ".")]
        lines = [f"{path} (section)", f"  {s.title}." + (f" {s.doc}" if s.doc and s.doc.rstrip(".") != s.title else "")]
        values = {p.path: p.default for p in own}
        where = "defaults"
        if scenario_file is not None:
            values = _leaves(load_scenario(scenario_file).model_dump(mode="json"))
            where = f"values in {Path(scenario_file).name}"
        lines += [f"  acts in: {where_it_acts(path)}", "", f"  {len(own)} parameters ({where}):"]
        width = max(len(p.path) for p in own) if own else 0
        for p in own:
            unit = f" {p.unit}" if p.unit else ""
            lines.append(f"    {p.path:<{width}}  {_show(values[p.path])}{unit}")
        return "\n".join(lines + ["", ILLUSTRATIVE]) + "\n"
    raise UnknownParameter(path, suggest(path))


# ============================================================================ new scenario

# the usual changes offered (commented out) in a new scenario, grouped by section
USUAL_CHANGES: tuple[tuple[str, str], ...] = (
    ("run.patients", "cohort size"),
    ("run.seed", "root seed: another seed gives another sample of the same cohort"),
    ("run.horizon_months", "follow-up"),
    ("cohort.primary_mix", "who enters: shares by primary tumour, must sum to 1"),
    ("cohort.bone_targeted_agent_mix", "shares by bone-targeted agent, must sum to 1"),
    ("cohort.visceral_disease_probability", ""),
    ("sre.later_rate_per_month", ""),
    ("pain.rate_per_month", ""),
    ("pain.radiotherapy_probability", ""),
    ("hypercalcemia.probability", ""),
    ("carcinosis.probability", ""),
    ("carcinosis.survival_median_months_bsc", "median survival after carcinosis onset by primary"),
    ("detection.scintigraphy_negative_probability", ""),
    ("care.radiotherapy.single_fraction_share", ""),
    ("care.chemotherapy.uptake", ""),
    ("care.transfusion.rbc_threshold_g_dl", "restrictive 7 g/dL instead of 8"),
)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def check_scenario_name(name: str) -> str:
    """A scenario name usable as a file name (``.yaml`` stripped); ValueError otherwise."""
    stem = name[:-5] if name.endswith(".yaml") else name
    if not _NAME_RE.match(stem) or stem.endswith("."):
        raise ValueError(
            f"{name!r} is not a usable scenario name; use letters, digits, '_', '-' or '.' "
            "(starting with a letter or digit, at most 100 characters), e.g. early_detection"
        )
    return stem


def _at(tree: Any, path: str) -> Any:
    for part in path.split("."):
        tree = tree[part]
    return tree


def new_scenario_text(name: str, base_name: str, base: Scenario, schema_ref: str) -> str:
    """A new scenario file that extends ``base_name``; the usual changes are commented out, with the base's values."""
    params = parameters()
    secs = sections()
    values = base.model_dump(mode="json")
    lines = [
        f"# yaml-language-server: $schema={schema_ref}",
        f"# Scenario {name}, built on {base_name}. {ILLUSTRATIVE}",
        f"# It changes only what it sets; everything else comes from {base_name}.",
        "#   check it:             python run_sim.py validate <this file>",
        f"#   review what changes:  python run_sim.py diff {base_name} <this file>   (give both paths)",
        "#   look up a parameter:  python run_sim.py explain carcinosis.probability",
        f"extends: {base_name}",
        f"name: {json.dumps(name)}",
        "description: >-",
        f"  What question does this scenario answer? (Describe what it changes from {base_name} and why.)",
        "",
        "# Usual changes: uncomment a section line and the lines below it that you change;",
        f"# the values shown are those of {base_name}. Each comment: unit; range; source.",
    ]
    by_section: dict[str, list[tuple[str, str]]] = {}
    for path, note in USUAL_CHANGES:
        by_section.setdefault(path.split(".")[0], []).append((path, note))
    for top, items in by_section.items():
        lines += ["#", f"# {top}:  # {secs[top].title}"]
        opened: list[str] = [top]
        for path, note in items:
            parts = path.split(".")
            # open intermediate sections not yet open
            common = 0
            while common < min(len(opened), len(parts) - 1) and opened[common] == parts[common]:
                common += 1
            opened = opened[:common]
            for depth in range(common, len(parts) - 1):
                opened.append(parts[depth])
                if depth > 0:
                    sub = ".".join(parts[: depth + 1])
                    lines.append(f"#{'  ' * depth} {parts[depth]}:  # {secs[sub].title}")
            pad = "  " * (len(parts) - 1)
            if path in params:
                p = params[path]
                bits = [b for b in (p.unit, p.range_text, p.source) if b]
                comment = note or p.description
                lines.append(f"# {pad}{parts[-1]}: {_show(_at(values, path))}  # {comment}; {'; '.join(bits)}")
            else:  # a keyed section: every key with the base's value
                lines.append(f"# {pad}{parts[-1]}:  # {note or secs[path].title}")
                for key, val in _at(values, path).items():
                    p = params[f"{path}.{key}"]
                    lines.append(f"# {pad}  {key}: {_show(val)}  # {p.unit}; {p.range_text}")
    return "\n".join(lines) + "\n"


def resolve_base(base: str, directory: Path) -> Path:
    """The file of a base scenario given as a name or file name, beside ``directory`` or in scenarios/."""
    given = Path(base)
    file_name = given.name if given.name.endswith(".yaml") else given.name + ".yaml"
    candidates = [directory / file_name, SCENARIO_DIR / file_name]
    if given.parent != Path("."):
        candidates = [given.parent / file_name]
    for c in candidates:
        if c.is_file():
            if given.parent != Path(".") and c.resolve().parent not in (directory.resolve(), SCENARIO_DIR.resolve()):
                raise ValueError(
                    f"base {base!r} must be beside the new file ({directory}) or in scenarios/ so that extends: finds it"
                )
            return c
    known = sorted({p.stem for d in (directory, SCENARIO_DIR) if d.is_dir() for p in d.glob("*.yaml")})
    close = difflib.get_close_matches(given.stem, known, n=3, cutoff=0.6)
    hint = (
        f"did you mean {', '.join(close)}?"
        if close
        else ("known scenarios: " + ", ".join(known) if known else "no scenarios found")
    )
    raise ValueError(f"base scenario {base!r} not found in {directory} or {SCENARIO_DIR}; {hint}")


def write_new_scenario(name: str, base: str = "baseline", directory: str | Path = "scenarios") -> Path:
    """Write ``directory/NAME.yaml`` extending ``base``; never overwrites; the result is validated.

    Raises ValueError (bad name, base not found, file exists) or ScenarioError (invalid base).
    """
    stem = check_scenario_name(name)
    d = Path(directory)
    if not d.is_dir():
        raise ValueError(f"folder {d} does not exist; create it or give --dir")
    base_path = resolve_base(base, d)
    base_scenario = load_scenario(base_path)
    target = d / f"{stem}.yaml"
    if target.exists():
        raise ValueError(f"{target} already exists; choose another name (nothing was written)")
    try:
        schema_ref = Path(os.path.relpath(SCHEMA_FILE, d.resolve())).as_posix()
    except ValueError:  # another drive
        schema_ref = SCHEMA_FILE.as_posix()
    text = new_scenario_text(stem, base_path.name, base_scenario, schema_ref)
    try:
        # whole or not at all: checked while still a hidden temporary file beside the target (so that
        # extends: finds the base), then given its name only if no file of that name appeared meanwhile
        with atomic_file(target, exclusive=True) as tmp:
            tmp.write_text(text, encoding="utf-8")
            load_scenario(tmp)
    except FileExistsError:
        raise ValueError(f"{target} already exists; choose another name (nothing was written)") from None
    return target


# ============================================================================ diff


def _leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted path -> value of every leaf of a nested mapping."""
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: tree}


def set_keys(path: str | Path) -> dict[str, Any]:
    """The parameters one scenario file sets itself (dotted path -> value), not counting extends and labels."""
    data = read_scenario_file(path)
    return {k: v for k, v in _leaves(data).items() if k.split(".")[0] not in ("extends", *LABELS)}


def _chain(path: Path) -> list[Path]:
    """The file and the files it extends, nearest first (as the loader resolves them)."""
    chain = [path]
    seen = {path.resolve()}
    while True:
        data = read_scenario_file(chain[-1])
        parent_name = data.get("extends")
        if not isinstance(parent_name, str) or not parent_name.strip():
            return chain
        parent = (chain[-1].parent / parent_name).resolve()
        if not parent.exists() and (SCENARIO_DIR / parent_name).exists():
            parent = (SCENARIO_DIR / parent_name).resolve()
        if parent in seen or not parent.exists():
            return chain
        seen.add(parent)
        chain.append(parent)


def provenance(path: str | Path) -> dict[str, str]:
    """Dotted path -> the file (of the extends chain) that sets it; parameters not listed are defaults."""
    out: dict[str, str] = {}
    for f in reversed(_chain(Path(path))):
        for key in set_keys(f):
            out[key] = f.name
    return out


def _set_in(prov: dict[str, str] | None, path: str) -> str | None:
    if prov is None:
        return None
    if path in prov:
        return prov[path]
    for key, f in prov.items():
        if path.startswith(key + "."):
            return f
    return "default"


def _as_scenario(x: Scenario | str | Path) -> tuple[Scenario, dict[str, str] | None, str]:
    if isinstance(x, Scenario):
        return x, None, x.name
    return load_scenario(x), provenance(x), str(x)


def scenario_diff(a: Scenario | str | Path, b: Scenario | str | Path) -> list[dict[str, Any]]:
    """The resolved parameters in which B differs from A, in model order.

    Each entry: ``path``, ``a``, ``b`` (values), ``unit``, ``source`` (the
    documented source of the parameter's default), ``description``, and for
    files ``a_set_in`` / ``b_set_in`` (the file of the extends chain that sets
    the value, or ``default``).  ``name`` and ``description`` are left out (see
    :func:`label_diff`).  Files are loaded and validated (ScenarioError if invalid).
    """
    sa, prov_a, _ = _as_scenario(a)
    sb, prov_b, _ = _as_scenario(b)
    va = _leaves(sa.model_dump(mode="json"))
    vb = _leaves(sb.model_dump(mode="json"))
    params = parameters()
    out = []
    paths = list(va) + [k for k in vb if k not in va]
    for path in paths:
        x = va.get(path)
        if path in LABELS or vb.get(path) == x:
            continue
        mine, theirs = (va, vb) if path in va else (vb, va)
        if path not in theirs and any(k.startswith(path + ".") for k in theirs):
            continue  # an optional section absent on one side: its parameters are listed one by one
        p = params.get(path)
        entry: dict[str, Any] = {
            "path": path,
            "a": x,
            "b": vb.get(path),
            "unit": p.unit if p else None,
            "source": p.source if p else None,
            "description": p.description if p else "",
        }
        if prov_a is not None:
            entry["a_set_in"] = _set_in(prov_a, path)
        if prov_b is not None:
            entry["b_set_in"] = _set_in(prov_b, path)
        out.append(entry)
    return out


def label_diff(a: Scenario, b: Scenario) -> str:
    """One line on the names and descriptions of two scenarios."""
    names = f"name {a.name!r}" + (" (same)" if a.name == b.name else f" vs {b.name!r}")
    desc = "same description" if a.description == b.description else "descriptions differ"
    return f"{names}; {desc}"


def diff_text(a_label: str, b_label: str, sa: Scenario, sb: Scenario, rows: list[dict[str, Any]]) -> str:
    """The diff as people read it."""
    lines = [f"A: {a_label}", f"B: {b_label}", label_diff(sa, sb), ILLUSTRATIVE, ""]
    if not rows:
        return "\n".join(lines + ["no differences in the resolved parameters"]) + "\n"
    n = len(rows)
    lines.append(f"{n} parameter{'s' if n != 1 else ''} differ{'s' if n == 1 else ''}:")
    head = ("parameter", "A", "B", "unit")
    table = [(r["path"], _show(r["a"]), _show(r["b"]), r["unit"] or "") for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)]
    lines.append("  " + "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    for r, t in zip(rows, table, strict=True):
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(t, widths, strict=True)).rstrip())
        if "a_set_in" in r or "b_set_in" in r:
            lines.append(f"      set in: A {r.get('a_set_in', '?')}, B {r.get('b_set_in', '?')}")
        if r["source"]:
            lines.append(f"      source of the default: {r['source']}")
    return "\n".join(lines) + "\n"


def diff_markdown(a_label: str, b_label: str, sa: Scenario, sb: Scenario, rows: list[dict[str, Any]]) -> str:
    """The diff as a Markdown section (for reports): a table of the differing parameters."""
    lines = [f"Scenario **{b_label}** against **{a_label}** ({label_diff(sa, sb)}). {ILLUSTRATIVE}", ""]
    if not rows:
        return "\n".join(lines + ["No differences in the resolved parameters."]) + "\n"
    with_files = any("b_set_in" in r for r in rows)
    head = ["parameter", a_label, b_label, "unit", "source of the default"] + (["set in"] if with_files else [])
    lines += ["| " + " | ".join(_cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [f"`{r['path']}`", f"`{_show(r['a'])}`", f"`{_show(r['b'])}`", _cell(r["unit"]), _cell(r["source"])]
        if with_files:
            cells.append(_cell(f"{r.get('a_set_in', '?')} / {r.get('b_set_in', '?')}"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
