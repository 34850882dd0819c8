"""``run SCENARIO``: simulate a cohort and write a results folder.

``--replications R`` (or ``auto``) runs independent replications and adds
``replications.parquet``; ``--report`` writes report.html and report.xlsx
into the folder afterwards.

``--workers N`` runs replications, and large cohorts in chunks of patients
(cohort mode with every service unlimited), in N local processes;
``--scheduler ADDRESS`` on a Dask cluster.  Every case is one call of the
one runner, :func:`sim.experiments.runner.run` (docs/scale.md); the result files
are the same whatever the backend and worker count."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.cli.commands.common import (
    add_backend_args,
    add_scenario_args,
    check_scheduler,
    given,
    load_from_args,
    progress_bar,
    say,
    workers_from_args,
)
from sim.cli.main import UsageError
from sim.experiments import runner
from sim.experiments.replications import DEFAULT_CAP, DEFAULT_PRECISION, INITIAL, check_count
from sim.outputs.paths import default_folder
from sim.outputs.results import FORMATS
from sim.runtime.workers import BackendError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="simulate a scenario and write patients, events and summary")
    add_scenario_args(p)
    p.add_argument("--out", type=given("a folder path"), help="results folder (new or empty; default results/<scenario name>)")
    p.add_argument("--format", choices=FORMATS, default="parquet", help="table format (default parquet)")
    p.add_argument("--force", action="store_true", help="replace an existing non-empty results folder")
    p.add_argument("--quiet", action="store_true", help="no progress or summary on the terminal")
    p.add_argument(
        "--replications",
        default="1",
        metavar="R|auto",
        help="independent replications (default 1); 'auto' chooses R by the Hoad-Robinson-Davies replications algorithm",
    )
    p.add_argument(
        "--precision",
        type=float,
        default=DEFAULT_PRECISION,
        help=f"auto: target CI half-width relative to the mean (default {DEFAULT_PRECISION})",
    )
    p.add_argument(
        "--max-replications",
        type=int,
        default=DEFAULT_CAP,
        help=f"auto: cap on the number of replications (default {DEFAULT_CAP})",
    )
    p.add_argument("--report", action="store_true", help="also write report.html and report.xlsx into the results folder")
    add_backend_args(p)
    p.set_defaults(func=main)


def parse_replications(text: str) -> int | str:
    t = str(text).strip().lower()
    if t == "auto":
        return "auto"
    try:
        r = int(t)
    except ValueError:
        raise UsageError(f"--replications {text!r}: give a whole number of replications (1 or more) or 'auto'") from None
    if r < 1:
        raise UsageError(f"--replications {r}: give 1 or more, or 'auto'")
    try:
        check_count(r)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return r


def main(args: argparse.Namespace) -> int:
    reps = parse_replications(args.replications)
    if reps == "auto":
        if not 0 < args.precision < 1:
            raise UsageError(f"--precision {args.precision}: give a fraction between 0 and 1, e.g. 0.05 for 5%")
        if args.max_replications < INITIAL:
            raise UsageError(f"--max-replications {args.max_replications}: give at least {INITIAL}")
        try:
            check_count(args.max_replications, "--max-replications")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    scenario = load_from_args(args)
    out = Path(args.out) if args.out else default_folder(scenario.name)
    n_runs = reps if isinstance(reps, int) else args.max_replications
    workers = workers_from_args(args, scenario.run.patients * n_runs)
    check_scheduler(args)
    if reps == 1:
        label = "patients"
    else:
        label = "replications" if reps != "auto" else f"replications (auto, cap {args.max_replications})"
    try:
        ran, doc = runner.run(
            scenario,
            out,
            replications=reps,
            backend=runner.Backend(workers, args.scheduler),
            fmt=args.format,
            force=args.force,
            precision=args.precision,
            cap=args.max_replications,
            progress=progress_bar(args, label),
        )
    except BackendError as exc:
        raise UsageError(str(exc)) from None
    seconds = ran.wall_seconds
    say(args, human_summary(doc, seconds, out))
    if args.report:
        from sim.cli.commands.report import make_report

        files = make_report(out, args)
        say(args, "report: " + ", ".join(str(p) for p in files.values()))
    return 0


def _ci(x: Any, pct: bool = True, unit: str = "") -> str:
    """An estimate with its 95% CI, or why there is none (e.g. beyond follow-up)."""
    x = x if isinstance(x, dict) else {}
    est, (lo, hi) = x.get("estimate"), (x.get("ci95") or [None, None])[:2]
    if est is None:
        return str(x.get("reason") or "not estimable")
    f = (lambda v: f"{100 * v:.1f}%") if pct else (lambda v: f"{v:.1f}")
    rng = f" ({f(lo)}-{f(hi)})" if lo is not None and hi is not None else ""
    return f"{f(est)}{rng}{unit}"


def _get(doc: Any, *path: str) -> Any:
    for key in path:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def human_summary(doc: dict[str, Any], seconds: float, out: Path) -> str:
    o = doc.get("outcomes") or {}
    reps = doc.get("replications") if isinstance(doc.get("replications"), dict) else None
    causes = _get(o, "deaths", "by_cause") or {}
    deaths = ", ".join(f"{c} {_n(v['count'])}" for c, v in causes.items() if isinstance(v, dict) and v.get("count"))
    population = doc.get("mode") == "population"
    size = "population mode" if population else f"{doc['patients']} patients"
    lines = [
        f"Scenario {doc['scenario']!r}: {size}, seed {doc['seed']}, horizon {doc['horizon_months']:g} months",
        "Parameters are illustrative, not clinically validated.",
    ]
    if population:
        lines.append(
            f"  reported patients    {_n(doc.get('reported_patients'))} (entered in months "
            f"{_months(doc.get('reported_from_months'))} to {_months(doc.get('reported_to_months'))})"
        )
    lines += [
        f"  carcinosis           {_ci(_get(o, 'carcinosis', 'proportion'))}",
        f"  hypercalcemia        {_ci(_get(o, 'hypercalcemia', 'proportion'))}",
        f"  any SRE              {_ci(_get(o, 'sre', 'proportion_with_any'))}",
        f"  median survival      {_ci(_get(o, 'survival', 'median_months'), pct=False, unit=' months')}",
        f"  alive at 12 months   {_ci(_get(o, 'survival', 'at_12_months', 'overall'))}",
        f"  deaths by cause      {deaths or 'none'}",
        f"  censored at horizon  {_n(_get(o, 'deaths', 'censored'))}",
    ]
    if reps:
        lines[1:1] = [_replications_line(reps)]
        rate = "" if population else f" ({reps['count'] * doc['patients'] / max(seconds, 1e-9):,.0f} patients/s)"
        lines.append(f"{reps['count']} replications in {seconds:.1f} s{rate}; results in {out}")
    elif population:
        lines.append(f"{doc['events']} events in {seconds:.1f} s; results in {out}")
    else:
        lines.append(
            f"{doc['events']} events in {seconds:.1f} s ({doc['patients'] / max(seconds, 1e-9):,.0f} patients/s); results in {out}"
        )
    return "\n".join(lines)


def _months(x: Any) -> str:
    return f"{x:g}" if isinstance(x, (int, float)) else "?"


def _n(x: Any) -> str:
    """A count; a mean count across replications keeps one decimal."""
    return str(x) if isinstance(x, int) or x is None else (f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}")


def _replications_line(reps: dict[str, Any]) -> str:
    text = f"{reps['count']} replications; outcomes are means with t-based 95% CIs across replications"
    if reps.get("algorithm"):
        if reps.get("n_solution"):
            text += f" (auto: precision {reps['precision']:g} reached at {reps['n_solution']}, confirmed by look-ahead)"
        else:
            text += f" (auto: precision {reps['precision']:g} NOT reached within the cap of {reps['cap']})"
    return text
