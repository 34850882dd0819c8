"""Arguments and loading shared by the commands."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim.errors import UsageError
from sim.runtime.dask_backend import connect
from sim.runtime.workers import WORKER_MEMORY, WORKERS_PER_CORE, BackendError, default_workers, max_workers
from sim.scenario.loader import load_scenario
from sim.scenario.model import Scenario


def add_scenario_args(p: argparse.ArgumentParser, run_flags: bool = True) -> None:
    """SCENARIO plus --set overrides (and the run settings flags)."""
    p.add_argument("scenario", type=given("a scenario file"), help="scenario YAML file, e.g. scenarios/baseline.yaml")
    add_set_arg(p, "override one parameter, e.g. --set carcinosis.probability=0.1 (repeatable)")
    if run_flags:
        p.add_argument("--patients", type=run_value("patients"), help="cohort size (overrides run.patients)")
        p.add_argument("--seed", type=run_value("seed"), help="root seed (overrides run.seed)")
        p.add_argument(
            "--horizon-months", type=run_value("horizon_months"), help="follow-up in months (overrides run.horizon_months)"
        )


def add_set_arg(p: argparse.ArgumentParser, help: str) -> None:
    """``--set dotted.path=value`` (repeatable): parameter overrides, collected in ``args.overrides``."""
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="dotted.path=value", help=help)


def given(what: str) -> Callable[[str], str]:
    """An argparse type for a name the user must spell out (a folder, a file):
    an empty value (e.g. an unset shell variable) is refused, never taken as
    'not given' and replaced by the default."""

    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{text!r} is empty; give {what}, or leave the option out")
        return text

    parse.__name__ = what
    return parse


def run_value(name: str) -> Callable[[str], Any]:
    """An argparse type for a flag that sets ``run.NAME``: a whole number or a
    finite number (as the field is) within the field's range, so a bad value
    is refused naming the flag (exit 2); 0 is a value like any other."""
    info = Scenario.model_fields["run"].annotation.model_fields[name]  # type: ignore[union-attr]
    lo = next((m.ge for m in info.metadata if getattr(m, "ge", None) is not None), None)
    hi = next((m.le for m in info.metadata if getattr(m, "le", None) is not None), None)
    return number_type(f"run.{name}", integer=info.annotation is int, lo=lo, hi=hi)


def number_type(
    what: str, *, integer: bool = False, lo: float | None = None, hi: float | None = None, above: float | None = None
) -> Callable[[str], Any]:
    """An argparse type: a whole number or a finite number, at least ``lo``,
    above ``above``, at most ``hi`` (``what`` names it in the message)."""
    kind = "a whole number" if integer else "a number"
    if lo is not None and hi is not None:
        allowed = f"{kind} from {_n(lo)} to {_n(hi)}"
    else:
        parts = [f"at least {_n(lo)}" if lo is not None else "", f"above {_n(above)}" if above is not None else ""]
        parts.append(f"at most {_n(hi)}" if hi is not None else "")
        allowed = " ".join([kind, " and ".join(x for x in parts if x)]).strip()

    def parse(text: str) -> Any:
        try:
            value: float = int(text) if integer else float(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}; give {allowed} ({what})") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'a number' if math.isnan(value) else 'a finite number'}; give {allowed} ({what})"
            )
        if (lo is not None and value < lo) or (hi is not None and value > hi) or (above is not None and value <= above):
            raise argparse.ArgumentTypeError(f"{text} is out of range; give {allowed} ({what})")
        return value

    parse.__name__ = "whole number" if integer else "number"  # argparse's name of the type in its own messages
    return parse


def _n(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


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


# ----------------------------------------------------------------------------- the backend: --workers and --scheduler

AUTO_MIN_WORK = 50_000  # patient-runs below which --workers' default stays at 1 process


def add_backend_args(p: Any) -> None:
    """--workers and --scheduler (shared by run, psa and owsa)."""
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help=f"local worker processes (default: the machine's cores, {default_workers()} here, when the work is at least "
        f"{AUTO_MIN_WORK:,} patient-runs; 1 below that; at most {WORKERS_PER_CORE} per core and as many as the "
        f"available memory holds at {WORKER_MEMORY / 2**30:.2f} GB each)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        type=_address,
        metavar="ADDRESS",
        help="run on an existing Dask cluster instead, e.g. tcp://127.0.0.1:8786 (docs/scale.md)",
    )


def _address(text: str) -> str:
    """``--scheduler``: an empty address (an unset shell variable) is refused, never taken as 'run locally'."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is empty; give the scheduler's address, e.g. tcp://HOST:8786, or leave the option out"
        )
    return text


def workers_from_args(args: Any, work: int) -> int:
    """The worker count: --workers if given (at most :func:`max_workers`), else the cores for
    large work (as many as the memory holds), 1 for small."""
    w = getattr(args, "workers", None)
    cap, why = max_workers()
    if w is None:
        return min(default_workers(), cap) if work >= AUTO_MIN_WORK else 1
    if w < 1:
        raise UsageError(f"--workers {w}: give 1 or more worker processes")
    if w > cap:
        raise UsageError(f"--workers {w}: at most {cap} local worker processes here ({why}); give --workers {cap} or fewer")
    return int(w)


def check_scheduler(args: Any) -> None:
    """An unreachable --scheduler: exit 2 within seconds, before anything is written."""
    if getattr(args, "scheduler", None):
        try:
            connect(args.scheduler).close()
        except BackendError as exc:
            raise UsageError(str(exc)) from None
