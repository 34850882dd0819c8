"""Why paired comparison needs fewer replications: the same two scenarios
compared with common random numbers (same seed and replication indices) and
with independent luck (the second scenario's replications offset), measured
on this machine.  Writes benchmarks/paired_comparison.json.

    python benchmarks/paired_comparison.py [--replications 10] [--patients 2000]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim import load_scenario, simulate, with_overrides  # noqa: E402
from sim.experiments.compare import run_metrics  # noqa: E402

METRICS = {
    "sre.mean_per_patient": "SREs per patient",
    "care.radiotherapy_courses.per_patient": "radiotherapy courses per patient",
    "survival.at_12_months.overall.estimate": "alive at 12 months",
    "care.bed_days.per_patient": "bed-days per patient",
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replications", type=int, default=10)
    ap.add_argument("--patients", type=int, default=2000)
    args = ap.parse_args()
    r = args.replications
    a = load_scenario(ROOT / "scenarios/baseline.yaml", [f"run.patients={args.patients}"])
    b = load_scenario(ROOT / "scenarios/no_bone_agent.yaml", [f"run.patients={args.patients}"])
    va = [run_metrics(simulate(with_overrides(a, {"run.replication": i}), keep_events=False)) for i in range(r)]
    vb = [run_metrics(simulate(with_overrides(b, {"run.replication": i}), keep_events=False)) for i in range(r)]
    vi = [run_metrics(simulate(with_overrides(b, {"run.replication": r + i}), keep_events=False)) for i in range(r)]
    out = {"scenarios": ["baseline", "no_bone_agent"], "replications": r, "patients": args.patients, "metrics": {}}
    for key, label in METRICS.items():
        pa_ = np.array([x[key] for x in va])
        pb = np.array([x[key] for x in vb])
        pi = np.array([x[key] for x in vi])
        sd_paired = float(np.std(pb - pa_, ddof=1))
        sd_indep = float(np.std(pi - pa_, ddof=1))
        ratio = (sd_indep / sd_paired) ** 2 if sd_paired > 0 else math.inf
        out["metrics"][label] = {
            "mean_difference_paired": float(np.mean(pb - pa_)),
            "mean_difference_independent": float(np.mean(pi - pa_)),
            "sd_difference_paired": sd_paired,
            "sd_difference_independent": sd_indep,
            "replications_ratio": ratio,
        }
        print(f"{label:34} paired SD {sd_paired:.4g}  independent SD {sd_indep:.4g}  -> {ratio:.1f}x fewer replications for the same CI")
    (ROOT / "benchmarks/paired_comparison.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
