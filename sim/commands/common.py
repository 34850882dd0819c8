"""Arguments and loading shared by the commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..loader import load_scenario
from ..scenario import Scenario


def add_scenario_args(p: argparse.ArgumentParser, run_flags: bool = True) -> None:
    """SCENARIO plus --set overrides (and the run settings flags)."""
    p.add_argument("scenario", help="scenario YAML file, e.g. scenarios/baseline.yaml")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="dotted.path=value",
        help="override one parameter, e.g. --set carcinosis.probability=0.1 (repeatable)",
    )
    if run_flags:
        p.add_argument("--patients", type=int, help="cohort size (overrides run.patients)")
        p.add_argument("--seed", type=int, help="root seed (overrides run.seed)")
        p.add_argument("--horizon-months", type=float, help="follow-up in months (overrides run.horizon_months)")


def run_overrides(args: argparse.Namespace) -> list[str]:
    """The --set list plus the run flags as overrides (validated the same way)."""
    out = list(args.overrides)
    for flag, path in (("patients", "run.patients"), ("seed", "run.seed"), ("horizon_months", "run.horizon_months")):
        v = getattr(args, flag, None)
        if v is not None:
            out.append(f"{path}={v}")
    return out


def load_from_args(args: argparse.Namespace, path: str | None = None) -> Scenario:
    return load_scenario(Path(path or args.scenario), run_overrides(args))


def say(args: argparse.Namespace, text: str) -> None:
    """Human output on stdout unless --quiet."""
    if not getattr(args, "quiet", False):
        print(text)


def progress_bar(args: argparse.Namespace, label: str) -> Any:
    """A progress callback drawing on stderr when it is a terminal (never with --quiet)."""
    if getattr(args, "quiet", False) or not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / max(total, 1))
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show
