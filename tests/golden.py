"""Fingerprints of whole runs, to show that a change of implementation (a
faster scheduler, the compiled kernel) leaves every result byte-identical.

``python -m tests.golden`` prints the fingerprints of the current code;
``tests/data/golden_digests.json`` holds those of the code before the speed
work (version 0.1.0), re-blessed once when the event log and the service
request log took the canonical row order (patient id, time, order within the
patient; every value unchanged but the service figures' last digits, whose
sums follow the request log's order); ``tests/model/test_kernel.py`` compares the two.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from typing import Any

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    # name: (scenario file, overrides)
    "baseline_cohort": ("scenarios/baseline.yaml", {"run.patients": 3000, "run.seed": 11}),
    "high_carcinosis": ("scenarios/high_carcinosis.yaml", {"run.patients": 1500, "run.seed": 5}),
    "finite_capacity_cohort": ("scenarios/rt_capacity_cut.yaml", {"run.patients": 800}),
    "population": ("scenarios/regional_baseline.yaml", {"population.horizon_years": 3, "population.warmup_years": 1}),
}


def fingerprint(scenario_file: str, overrides: dict[str, Any]) -> str:
    """SHA-256 over the patients, events, labs and services tables of one run."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from sim import load_scenario, simulate

    result = simulate(load_scenario(scenario_file, overrides))
    h = hashlib.sha256()
    h.update(result.patients.to_csv(index=False).encode())
    h.update(result.services.to_csv(index=False).encode())
    for table in (result.events, result.labs):
        if table is None:
            continue
        plain = pa.table(
            {
                n: table.column(n).cast(pa.string()) if pa.types.is_dictionary(table.column(n).type) else table.column(n)
                for n in table.column_names
            }
        )
        buf = io.BytesIO()
        pacsv.write_csv(plain, buf)
        h.update(buf.getvalue())
    return h.hexdigest()


def fingerprints() -> dict[str, str]:
    return {name: fingerprint(f, o) for name, (f, o) in CASES.items()}


if __name__ == "__main__":
    json.dump(fingerprints(), sys.stdout, indent=1)
    print()
