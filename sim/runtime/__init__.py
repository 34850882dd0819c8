"""Where the work runs: local processes or a Dask cluster."""
