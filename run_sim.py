#!/usr/bin/env python3
"""Batch command line of the bone marrow carcinosis course simulator.

    python run_sim.py run scenarios/baseline.yaml --patients 10000 --out results/baseline
    python run_sim.py validate scenarios/baseline.yaml

Parameters are illustrative, not clinically validated.
"""

import sys

try:
    from sim.cli.main import main
except KeyboardInterrupt:  # Ctrl-C while the program loads: nothing was started
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main())
