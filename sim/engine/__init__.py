"""Running a scenario: SimPy environments, patient processes, random streams and the tables they produce."""
