"""Reviewing and writing scenarios from the parameter catalogue of
:mod:`sim.scenario.reference`:

- :func:`explain`: one parameter or section, and where in the course it acts;
- :func:`new_scenario_text`: a new scenario that ``extends:`` a base, with commented examples;
- :func:`scenario_diff`: the resolved parameters in which two scenarios differ.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from typing import Any

from sim.oserrors import atomic_file
from sim.scenario.fields import ILLUSTRATIVE
from sim.scenario.loader import SCENARIO_DIR, load_scenario, read_scenario_file
from sim.scenario.model import Scenario
from sim.scenario.reference import (
    LABELS,
    SCHEMA_FILE,
    _cell,
    _show,
    catalogue,
    parameters,
    sections,
    where_it_acts,
)

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
