"""Experiments built on runs: replications, paired comparisons, calibration, one patient's journey, PSA and OWSA, the benchmark."""
