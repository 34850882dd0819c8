"""``bench [--quick]``: measure speed and memory on this machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.cli.commands.common import given


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench", help="measure speed and memory (writes benchmarks/results.json and results.md)")
    p.add_argument("--quick", action="store_true", help="small sizes: check the suite works (for CI)")
    p.add_argument(
        "--out",
        default=None,
        type=given("a folder path"),
        help="folder for results.json and results.md (default benchmarks/, or a temporary folder with --quick)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="runs of each cohort and PSA case, the fastest reported (default 3 up to 100,000 patients, 2 above; 1 with --quick)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress on the terminal")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from sim.errors import UsageError
    from sim.experiments.bench import ROOT, check_out, markdown, run_suite, write

    def progress(i: int, n: int, what: str) -> None:
        if not args.quiet:
            sys.stderr.write(f"[{i}/{n}] {what}\n")

    if args.repeat is not None and args.repeat < 1:
        sys.stderr.write(f"error: --repeat {args.repeat}: give 1 or more runs per case\n")
        return 2
    out = Path(args.out) if args.out else ROOT / ("benchmarks/quick" if args.quick else "benchmarks")
    try:
        check_out(out)  # before the benchmark, not after it
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    doc = run_suite(quick=args.quick, progress=progress, repeat=args.repeat)
    j, md = write(doc, out)
    if not args.quiet:
        print(markdown(doc))
        print(f"written: {j} and {md}")
    errors = [r for r in doc["cohort"] + doc["psa"] + [doc["population"] or {}, doc["dashboard"] or {}] if "error" in r]
    return 1 if errors else 0
