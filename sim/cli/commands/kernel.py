"""``kernel build|status|clean``: the compiled course kernel (optional, same results, faster)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "kernel",
        help="compile the course kernel with mypyc (same results, about 3.5 times as fast), or show which kernel runs",
    )
    p.add_argument("action", choices=("build", "status", "clean"), nargs="?", default="status")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from sim import kernel

    if args.action == "build":
        kernel.build()
        return 0  # a failed build is not an error: the Python kernel runs, and the reason was printed
    if args.action == "clean":
        kernel.clean()
        return 0
    state, why = kernel.decide()
    print(f"kernel: {state} ({why})")
    return 0
