"""``compare A.yaml B.yaml [...]``: paired comparison under common random numbers."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
from pathlib import Path

from sim.analysis.summary import json_safe
from sim.cli.commands.common import add_set_arg, given, progress_bar, run_value, say
from sim.experiments.compare import KEY_OUTCOMES, compare
from sim.experiments.replications import check_count
from sim.outputs.folder import staged_output
from sim.scenario.fields import ILLUSTRATIVE
from sim.scenario.loader import load_scenario


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("compare", help="run scenarios on the same seed and report paired differences")
    p.add_argument(
        "scenarios",
        nargs="+",
        type=given("a scenario file"),
        help="two or more scenario files; differences are against the first",
    )
    p.add_argument("--replications", type=int, default=3, help="replications per scenario (default 3)")
    p.add_argument("--seed", type=run_value("seed"), help="root seed for every scenario (default: the first scenario's run.seed)")
    p.add_argument("--patients", type=run_value("patients"), help="cohort size for cohort-mode scenarios")
    add_set_arg(p, "override a parameter in every scenario (repeatable)")
    p.add_argument("--out", type=given("a folder path"), help="folder for comparison.parquet and comparison.json (new or empty)")
    p.add_argument("--force", action="store_true", help="replace an existing non-empty --out folder")
    p.add_argument("--quiet", action="store_true", help="no progress or table on the terminal")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from sim.errors import UsageError

    if len(args.scenarios) < 2:
        raise UsageError("compare needs at least two scenario files")
    if args.replications < 1:
        raise UsageError("--replications must be 1 or more")
    try:
        check_count(args.replications)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    overrides = list(args.overrides) + ([f"run.patients={args.patients}"] if args.patients is not None else [])
    scenarios = [load_scenario(Path(f), overrides) for f in args.scenarios]
    seed = args.seed if args.seed is not None else scenarios[0].run.seed
    # the --out folder is claimed before the comparison runs (a second run to it is refused at once)
    # and written when it is done
    with staged_output(Path(args.out), args.force, "compare") if args.out else contextlib.nullcontext() as tmp:
        result = compare(scenarios, args.replications, seed, progress=progress_bar(args, "replications"))
        doc = json_safe(
            {
                "notice": ILLUSTRATIVE,
                "scenarios": result.names,
                "files": args.scenarios,
                "seed": seed,
                "replications": args.replications,
                "random_numbers": "common random numbers: the same seed and replication indices in every scenario",
                "differences": result.differences.to_dict(orient="records"),
            }
        )
        if tmp is not None:
            result.differences.to_parquet(tmp / "comparison.parquet", index=False)
            result.values.to_parquet(tmp / "comparison_replications.parquet", index=False)
            (tmp / "comparison.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    say(args, render(result, seed, args.replications))
    return 0


def _fmt(x: float | None, ref: float = 1.0) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if abs(x) < 1e-9 * max(1.0, abs(ref)):  # rounding noise of sums taken in another order
        x = 0.0
    return f"{x:.4g}"


def render(result, seed: int, replications: int) -> str:  # type: ignore[no-untyped-def]
    """One row per outcome: the reference value, then each scenario's paired difference."""
    table = result.key_table()
    others = result.names[1:]
    width = 34 if replications > 1 else 14
    lines = [
        f"Paired comparison against {result.names[0]!r}: seed {seed}, {replications} replication(s), common random numbers.",
        ILLUSTRATIVE,
        "Each column: mean difference from the reference" + (" (95% CI)." if replications > 1 else "."),
        f"{'outcome':40} {result.names[0][:12]:>12} " + " ".join(f"{o[:width]:>{width}}" for o in others),
    ]
    for metric, d in table.groupby("metric", sort=False):
        label = KEY_OUTCOMES.get(metric, metric.removeprefix("services.").replace("_", " "))
        ref = float(d["reference_mean"].iloc[0])
        cells = []
        for o in others:
            r = d[d["scenario"] == o].iloc[0]
            cell = _fmt(r.difference, ref)
            if replications > 1:
                cell += f" ({_fmt(r.ci95_low, ref)} to {_fmt(r.ci95_high, ref)})"
            cells.append(f"{cell:>{width}}")
        lines.append(f"{label[:40]:40} {_fmt(ref):>12} " + " ".join(cells))
    return "\n".join(lines)
