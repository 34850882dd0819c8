"""Time a baseline run as the dashboard makes it (no cache): simulation,
headline outcomes and the sample for the swimmer plot; then the curves of the
Outcomes page.  Prints the wall time of each of ``--repeat`` runs.

    python dashboard/tools/time_run.py --patients 10000 --repeat 3
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
logging.getLogger("streamlit").setLevel(logging.ERROR)

from dashboard import core  # noqa: E402
from sim import load_scenario  # noqa: E402
from sim.analysis.survival import analyse  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "baseline.yaml"))
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    s = load_scenario(args.scenario)
    key = core.resolved_json(s)
    runs, curves = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        out = core.compute(key, s.run.seed, args.patients, 1, None)
        t1 = time.perf_counter()
        analyse(out.patients, out.horizon_months)
        t2 = time.perf_counter()
        runs.append(t1 - t0)
        curves.append(t2 - t1)
        print(
            f"run (simulate + outcomes + sample): {t1 - t0:.2f} s  (simulate alone {out.simulate_seconds:.2f} s); "
            f"Outcomes page curves: {t2 - t1:.2f} s"
        )
    print(f"median of {args.repeat}: run {statistics.median(runs):.2f} s, curves {statistics.median(curves):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
