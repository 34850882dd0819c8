"""Safe YAML for scenario files: a SafeLoader that refuses duplicate keys,
documents nested too deeply, too many aliases or values (every alias
expanded) and integers too large to be a scenario value.

:func:`sim.scenario.loader.parse_yaml` parses with :class:`_UniqueKeyLoader`
and turns a :class:`_Refused` document into a ``ScenarioError`` with its line.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import yaml

MAX_YAML_DEPTH = 50  # nesting levels of mappings and lists (a scenario needs about 6)
MAX_YAML_ALIASES = 100  # uses of ``*anchor`` in one document
MAX_YAML_VALUES = 5_000  # values in a document, every alias expanded (a complete scenario has about 600)
MAX_INT_BITS = 256  # integers beyond this are refused before they reach any formatting


class _Refused(yaml.YAMLError):
    """A document refused for its shape (too deep, too many aliases, too large once expanded)."""

    def __init__(self, message: str, mark: Any = None):
        super().__init__(message)
        self.message = message
        self.mark = mark


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe loader that refuses duplicate keys (a silent overwrite hides typos),
    deep nesting, many aliases, documents that aliases expand past a size
    limit ("billion laughs"), recursive aliases and huge integers."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise _Refused(
                    f"more than {MAX_YAML_ALIASES} aliases (*name); write the values out", self.peek_event().start_mark
                )
        self._nodes += 1
        if self._nodes > MAX_YAML_VALUES:  # stop early: parsing a huge document is slow in itself
            raise _Refused(
                f"more than {MAX_YAML_VALUES:,} values; a complete scenario has about 600", self.peek_event().start_mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _Refused(
                    f"nested more than {MAX_YAML_DEPTH} levels deep; a scenario needs only a few levels",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node: Any) -> Any:
        _check_expanded(node)
        return super().construct_document(node)


def _check_expanded(root: Any) -> None:
    """Count the values of a node tree as if every alias were written out;
    refuse recursive aliases and trees over MAX_YAML_VALUES (stops as soon
    as the limit is passed, so the check itself is cheap)."""
    count = 0
    on_path: set[int] = set()

    def walk(node: Any, depth: int) -> None:
        nonlocal count
        count += 1
        if count > MAX_YAML_VALUES:
            raise _Refused(
                f"the document expands to more than {MAX_YAML_VALUES:,} values (through aliases); write the values out",
                node.start_mark,
            )
        if depth > MAX_YAML_DEPTH:
            raise _Refused(f"nested more than {MAX_YAML_DEPTH} levels deep (through aliases)", node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            return
        if id(node) in on_path:
            raise _Refused("an alias refers to a value that contains it (recursive alias); remove the loop", node.start_mark)
        on_path.add(id(node))
        children = [x for pair in node.value for x in pair] if isinstance(node, yaml.MappingNode) else node.value
        for child in children:
            walk(child, depth + 1)
        on_path.discard(id(node))

    walk(root, 0)


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            raise _Refused(
                "merge keys (<<) are not supported; write the keys out, or put the shared values in a base "
                "scenario that this file extends (extends: BASE.yaml)",
                key_node.start_mark,
            )
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise yaml.constructor.ConstructorError(None, None, "mapping keys must be plain names", key_node.start_mark)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}; keep only one", key_node.start_mark)
        seen[key] = loader.construct_object(value_node, deep=deep)  # type: ignore[no-untyped-call]
    return seen


def _construct_int(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> int:
    value = yaml.SafeLoader.construct_yaml_int(loader, node)  # type: ignore[no-untyped-call]
    if abs(value).bit_length() > MAX_INT_BITS:
        raise _Refused("an integer is far too large to be a scenario value; give a smaller number", node.start_mark)
    return int(value)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)  # type: ignore[arg-type]
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)  # type: ignore[arg-type]


_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_BRACKETS = re.compile(r"[][{}]")


def _bracket_depth(text: str) -> int:
    """Deepest nesting of flow brackets (quotes not excluded: an upper bound).
    Checked before parsing, because PyYAML's scanner slows down on a long
    run of open brackets before its own nesting limit is reached."""
    steps = map(_BRACKET_STEP.__getitem__, _BRACKETS.findall(text))
    return max(itertools.accumulate(steps, initial=0))
