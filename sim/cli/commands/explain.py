"""``explain PARAM``: one parameter's description, unit, default, range, source and where it acts."""

from __future__ import annotations

import argparse
import sys

from sim.cli.commands.common import given
from sim.errors import UsageError
from sim.scenario import authoring


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "explain",
        help="describe one parameter (or section): unit, default, range, source, where in the course it acts",
    )
    p.add_argument("param", metavar="PARAM", help="dotted path, e.g. carcinosis.probability (a section lists its parameters)")
    p.add_argument(
        "--in",
        dest="scenario",
        type=given("a scenario file"),
        metavar="SCENARIO",
        help="also show the value in this scenario file and which file sets it",
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        text = authoring.explain(args.param, args.scenario)
    except authoring.UnknownParameter as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(text)
    return 0
