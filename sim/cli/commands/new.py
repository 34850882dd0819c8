"""``new NAME [--from BASE] [--dir DIR]``: start a scenario that extends another."""

from __future__ import annotations

import argparse

from sim.errors import UsageError
from sim.scenario import authoring


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "new",
        help="write a new scenario that extends a base, with the usual changes as comments (never overwrites)",
    )
    p.add_argument("name", metavar="NAME", help="scenario name, also the file name (NAME.yaml)")
    p.add_argument("--from", dest="base", default="baseline", metavar="BASE", help="scenario to extend (default baseline)")
    p.add_argument("--dir", default="scenarios", help="folder to write NAME.yaml in (default scenarios)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        path = authoring.write_new_scenario(args.name, args.base, args.dir)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    base = authoring.resolve_base(args.base, path.parent)
    print(f"written: {path} (valid; extends {base.name}). {authoring.ILLUSTRATIVE}")
    print(f"next: edit it, then review it with  python run_sim.py diff {base} {path}")
    return 0
