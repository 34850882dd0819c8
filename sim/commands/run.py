"""``run SCENARIO``: simulate a cohort and write a results folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..results import FORMATS, run_to_folder
from .common import add_scenario_args, load_from_args, progress_bar, say


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="simulate a scenario and write patients, events and summary")
    add_scenario_args(p)
    p.add_argument("--out", help="results folder (new or empty; default results/<scenario name>)")
    p.add_argument("--format", choices=FORMATS, default="parquet", help="table format (default parquet)")
    p.add_argument("--force", action="store_true", help="replace an existing non-empty results folder")
    p.add_argument("--quiet", action="store_true", help="no progress or summary on the terminal")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    scenario = load_from_args(args)
    out = Path(args.out) if args.out else Path("results") / scenario.name
    if not args.out:
        out.parent.mkdir(parents=True, exist_ok=True)
    result, doc = run_to_folder(scenario, out, fmt=args.format, force=args.force, progress=progress_bar(args, "patients"))
    say(args, human_summary(doc, result.wall_seconds, out))
    return 0


def _ci(x: dict[str, Any], pct: bool = True) -> str:
    est, (lo, hi) = x.get("estimate"), x.get("ci95", [None, None])
    if est is None:
        return "n/a"
    f = (lambda v: f"{100 * v:.1f}%") if pct else (lambda v: f"{v:.1f}")
    rng = f" ({f(lo)}-{f(hi)})" if lo is not None and hi is not None else ""
    return f"{f(est)}{rng}"


def human_summary(doc: dict[str, Any], seconds: float, out: Path) -> str:
    o = doc["outcomes"]
    lines = [
        f"Scenario {doc['scenario']!r}: {doc['patients']} patients, seed {doc['seed']}, horizon {doc['horizon_months']:g} months",
        "Parameters are illustrative, not clinically validated.",
        f"  carcinosis           {_ci(o['carcinosis']['proportion'])}",
        f"  hypercalcemia        {_ci(o['hypercalcemia']['proportion'])}",
        f"  any SRE              {_ci(o['sre']['proportion_with_any'])}",
        f"  median survival      {_ci(o['survival']['median_months'], pct=False)} months",
        f"  alive at 12 months   {_ci(o['survival']['at_12_months']['overall'])}",
        "  deaths by cause      " + ", ".join(f"{c} {v['count']}" for c, v in o["deaths"]["by_cause"].items() if v["count"]),
        f"  censored at horizon  {o['deaths']['censored']}",
        f"{doc['events']} events in {seconds:.1f} s ({doc['patients'] / max(seconds, 1e-9):,.0f} patients/s); results in {out}",
    ]
    return "\n".join(lines)
