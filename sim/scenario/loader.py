"""Loading scenarios: safe YAML, ``extends:``, ``--set`` overrides, and one
validation pass that reports every error at once with its dotted path.

The YAML loader and its limits are in :mod:`sim.scenario.safe_yaml`; the
problems found in a validation error or a value are in
:mod:`sim.scenario.problems`."""

from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sim.scenario.distributions import Distribution, keep_uncertainty, unknown_path_problem
from sim.scenario.model import Scenario
from sim.scenario.problems import Problem, _known_path, _problems_from, _reject_non_finite
from sim.scenario.safe_yaml import MAX_YAML_DEPTH, _bracket_depth, _Refused, _UniqueKeyLoader

MAX_SCENARIO_BYTES = (
    256_000  # a complete, commented scenario is about 21 kB; the pure-Python YAML parser reads 256 kB in well under a second
)
MAX_EXTENDS_DEPTH = 8
SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"  # the project folder (sim/scenario/loader.py)


class ScenarioError(Exception):
    """A scenario, override or file that cannot be used; holds every problem found."""

    def __init__(self, problems: list[Problem], source: str = ""):
        self.problems = problems
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{self.source}: " if self.source else ""
        n = len(self.problems)
        lines = [f"{head}{n} problem{'s' if n != 1 else ''} found:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def parse_yaml(text: str, source: str) -> Any:
    """Safe-load YAML text; syntax errors become a ScenarioError with the line."""
    if _bracket_depth(text) > MAX_YAML_DEPTH:
        raise ScenarioError(
            [
                Problem(
                    "",
                    f"YAML refused: brackets [ {{ nested more than {MAX_YAML_DEPTH} levels deep; a scenario needs only a few levels",
                )
            ],
            source,
        )
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        what = exc.problem or exc.context or "invalid YAML"
        raise ScenarioError([Problem("", f"YAML syntax error at {where}: {what}; fix the file's syntax")], source) from None
    except _Refused as exc:
        where = f" at line {exc.mark.line + 1}, column {exc.mark.column + 1}" if exc.mark else ""
        raise ScenarioError([Problem("", f"YAML refused{where}: {exc.message}")], source) from None
    except RecursionError:
        raise ScenarioError([Problem("", "YAML nested too deeply; a scenario needs only a few levels")], source) from None
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        raise ScenarioError([Problem("", f"cannot read YAML ({type(exc).__name__}); fix the file's syntax")], source) from None


def read_scenario_file(path: str | Path) -> dict[str, Any]:
    """Read one scenario file to a dict (no extends resolution)."""
    p = Path(path)
    src = str(path)
    if not src.strip():
        raise ScenarioError([Problem("", "no file name given (an empty path); give the path of a scenario YAML file")], repr(src))
    try:
        p.exists()
    except (OSError, ValueError):
        raise ScenarioError(
            [Problem("", f"{src!r} cannot be used as a file name; give the path of a scenario YAML file")], src
        ) from None
    if not p.exists():
        raise ScenarioError([Problem("", f"file not found: {src}; give the path of a scenario YAML file")], src)
    if not p.is_file():
        what = "is a folder" if p.is_dir() else "is not a file"
        raise ScenarioError([Problem("", f"{src} {what}; give the path of a scenario YAML file")], src)
    try:
        size = p.stat().st_size
        if size > MAX_SCENARIO_BYTES:
            raise ScenarioError(
                [Problem("", f"file is {size} bytes, over the {MAX_SCENARIO_BYTES}-byte limit for scenarios")], src
            )
        with p.open("rb") as fh:
            raw = fh.read(MAX_SCENARIO_BYTES + 1)  # the file may grow after stat
    except OSError as exc:
        raise ScenarioError(
            [Problem("", f"cannot read {src} ({exc.strerror or type(exc).__name__}); check the path and its permissions")], src
        ) from None
    return parse_scenario_bytes(raw, src)


def parse_scenario_bytes(raw: bytes, src: str) -> dict[str, Any]:
    """The raw mapping of a scenario file's bytes: size-capped, UTF-8, safe
    YAML, a mapping of sections (an empty file is an empty mapping); every
    message names ``src``."""
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioError(
            [Problem("", f"the file is {len(raw):,} bytes or more, over the {MAX_SCENARIO_BYTES:,}-byte limit for scenarios")],
            src,
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError([Problem("", "the file is not UTF-8 text; save it as a UTF-8 YAML file")], src) from None
    data = parse_yaml(text, src)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError([Problem("", f"the top level must be a mapping of sections, not {type(data).__name__}")], src)
    return data


def _within(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def _resolve_extends(
    data: dict[str, Any],
    path: Path,
    depth: int,
    seen: tuple[Path, ...],
    shown: str | None = None,
    beside: bool = True,
    inherited: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """``data`` (the file at ``path``, named ``shown`` in messages) over the
    scenario it extends, resolved recursively.  ``beside=False``: the name is
    looked up in scenarios/ only (a file that is not on disk, e.g. an upload).
    ``inherited`` collects, per uncertainty entry that a file sets in part, the
    keys that come from a base file (key -> that file's name)."""
    parent_name = data.pop("extends", None)
    if parent_name is None:
        return data
    src = shown if shown is not None else str(path)
    if not isinstance(parent_name, str) or not parent_name.strip():
        raise ScenarioError([Problem("extends", "must be the file name of another scenario, e.g. baseline.yaml")], src)
    shown_name = repr(parent_name) if len(parent_name) <= 60 else repr(parent_name[:57]) + "..."
    where = (
        f"beside {src} or in scenarios/" if beside else "in scenarios/ (an uploaded file can extend a scenario of the project)"
    )
    roots = ([path.parent.resolve()] if beside else []) + [SCENARIO_DIR]
    try:
        parent = (path.parent / parent_name).resolve() if beside else (SCENARIO_DIR / parent_name).resolve()
        if not parent.exists() and (SCENARIO_DIR / parent_name).exists():
            parent = (SCENARIO_DIR / parent_name).resolve()
        found = parent.is_file()
    except (OSError, ValueError, RuntimeError):  # NUL byte, name too long, symlink loop
        raise ScenarioError(
            [Problem("extends", f"{shown_name} cannot be used as a file name; name a scenario {where}")], src
        ) from None
    if not _within(parent, roots):
        raise ScenarioError(
            [Problem("extends", f"{shown_name} is outside the scenario folders; name a scenario {where}")],
            src,
        )
    if parent in seen:
        raise ScenarioError([Problem("extends", f"circular extends through {parent.name}; remove the loop")], src)
    if depth >= MAX_EXTENDS_DEPTH:
        raise ScenarioError([Problem("extends", f"more than {MAX_EXTENDS_DEPTH} levels of extends; flatten the chain")], src)
    if not found:
        what = "is a folder, not a scenario file," if parent.exists() else "not found"
        known = {f.stem: f.name for r in roots if r.is_dir() for f in r.glob("*.yaml") if f.is_file() and f.name != path.name}
        close = difflib.get_close_matches(Path(parent_name).stem, sorted(known), n=3, cutoff=0.6)
        hint = (
            f"did you mean {' or '.join(repr(known[c]) for c in close)}?" if close else "give the file name of a scenario there"
        )
        raise ScenarioError([Problem("extends", f"{shown_name} {what} {where}; {hint}")], src)
    origins: dict[str, dict[str, str]] = {}
    base = _resolve_extends(read_scenario_file(parent), parent, depth + 1, seen + (parent,), inherited=origins)
    _note_inherited(base, data, parent.name, origins, inherited)
    return deep_merge(base, data)


def _note_inherited(
    base: dict[str, Any],
    data: dict[str, Any],
    base_name: str,
    base_origins: dict[str, dict[str, str]],
    out: dict[str, dict[str, str]] | None,
) -> None:
    """Record the keys of each uncertainty entry that ``data`` sets in part and
    ``base`` completes (the entries merge key by key, like every section)."""
    if out is None:
        return
    for entry, keys in base_origins.items():  # entries completed further down the chain
        out[entry] = dict(keys)
    mine, theirs = data.get("uncertainty"), base.get("uncertainty")
    if not isinstance(mine, dict):
        return
    if not isinstance(theirs, dict):
        theirs = {}
    for entry, spec in mine.items():
        old = theirs.get(entry)
        out.pop(str(entry), None)
        if isinstance(spec, dict) and isinstance(old, dict):
            kept = {k: base_origins.get(entry, {}).get(k, base_name) for k in old if k not in spec and old[k] is not None}
            if kept:
                out[str(entry)] = kept


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` wins; mappings merge key by key, everything else replaces."""
    out = dict(base)  # shallow: every value taken from base or over is copied below, once
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy_tree(v)
    for k in base.keys() - over.keys():
        out[k] = copy_tree(base[k])
    return out


def parse_override(item: str) -> tuple[str, Any]:
    """``dotted.path=value`` -> (path, value); the value is read as YAML."""
    if "=" not in item:
        raise ScenarioError([Problem("--set", f"{item!r} is not of the form dotted.path=value, e.g. carcinosis.probability=0.1")])
    key, _, text = item.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ScenarioError([Problem("--set", f"{item!r} has an empty name; write dotted.path=value")])
    value = parse_yaml(text, "--set " + key) if text.strip() else ""
    return key, value


def copy_tree(node: Any) -> Any:
    """A deep copy of parsed YAML/JSON data (dicts, lists, immutable scalars),
    several times faster than ``copy.deepcopy``; anything else is deep-copied."""
    if isinstance(node, dict):
        return {k: copy_tree(v) for k, v in node.items()}
    if isinstance(node, list):
        return [copy_tree(v) for v in node]
    if node is None or isinstance(node, (str, int, float, bool)):
        return node
    return copy.deepcopy(node)


def apply_overrides(data: dict[str, Any], overrides: list[str] | dict[str, Any]) -> dict[str, Any]:
    """Set each dotted path in a raw scenario dict; unknown paths are reported."""
    out = copy_tree(data)
    items = list(overrides.items()) if isinstance(overrides, dict) else [parse_override(o) for o in overrides]
    problems: list[Problem] = []
    for key, value in items:
        parts = key.split(".")
        if parts[0] == "uncertainty" and len(parts) > 1:  # entries are named by dotted paths themselves
            unknown = _set_uncertainty(out, parts[1:], value)
            if unknown:
                problems.append(Problem(key, unknown))
            continue
        known = _known_path(parts)
        if known is not None:
            problems.append(Problem(key, known))
            continue
        node = out
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    if problems:
        raise ScenarioError(problems, "--set")
    return out


def _set_uncertainty(data: dict[str, Any], parts: list[str], value: Any) -> str | None:
    """``--set uncertainty.PATH.KEY=value`` (one key of the entry of parameter PATH)
    or ``--set uncertainty.PATH={...}`` (the entry, merged key by key like a file's);
    the entry is checked by validation.  Returns the problem of a key set in
    an entry the scenario does not have, for a path that names no parameter."""
    section = data.get("uncertainty")
    if not isinstance(section, dict):
        section = data["uncertainty"] = {}
    if len(parts) > 1 and parts[-1] in Distribution.model_fields:
        entry, key = ".".join(parts[:-1]), parts[-1]
        spec = section.get(entry)
        if not isinstance(spec, dict) and unknown_path_problem(entry, Scenario):
            return unknown_path_problem(entry, Scenario)
        section[entry] = {**(spec if isinstance(spec, dict) else {}), key: value}
    else:
        entry = ".".join(parts)
        spec = section.get(entry)
        section[entry] = deep_merge(spec, value) if isinstance(spec, dict) and isinstance(value, dict) else value
    return None


@functools.lru_cache(maxsize=1)
def _defaults() -> dict[str, Any]:
    return Scenario().model_dump(mode="json")


def validate(data: dict[str, Any], source: str = "", inherited: dict[str, dict[str, str]] | None = None) -> Scenario:
    """Validate a raw scenario dict completely; every problem is reported at once.

    The data is laid over the complete defaults first, so a section given in
    part (one primary's Weibull shape, one service's capacity) keeps the
    defaults of everything it does not mention.  ``inherited`` (from
    :func:`load_raw`): keys of uncertainty entries that come from a base file,
    named as such in the problems they cause."""
    problems: list[Problem] = []
    try:
        _reject_non_finite(data, "", problems)
    except RecursionError:
        raise ScenarioError([Problem("", "structure nested too deeply (or containing itself)")], source) from None
    if problems:
        raise ScenarioError(_with_origins(problems, inherited), source)
    try:
        return Scenario.model_validate(deep_merge(_defaults(), data))
    except ValidationError as exc:
        raise ScenarioError(_with_origins(_problems_from(exc), inherited), source) from None
    except RecursionError:
        raise ScenarioError([Problem("", "structure nested too deeply")], source) from None


def _with_origins(problems: list[Problem], inherited: dict[str, dict[str, str]] | None) -> list[Problem]:
    """Problems of an uncertainty entry that a file sets in part, with the keys
    that come from its base file named, and how to replace the base's entry."""
    if not inherited:
        return problems
    out = []
    for pr in problems:
        for entry, keys in inherited.items():
            head = f"uncertainty.{entry}"
            if pr.path != head and not pr.path.startswith(head + "."):
                continue
            leaf = pr.path[len(head) + 1 :]
            named = [
                k for k in keys if k == leaf or f"'{k}'" in pr.message or re.search(rf"given: .*\b{re.escape(k)}\b", pr.message)
            ]
            if named:
                files = sorted({keys[k] for k in named})
                nulls = ", ".join(f"{k}: null" for k in keys if k not in ("distribution", "source"))
                pr = Problem(
                    pr.path,
                    f"{pr.message} ({', '.join(repr(k) for k in named)} {'comes' if len(named) == 1 else 'come'} from "
                    f"{' and '.join(files)}, which this file extends; an entry merges key by key with the base's, so to "
                    f"replace the base's distribution remove its keys here with {nulls})",
                )
            break
        out.append(pr)
    return out


def load_raw(path: str | Path, inherited: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """The raw dict of a scenario file with its ``extends`` chain merged in
    (``inherited``: filled as described in :func:`_resolve_extends`)."""
    p = Path(path)
    data = read_scenario_file(p)
    return _resolve_extends(data, p.resolve(), 0, (p.resolve(),), shown=str(path), inherited=inherited)


def resolve_upload(data: dict[str, Any], name: str, inherited: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """The raw dict of a scenario that is not a file on disk (an upload named
    ``name``), its ``extends:`` looked up in scenarios/."""
    return _resolve_extends(
        copy_tree(data), SCENARIO_DIR / "(uploaded file)", 0, (), shown=name, beside=False, inherited=inherited
    )


def load_scenario(path: str | Path, overrides: list[str] | dict[str, Any] | None = None) -> Scenario:
    """Load, merge ``extends``, apply overrides, validate. Raises ScenarioError."""
    inherited: dict[str, dict[str, str]] = {}
    data = load_raw(path, inherited)
    if not overrides:
        return validate(data, str(path), inherited)
    data = apply_overrides(data, overrides)
    try:
        return validate(data, str(path), inherited)
    except ScenarioError as exc:
        keys = list(overrides) if isinstance(overrides, dict) else [parse_override(o)[0] for o in overrides]
        raise ScenarioError([_from_override(p, keys) for p in exc.problems], exc.source) from None


def _from_override(problem: Problem, keys: list[str]) -> Problem:
    """A problem in a value given by ``--set`` (not by the file) says so."""
    for key in reversed(keys):  # the last override of a path is the one in force
        if problem.path == key or problem.path.startswith(key + "."):
            return Problem(problem.path, f"{problem.message} (the value given by --set {key}=...)")
    return problem


def with_overrides(scenario: Scenario, overrides: dict[str, Any] | list[str]) -> Scenario:
    """A copy of a validated scenario with dotted-path overrides, validated again
    (its uncertainty section, which the dump leaves out, kept as it was)."""
    return keep_uncertainty(validate(apply_overrides(scenario.model_dump(mode="json"), overrides), "overrides"), scenario)


def resolved_yaml(scenario: Scenario) -> str:
    """The fully resolved scenario as YAML: reproduces the run on its own."""
    header = "# Resolved scenario. Parameters are illustrative, not clinically validated.\n"
    return header + yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def scenario_sha256(scenario: Scenario) -> str:
    """Hash of the canonical JSON of the resolved scenario (the run settings included)."""
    canon = json.dumps(scenario.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()
