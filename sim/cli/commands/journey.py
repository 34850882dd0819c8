"""``journey SCENARIO --patient ID``: one patient's course as a dated timeline
(``--compare OTHER`` tells the same patient under another scenario beside it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.cli.commands.common import add_scenario_args, given, run_value
from sim.errors import UsageError
from sim.experiments.journey import render, render_compare, simulate_patient
from sim.scenario.loader import load_scenario


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("journey", help="tell one patient's course as a dated timeline (optionally beside another scenario)")
    add_scenario_args(p, run_flags=False)
    p.add_argument("--patient", type=int, required=True, metavar="ID", help="patient id (0 .. patients-1 of a run)")
    p.add_argument("--seed", type=run_value("seed"), help="root seed (overrides run.seed)")
    p.add_argument("--replication", type=run_value("replication"), help="replication index (overrides run.replication)")
    p.add_argument(
        "--horizon-months", type=run_value("horizon_months"), help="follow-up in months (overrides run.horizon_months)"
    )
    p.add_argument(
        "--compare",
        type=given("a scenario file"),
        metavar="OTHER.yaml",
        help="tell the same patient (same luck) under this scenario beside the first",
    )
    p.add_argument("--full", action="store_true", help="list every transfusion instead of collapsing regular ones")
    p.add_argument("--width", type=int, default=120, help="line width of the side-by-side view (default 120)")
    p.set_defaults(func=main)


def _overrides(args: argparse.Namespace) -> list[str]:
    out = list(args.overrides)
    for flag, path in (("seed", "run.seed"), ("replication", "run.replication"), ("horizon_months", "run.horizon_months")):
        v = getattr(args, flag, None)
        if v is not None:
            out.append(f"{path}={v}")
    return out


def main(args: argparse.Namespace) -> int:
    if args.patient < 0:
        raise UsageError(f"--patient {args.patient}: give a patient id of 0 or more")
    if args.width < 60:
        raise UsageError(f"--width {args.width}: give at least 60 characters")
    first = load_scenario(Path(args.scenario), _overrides(args))
    second = load_scenario(Path(args.compare), _overrides(args)) if args.compare else None
    for s in (first, second):
        if s is not None and s.mode == "cohort" and args.patient >= s.run.patients:
            raise UsageError(
                f"--patient {args.patient}: scenario {s.name!r} has patients 0 to {s.run.patients - 1:,} "
                "(run.patients); give an id in that range, or more patients with --set run.patients=N"
            )
    try:
        a = simulate_patient(first, args.patient)
        b = simulate_patient(second, args.patient) if second is not None else None
    except ValueError as exc:
        raise UsageError(f"--patient {args.patient}: {exc}") from None
    if b is None:
        print(render(a, collapse=not args.full))
        return 0
    print(render_compare(a, b, width=args.width, collapse=not args.full))
    return 0
