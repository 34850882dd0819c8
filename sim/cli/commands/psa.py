"""``psa SCENARIO [COMPARATOR] --draws D --patients N``: probabilistic sensitivity analysis.

Draws D parameter sets from the scenario's ``uncertainty:`` section (their
own random stream: they do not change with N), runs a cohort of N patients
per draw, and writes ``psa.parquet`` (one row per draw and scenario),
``summary.json`` (means and 95% uncertainty intervals; with a comparator and
utility weights, incremental cost and QALYs, the CE plane and the
acceptability curve) and figures.  Each finished draw is checkpointed as it
completes; ``--resume`` continues an interrupted run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sim.cli.commands.common import (
    add_backend_args,
    add_set_arg,
    check_scheduler,
    given,
    number_type,
    progress_bar,
    run_value,
    say,
    workers_from_args,
)
from sim.errors import UsageError
from sim.experiments.psa import DEFAULT_WTP_MAX, MAX_DRAWS, check_draws, run_psa
from sim.experiments.psa_draws import LUCK, OUTCOMES, PsaError
from sim.outputs.paths import default_folder
from sim.runtime.workers import BackendError
from sim.scenario.loader import load_scenario


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "psa",
        help="probabilistic sensitivity analysis: D parameter draws from the scenario's uncertainty: section",
        description=__doc__,
    )
    p.add_argument(
        "scenarios",
        nargs="+",
        type=given("a scenario file"),
        metavar="SCENARIO",
        help="scenario YAML with an uncertainty: section; a second one is compared with the first (paired draws)",
    )
    add_set_arg(p, "override one parameter in every scenario (repeatable)")
    p.add_argument("--draws", type=int, default=100, help=f"parameter draws (default 100, at most {MAX_DRAWS:,})")
    p.add_argument("--patients", type=run_value("patients"), default=1000, help="patients per draw (default 1000)")
    p.add_argument(
        "--seed",
        type=run_value("seed"),
        default=None,
        help="root seed of the draws and the patients (default: the scenario's run.seed)",
    )
    p.add_argument(
        "--luck",
        choices=LUCK,
        default="common",
        help="common: every draw meets the same patients (default); per-draw: draw d uses replication d",
    )
    p.add_argument(
        "--wtp-max",
        type=number_type("an amount per QALY", above=0),
        default=DEFAULT_WTP_MAX,
        help=f"highest willingness to pay per QALY on the acceptability curve (default {DEFAULT_WTP_MAX:,.0f})",
    )
    p.add_argument("--out", type=given("a folder path"), help="results folder (default results/<scenario name>-psa)")
    p.add_argument(
        "--resume", action="store_true", help="continue an interrupted psa in --out (same scenario(s), seed, patients and luck)"
    )
    p.add_argument("--force", action="store_true", help="replace an existing non-empty folder")
    p.add_argument("--quiet", action="store_true", help="no progress or summary on the terminal")
    add_backend_args(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if len(args.scenarios) > 2:
        raise UsageError(f"psa takes one scenario, or two to compare; got {len(args.scenarios)}")
    try:
        check_draws(args.draws)
    except PsaError as exc:
        raise UsageError(str(exc)) from None
    if args.patients < 1:
        raise UsageError(f"--patients {args.patients}: give 1 or more patients per draw")
    if args.resume and args.force:
        raise UsageError("give either --resume (continue) or --force (start again), not both")
    if not args.wtp_max > 0:
        raise UsageError(f"--wtp-max {args.wtp_max}: give a positive amount per QALY")
    scenarios = [load_scenario(Path(f), list(args.overrides)) for f in args.scenarios]
    if not scenarios[0].uncertainty:
        raise UsageError(
            f"{args.scenarios[0]}: no uncertainty: section, so there is nothing to draw; add distributions "
            "(docs/scale.md, scenarios/baseline_psa.yaml)"
        )
    workers = workers_from_args(args, args.draws * args.patients * len(scenarios))
    check_scheduler(args)
    out = Path(args.out) if args.out else default_folder(f"{scenarios[0].name}-psa")
    try:
        r = run_psa(
            scenarios[0],
            draws=args.draws,
            patients=args.patients,
            workers=workers,
            scheduler=args.scheduler,
            seed=args.seed,
            comparator=scenarios[1] if len(scenarios) > 1 else None,
            out=out,
            resume=args.resume,
            force=args.force,
            luck=args.luck,
            wtp_max=args.wtp_max,
            progress=progress_bar(args, "draws"),
        )
    except (PsaError, BackendError) as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        done = len(list((out / ".checkpoint").glob("draw-*.parquet")))
        sys.stderr.write(
            f"interrupted: {done} finished draws are checkpointed in {out}; continue with the same command and --resume\n"
        )
        return 130
    say(args, human_summary(r.summary, out))
    return 0


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    a = abs(v)
    return f"{v:,.0f}" if a >= 1000 else (f"{v:.2f}" if a >= 10 else f"{v:.3f}")


def human_summary(doc: dict[str, Any], out: Path) -> str:
    lines = [
        f"PSA of {' vs '.join(repr(n) for n in doc['scenarios'])}: {doc['draws']} draws x {doc['patients_per_draw']} patients, "
        f"seed {doc['seed']} ({doc['backend']}, {doc['wall_seconds']:.1f} s"
        + (f", {doc['resumed_draws']} draws from the checkpoint" if doc.get("resumed_draws") else "")
        + ")",
        "Parameters are illustrative, not clinically validated. Mean (95% uncertainty interval) across draws:",
    ]
    for name, outs in doc["outcomes"].items():
        if len(doc["scenarios"]) > 1:
            lines.append(f"  {name}")
        for k in ("carcinosis_proportion", "median_survival_months", "life_years", "cost_per_patient", "qalys_per_patient"):
            if k in outs and outs[k]["mean"] is not None:
                lo, hi = outs[k]["ui95"]
                lines.append(f"    {OUTCOMES[k]:<44} {_fmt(outs[k]['mean'])} ({_fmt(lo)} to {_fmt(hi)})")
    ce = doc.get("cost_effectiveness")
    if ce:
        lines.append(
            f"  incremental cost {_fmt(ce['incremental_cost_mean'])}, incremental QALYs {_fmt(ce['incremental_qalys_mean'])}, "
            f"ICER {_fmt(ce['icer'])} per QALY"
        )
    lines.append(f"results in {out}")
    return "\n".join(lines)
