"""The command line: ``python run_sim.py COMMAND`` (or ``bmc-sim``)."""
