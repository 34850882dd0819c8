"""``report RESULTS_DIR``: write report.html (self-contained, offline, printable)
and report.xlsx into a results folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.cli.commands.common import progress_bar, say
from sim.errors import UsageError
from sim.outputs.results import NotAResultsFolder


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("report", help="write report.html and report.xlsx for a results folder")
    p.add_argument("results", metavar="RESULTS_DIR", help="a results folder written by 'run_sim.py run'")
    p.add_argument("--no-excel", action="store_true", help="write report.html only")
    p.add_argument("--quiet", action="store_true", help="no progress or messages on the terminal")
    p.set_defaults(func=main)


def make_report(path: Path, args: argparse.Namespace, excel: bool = True) -> dict[str, Path]:
    """Write the report files (bad folders become a usage error, exit 2)."""
    from sim.present.report import write_report

    # what stays true if the report stops (interrupted, disk full): its files are put in place only when complete
    previous = getattr(args, "kept", None), getattr(args, "resume_hint", None)
    args.kept = f"no report was written; the results in {path} are as they were"
    args.resume_hint = f"to write the report, run: run_sim.py report {path}"
    try:
        files = write_report(path, excel=excel, progress=progress_bar(args, "report"))
    except NotAResultsFolder as exc:
        raise UsageError(str(exc)) from None
    args.kept, args.resume_hint = previous
    return files


def main(args: argparse.Namespace) -> int:
    out = make_report(Path(args.results), args, excel=not args.no_excel)
    say(
        args,
        "Report written: " + ", ".join(str(p) for p in out.values()) + "\nParameters are illustrative, not clinically validated.",
    )
    return 0
