"""``diff A.yaml B.yaml``: the resolved parameters in which two scenarios differ."""

from __future__ import annotations

import argparse
import json
import sys

from sim.errors import UsageError
from sim.scenario.authoring import diff_text, label_diff, scenario_diff
from sim.scenario.fields import ILLUSTRATIVE
from sim.scenario.loader import ScenarioError, load_scenario


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "diff",
        help="show the resolved parameters in which two scenarios differ, with units and sources",
    )
    p.add_argument("a", metavar="A.yaml", help="first scenario (e.g. scenarios/baseline.yaml)")
    p.add_argument("b", metavar="B.yaml", help="second scenario")
    p.add_argument("--json", action="store_true", help="print the differences as JSON")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    loaded, errors = [], []
    for path in (args.a, args.b):
        try:
            loaded.append(load_scenario(path))
        except ScenarioError as exc:
            errors.append(exc.render())
    if errors:
        raise UsageError("\n".join(errors))
    sa, sb = loaded
    rows = scenario_diff(args.a, args.b)
    if args.json:
        doc = {"a": args.a, "b": args.b, "labels": label_diff(sa, sb), "note": ILLUSTRATIVE, "differences": rows}
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(diff_text(args.a, args.b, sa, sb, rows))
    return 0
