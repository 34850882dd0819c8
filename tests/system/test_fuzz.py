"""Property-based tests (Hypothesis) of every way a scenario gets in: the
loader (text and bytes), ``--set`` overrides (in the library and through the
command line) and the dashboard's upload path.

Each generated input must either load or be refused with a ScenarioError
(exit status 2 on the command line) whose problems say where and what, within
the per-example deadline of one second; any other exception, a traceback or a
hang fails the test.  The runs are derandomized (same inputs on every CI run)
and the number of inputs tried is printed in the terminal summary.
"""

from __future__ import annotations

import contextlib
import io
import math
import signal
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sim.cli.main import main
from sim.scenario.loader import (
    MAX_SCENARIO_BYTES,
    ScenarioError,
    apply_overrides,
    load_scenario,
    parse_yaml,
    read_scenario_file,
    validate,
)
from sim.scenario.model import Scenario
from sim.scenario.problems import Problem

from ..conftest import SCENARIOS, fuzz_count

FUZZ = settings(
    deadline=1000,  # ms: every input is answered within a second
    derandomize=True,  # the same inputs on every CI run
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)

HANG_SECONDS = 10  # a single input taking this long is a hang (the deadline catches anything over 1 s first)


@contextlib.contextmanager
def no_hang() -> Iterator[None]:
    """Fail (instead of waiting for ever) if one input takes HANG_SECONDS."""

    def alarm(signum: int, frame: Any) -> None:
        raise AssertionError(f"input not answered within {HANG_SECONDS} s (hang)")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ----------------------------------------------------------------------------- the scenario's own paths


def _leaf_paths(model: Any, prefix: str = "") -> list[str]:
    out: list[str] = []
    for name, info in model.model_fields.items():
        sub = None
        for a in (info.annotation, *getattr(info.annotation, "__args__", ())):
            if isinstance(a, type) and hasattr(a, "model_fields"):
                sub = a
        path = f"{prefix}{name}"
        out += _leaf_paths(sub, path + ".") if sub is not None else [path]
    return out


LEAVES = _leaf_paths(Scenario)
SECTIONS = sorted({p.rsplit(".", 1)[0] for p in LEAVES if "." in p})
FIELD_WORDS = {part for p in LEAVES for part in p.split(".")}


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    node = data
    parts = path.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


# ----------------------------------------------------------------------------- value strategies

odd_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",))
    | st.sampled_from(list("\u0000\u200b\u202e\ufeff\U0001f600é中\n\t\r :-#&*!|>{}[],'\"%@`")),
    max_size=40,
)
extreme_floats = st.sampled_from(
    [math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324, 1e-300, 1e-12, 1e12, 1e300, 1.7976931348623157e308, -1e300]
)
extreme_ints = st.sampled_from([0, -1, 1, 2**31, 2**63, 2**64, -(2**63), 10**18, 10**40, 2**300, -(2**300)])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    extreme_ints,
    st.floats(allow_nan=True, allow_infinity=True),
    extreme_floats,
    odd_text,
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.one_of(odd_text, st.sampled_from(sorted(FIELD_WORDS))), inner, max_size=5)
    ),
    max_leaves=20,
)


@st.composite
def scenario_like(draw: st.DrawFn) -> dict[str, Any]:
    """A scenario dict with some real paths given random values, plus some junk keys."""
    data: dict[str, Any] = {}
    for path in draw(st.lists(st.sampled_from(LEAVES + SECTIONS), max_size=6)):
        _set(data, path, draw(values))
    if draw(st.booleans()):
        data.update(draw(st.dictionaries(odd_text, values, max_size=3)))
    return data


def _dump(data: Any) -> str:
    try:
        return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, ValueError, RecursionError):
        return yaml.safe_dump(data, allow_unicode=False, sort_keys=False)


def billion_laughs(levels: int, width: int, alias_top: bool) -> str:
    lines = ["a0: &a0 [lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    if alias_top:
        lines.append(f"description: *a{levels}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- checks


def check_refusal(exc: ScenarioError, parsed_mapping: bool) -> None:
    """A refusal lists problems, each saying where and what."""
    assert exc.problems, "a ScenarioError without problems"
    text = exc.render()
    assert "Traceback" not in text
    for p in exc.problems:
        assert isinstance(p, Problem) and p.message.strip()
        if parsed_mapping and not p.path:
            # a whole-scenario problem still names the field(s) in its message
            assert any(w in p.message for w in FIELD_WORDS) or any(w in p.message for w in ("YAML", "nested", "key ")), p


def load_text(tmp: Path, text: str | bytes) -> None:
    """Write the input as a file and load it: load or ScenarioError, nothing else."""
    f = tmp / "fuzz.yaml"
    if isinstance(text, str):
        f.write_text(text, encoding="utf-8", errors="surrogatepass")
    else:
        f.write_bytes(text)
    with no_hang():
        try:
            parsed = read_scenario_file(f)
        except ScenarioError as exc:
            check_refusal(exc, parsed_mapping=False)
            return
        try:
            s = load_scenario(f)
        except ScenarioError as exc:
            check_refusal(exc, parsed_mapping=isinstance(parsed, dict) and "extends" not in parsed)
            return
    assert isinstance(s, Scenario)
    assert_all_finite(s)


def assert_all_finite(s: Scenario) -> None:
    """A scenario that loads holds no NaN or infinity anywhere (its uncertainty section included)."""

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(v, f"{path}.{i}")
        elif isinstance(node, float):
            assert math.isfinite(node), f"{path} = {node} was taken in"

    walk(s.model_dump(mode="python"), "")
    walk({k: v.model_dump() for k, v in s.uncertainty.items()}, "uncertainty")


# ----------------------------------------------------------------------------- the loader


not_numbers = st.sampled_from(
    ["nan", "NaN", " nan ", "inf", "-inf", "+Infinity", "1e999", "-1e400", True, False, math.nan, math.inf, -math.inf]
)


def _number_leaf(path: str) -> bool:
    from sim.scenario.uncertainty import resolve

    try:
        _, info, sub = resolve(path)
    except KeyError:
        return False
    return sub is None and info.annotation in (int, float, int | None, float | None)


@settings(FUZZ, max_examples=150)
@given(path=st.sampled_from([p for p in LEAVES if _number_leaf(p)]), value=not_numbers)
def test_a_number_field_refuses_what_is_not_a_number(tmp_path: Path, path: str, value: Any) -> None:
    """NaN, infinities (also as text) and true/false where a number goes: refused at that path, never taken in."""
    fuzz_count("loader: not-a-number values")
    data: dict[str, Any] = {}
    _set(data, path, value)
    with pytest.raises(ScenarioError) as err:
        validate(data, "fuzz")
    assert [p.path for p in err.value.problems] == [path], err.value


@settings(FUZZ, max_examples=300)
@given(data=scenario_like())
def test_random_scenario_structures(tmp_path: Path, data: dict[str, Any]) -> None:
    fuzz_count("loader: scenario-shaped structures")
    load_text(tmp_path, _dump(data))
    with no_hang():  # and the same dict straight into validate
        try:
            validate(data, "fuzz")
        except ScenarioError as exc:
            check_refusal(exc, parsed_mapping=True)


@settings(FUZZ, max_examples=150)
@given(data=values)
def test_random_yaml_values(tmp_path: Path, data: Any) -> None:
    fuzz_count("loader: any YAML value")
    load_text(tmp_path, _dump(data))


@settings(FUZZ, max_examples=150)
@given(text=st.text(max_size=400) | st.text(alphabet=st.sampled_from(list("{}[]:-,&*!|>'\"#?%@ \n\tab01.eE+x")), max_size=400))
def test_random_text(tmp_path: Path, text: str) -> None:
    fuzz_count("loader: random text")
    load_text(tmp_path, text)


@settings(FUZZ, max_examples=100)
@given(blob=st.binary(max_size=600))
def test_random_bytes(tmp_path: Path, blob: bytes) -> None:
    fuzz_count("loader: random bytes")
    load_text(tmp_path, blob)


BASELINE_TEXT = (SCENARIOS / "baseline.yaml").read_text(encoding="utf-8")


@settings(FUZZ, max_examples=150)
@given(
    cuts=st.lists(st.tuples(st.integers(0, len(BASELINE_TEXT)), st.integers(0, 30), odd_text), min_size=1, max_size=4),
)
def test_mutated_baseline(tmp_path: Path, cuts: list[tuple[int, int, str]]) -> None:
    """The shipped baseline with random cuts and insertions (typos, lost indentation)."""
    fuzz_count("loader: mutated baseline file")
    text = BASELINE_TEXT
    for at, n, ins in cuts:
        at = min(at, len(text))
        text = text[:at] + ins + text[at + n :]
    load_text(tmp_path, text)


@settings(FUZZ, max_examples=40)
@given(levels=st.integers(1, 40), width=st.integers(2, 12), alias_top=st.booleans())
def test_alias_expansion_is_bounded(tmp_path: Path, levels: int, width: int, alias_top: bool) -> None:
    """ "Billion laughs": aliases that expand exponentially are refused quickly."""
    fuzz_count("loader: alias bombs")
    text = billion_laughs(levels, width, alias_top)
    load_text(tmp_path, text)
    if width**levels > 200_000:
        with pytest.raises(ScenarioError, match="aliases|nested"):
            parse_yaml(text, "bomb")


@settings(FUZZ, max_examples=30)
@given(depth=st.integers(1, 20_000), kind=st.sampled_from(["[", "{a: ", "- ", "a:\n "]))
def test_deep_nesting(tmp_path: Path, depth: int, kind: str) -> None:
    fuzz_count("loader: deep nesting")
    if kind == "a:\n ":
        text = "".join(" " * i + "a:\n" for i in range(min(depth, 3000)))
    elif kind == "- ":
        text = "".join(" " * (2 * i) + "-\n" for i in range(min(depth, 3000)))
    else:
        text = kind * depth
    load_text(tmp_path, text)


def test_fixed_hostile_inputs(tmp_path: Path) -> None:
    """Inputs that crashed or hung the loader before it was hardened."""
    cases = {
        "recursive alias": "description: &x [*x]\n",
        "recursive alias in a mapping": "a: &x {b: [*x]}\n",
        "billion laughs": billion_laughs(9, 9, True),
        "huge hex integer": "run:\n  patients: 0x" + "f" * 5000 + "\n",
        "huge integer as a name": "name: 0x" + "f" * 5000 + "\n",
        "NUL in extends": 'extends: "a\\0b"\n',
        "overlong extends": "extends: " + "a" * 5000 + "\n",
        "deep flow nesting": "[" * 400_000,
        "empty": "",
        "only a comment": "# nothing\n",
        "a list": "- 1\n- 2\n",
        "a scalar": "42\n",
        "BOM": "\ufeffname: x\n",
        "duplicate keys": "name: a\nname: b\n",
        "python tag": "name: !!python/object/apply:os.system [echo hi]\n",
        "merge key": "x: &a {patients: 3}\nrun: {<<: *a}\n",
        "nan": "run: {horizon_months: .nan}\n",
        "inf": "run: {horizon_months: .inf}\n",
        "tiny": "run: {horizon_months: 1.0e-320}\n",
        "complex key": "? [1, 2]\n: 3\n",
        "date": "name: 2001-01-01\n",
        "binary": "name: !!binary aGVsbG8=\n",
        "surrogate escape": 'name: "\\ud800"\n',
        "lone surrogate key": '"\\udfff": 1\n',
    }
    for label, text in cases.items():
        fuzz_count("loader: fixed hostile inputs")
        try:
            load_text(tmp_path, text)
        except AssertionError as exc:  # pragma: no cover - a message that says which
            raise AssertionError(f"{label}: {exc}") from exc
    for label in ("huge hex integer", "billion laughs", "recursive alias", "NUL in extends", "deep flow nesting"):
        f = tmp_path / "x.yaml"
        f.write_text(cases[label], encoding="utf-8")
        with pytest.raises(ScenarioError):
            load_scenario(f)


def _big(kind: str) -> str:
    m = MAX_SCENARIO_BYTES - 64
    return {
        "newlines": "\n" * m,
        "comment": "#" * m,
        "plain scalar": "description: " + "ab " * (m // 3),
        "block scalar": "description: |\n" + "  a\n" * (m // 4),
        "many keys": "".join(f"k{i}: {i}\n" for i in range(m // 16)),
        "long list": "description:\n" + "- 1\n" * (m // 4),
        "flow list": "description: [" + "1," * (m // 2) + "1]",
        "open brackets": "[" * m,
        "open braces": "{a: " * (m // 4),
        "indented keys": "".join(" " * i + "a:\n" for i in range(700)),
    }[kind]


@settings(FUZZ, max_examples=10)
@given(
    kind=st.sampled_from(
        [
            "newlines",
            "comment",
            "plain scalar",
            "block scalar",
            "many keys",
            "long list",
            "flow list",
            "open brackets",
            "open braces",
            "indented keys",
        ]
    )
)
def test_files_at_the_size_cap(tmp_path: Path, kind: str) -> None:
    """The slowest inputs the size cap lets through are still answered within the deadline."""
    fuzz_count("loader: files at the size cap")
    text = _big(kind)
    assert len(text.encode()) <= MAX_SCENARIO_BYTES
    load_text(tmp_path, text)


def test_size_cap(tmp_path: Path) -> None:
    f = tmp_path / "big.yaml"
    f.write_text("description: x\n" + "#" * (MAX_SCENARIO_BYTES + 1), encoding="utf-8")
    fuzz_count("loader: fixed hostile inputs")
    with pytest.raises(ScenarioError, match="limit"):
        load_scenario(f)


# ----------------------------------------------------------------------------- --set overrides

path_parts = st.one_of(
    st.sampled_from(sorted(FIELD_WORDS)),
    st.text(alphabet=string.ascii_letters + string.digits + "_-. ", min_size=0, max_size=12),
    odd_text,
)
dotted = st.one_of(
    st.sampled_from(LEAVES + SECTIONS),
    st.lists(path_parts, min_size=1, max_size=5).map(".".join),
    st.builds(lambda a, b: f"{a}.{b}", st.sampled_from(LEAVES + SECTIONS), path_parts),
)
value_text = st.one_of(
    scalars.map(lambda v: _dump(v).strip().removesuffix("...").strip()),
    values.map(lambda v: yaml.safe_dump(v, default_flow_style=True, allow_unicode=True).strip()),
    odd_text,
    st.sampled_from(
        [
            "50",
            "1e400",
            "1.0e+400",
            ".nan",
            "-.inf",
            "0x" + "f" * 2000,
            "&a [*a]",
            "[[[[[[",
            "{",
            "!!python/name:os.system",
            "~",
            "",
        ]
    ),
)
override = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", dotted, value_text),
    odd_text,  # with or without '='
)


@settings(FUZZ, max_examples=300)
@given(items=st.lists(override, min_size=1, max_size=4))
def test_overrides_library(items: list[str]) -> None:
    fuzz_count("--set: apply_overrides + validate")
    with no_hang():
        try:
            validate(apply_overrides({}, items), "fuzz")
        except ScenarioError as exc:
            check_refusal(exc, parsed_mapping=False)
            for p in exc.problems:  # an override problem names the override or the field
                assert p.path or p.message


@pytest.fixture(scope="module")
def defaults_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    f = tmp_path_factory.mktemp("fuzzcli") / "plain.yaml"
    f.write_text("name: fuzz\n", encoding="utf-8")
    return f


@settings(FUZZ, max_examples=150)
@given(items=st.lists(override, min_size=1, max_size=3))
def test_overrides_command_line(defaults_file: Path, items: list[str]) -> None:
    """``validate FILE --set ...`` exits 0 or 2 with 'error: ...' and never a traceback."""
    fuzz_count("--set: run_sim.py validate")
    argv = ["validate", str(defaults_file)]
    for item in items:
        assume("\x00" not in item)  # argv cannot carry a NUL byte
        argv += ["--set", item]
    err, out = io.StringIO(), io.StringIO()
    with no_hang(), contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own refusals (e.g. an item starting with '-')
            code = exc.code
    assert code in (0, 2), (argv, code, err.getvalue())
    assert "Traceback" not in err.getvalue()
    if code == 2 and err.getvalue():
        assert err.getvalue().startswith(("error:", "usage:")), err.getvalue()


# ----------------------------------------------------------------------------- the dashboard's upload path

core = pytest.importorskip("dashboard.core", reason="the dashboard needs streamlit")


def upload(name: str, data: bytes) -> None:
    """What the Scenario page does with an uploaded file, without Streamlit."""
    with no_hang():
        try:
            raw = core.read_upload(name, data)
            s = core.build(raw, {}, name)
        except ScenarioError as exc:
            check_refusal(exc, parsed_mapping=False)
            return
    assert isinstance(s, Scenario)


@settings(FUZZ, max_examples=200)
@given(
    data=st.one_of(
        scenario_like().map(lambda d: _dump(d).encode("utf-8", "surrogatepass")),
        values.map(lambda d: _dump(d).encode("utf-8", "surrogatepass")),
        st.binary(max_size=400),
        st.builds(billion_laughs, st.integers(1, 30), st.integers(2, 10), st.booleans()).map(str.encode),
        st.sampled_from(
            [
                "extends: baseline.yaml\n",
                "extends: /etc/passwd\n",
                "extends: ../../etc/passwd\n",
                "extends: /dev/zero\n",
                "extends: [1]\n",
            ]
        ).map(str.encode),
    ),
    name=odd_text,
)
def test_dashboard_upload(data: bytes, name: str) -> None:
    fuzz_count("dashboard: read_upload + build")
    upload(name or "upload.yaml", data)


def test_dashboard_upload_size_cap() -> None:
    fuzz_count("dashboard: read_upload + build")
    with pytest.raises(ScenarioError, match="limit"):
        core.read_upload("big.yaml", b"#" * (MAX_SCENARIO_BYTES + 1))
