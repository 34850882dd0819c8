"""``validate SCENARIO``: exit 0 and "valid", or exit 2 with every problem."""

from __future__ import annotations

import argparse

from sim.cli.commands.common import add_scenario_args, load_from_args


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("validate", help="check a scenario file and report every problem")
    add_scenario_args(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    s = load_from_args(args)
    print(f"valid: {args.scenario} (scenario {s.name!r}; parameters are illustrative, not clinically validated)")
    return 0
