"""Statistics of a patients table: survival, cumulative incidence, summaries and the calibration targets."""
