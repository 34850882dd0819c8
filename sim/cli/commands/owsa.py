"""``owsa SCENARIO [--outcome NAME] [--patients N]``: one-way sensitivity analysis.

Sets each parameter of the scenario's ``uncertainty:`` section in turn to its
2.5th and 97.5th percentile (everything else at its point value, the same
patients in every run) and writes ``owsa.parquet`` (every outcome of every
run), ``tornado.png`` (the chosen outcome) and ``summary.json``."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.cli.commands.common import add_backend_args, add_set_arg, check_scheduler, given, run_value, say, workers_from_args
from sim.errors import UsageError
from sim.experiments.owsa import choose_outcome, owsa_settings, owsa_to_folder
from sim.experiments.psa_draws import OUTCOMES, PsaError
from sim.outputs.paths import default_folder
from sim.runtime.workers import BackendError
from sim.scenario.loader import load_scenario


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "owsa",
        help="one-way sensitivity analysis: each uncertain parameter at its low and high value; tornado diagram",
        description=__doc__,
    )
    p.add_argument("scenario", help="scenario YAML with an uncertainty: section")
    add_set_arg(p, "override one parameter (repeatable)")
    p.add_argument(
        "--outcome",
        default=None,
        help=f"outcome of the tornado diagram (default qalys_per_patient with utilities, else life_years); one of: {', '.join(OUTCOMES)}",
    )
    p.add_argument("--patients", type=run_value("patients"), default=2000, help="patients per run (default 2000)")
    p.add_argument("--seed", type=run_value("seed"), default=None, help="root seed (default: the scenario's run.seed)")
    p.add_argument("--out", type=given("a folder path"), help="results folder (default results/<scenario name>-owsa)")
    p.add_argument("--force", action="store_true", help="replace an existing non-empty folder")
    p.add_argument("--quiet", action="store_true", help="no summary on the terminal")
    add_backend_args(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.patients < 1:
        raise UsageError(f"--patients {args.patients}: give 1 or more patients per run")
    s = load_scenario(Path(args.scenario), list(args.overrides))
    if not s.uncertainty:
        raise UsageError(
            f"{args.scenario}: no uncertainty: section, so there is nothing to vary; add distributions (docs/scale.md)"
        )
    try:
        outcome = choose_outcome(args.outcome, s)
        runs = 1 + len(owsa_settings(s))
        workers = workers_from_args(args, runs * args.patients)
        check_scheduler(args)
        out = Path(args.out) if args.out else default_folder(f"{s.name}-owsa")
        _, tor, doc = owsa_to_folder(
            s,
            out,
            outcome=outcome,
            patients=args.patients,
            workers=workers,
            scheduler=args.scheduler,
            seed=args.seed,
            force=args.force,
        )
    except (PsaError, BackendError) as exc:
        raise UsageError(str(exc)) from None
    lines = [
        f"One-way sensitivity of {s.name!r}: {runs} runs x {args.patients} patients ({doc['backend']}, {doc['wall_seconds']:.1f} s)",
        "Parameters are illustrative, not clinically validated.",
        f"  {OUTCOMES[outcome]}: base case {doc['base']:.4g}; by swing (low -> high value of the parameter):",
    ]
    for r in tor.head(10).itertuples():
        lines.append(f"  {r.parameter:<44} {r.outcome_at_low:.4g} .. {r.outcome_at_high:.4g}  (swing {r.swing:.3g})")
    lines.append(f"results in {out} (tornado.png)")
    say(args, "\n".join(lines))
    return 0
