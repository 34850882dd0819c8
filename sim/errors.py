"""Errors shared across the layers: what the course can raise (kept apart from the
compiled kernel modules) and bad input refused by the library (the command
line ends on it with exit status 2, the dashboard shows it).

Standard library only, so every layer can import it."""

from __future__ import annotations


class RunawayCourse(RuntimeError):
    """A course that would not end (a recurrent event rate far too high)."""


class UsageError(Exception):
    """Bad input detected by a command or a library call made for one (exit 2).

    :mod:`sim.cli.main` re-exports it; the library raises it from here so it
    never imports the command line."""
