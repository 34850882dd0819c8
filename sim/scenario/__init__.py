"""Scenarios: parameter declarations, uncertainty, the model of a scenario, loading and authoring."""
