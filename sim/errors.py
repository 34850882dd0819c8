"""Errors the course can raise (kept apart from the compiled kernel modules)."""

from __future__ import annotations


class RunawayCourse(RuntimeError):
    """A course that would not end (a recurrent event rate far too high)."""
